"""Suite 2: throughput over HTTP: `resource-service serve` (uvicorn, one worker) pinned to CPU 0, wrk on CPU 1.

The four servers (each framework, observability off and fully on) run side by side, each over its own SQLite
file; repetitions interleave them (the order rotates each time). "Off" is OTEL_SDK_DISABLED=true; "on" exports
traces, metrics and OTLP logs to the sink, at 100 % sampling, with a JSON log line per request on stdout.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, Protocol, TypeVar

import httpx

from .configurations import FRAMEWORKS, Framework
from .measure import FULL_REPETITIONS, Row, Spread, target
from .sink import OtlpSink

Observability = Literal["off", "on"]
Operation = Literal["get", "list", "search", "create"]
OPERATIONS: Final[tuple[Operation, ...]] = ("get", "create")
SMOKE_OPERATIONS: Final[tuple[Operation, ...]] = ("get",)
SERVER_CPU: Final = "0"
LOAD_CPU: Final = "1"
CONNECTIONS: Final = 16
FULL_SECONDS: Final = 3
SMOKE_SECONDS: Final = 1
ON_OFF_LIMIT: Final = 0.85
LITESTAR_LIMIT: Final = 0.95
CONSOLE_SCRIPT: Final = Path(sys.executable).with_name("resource-service")
# Unique names for POST /resources: a prefix per run of wrk (its argument), then a counter.
CREATE_SCRIPT: Final = """
local prefix = "bench"
local counter = 0
function init(args) prefix = args[1] end
function request()
  counter = counter + 1
  local body = '{"name":"' .. prefix .. '-' .. counter .. '","description":"load"}'
  return wrk.format("POST", "/resources", {["Content-Type"] = "application/json"}, body)
end
"""
# What the `list` and `search` loads read (the floor suite seeds resources for them): a page of 50 of the listing,
# a page of 10 of a search. `get` reads each server's seed path; `create` posts unique names.
SEARCH_TEXT: Final = "alpha"
READ_PATHS: Final[dict[Operation, str]] = {
    "list": "/resources?limit=50",
    "search": f"/resources/search?q={SEARCH_TEXT}&limit=10",
}
_UNITS_MS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service_environment(database_url: str, overrides: dict[str, str]) -> dict[str, str]:
    """This environment without the service's own variables, plus the database and `overrides`."""
    ours = (
        "OTEL_",
        "DATABASE_URL",
        "LOG_",
        "RESOURCE_COUNT_",
        "OBSERVABILITY_",
        "DEPLOYMENT_",
        "MAX_BODY",
        "ADMISSION_",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(ours)}
    return {**env, "DATABASE_URL": database_url, **overrides}


def telemetry_environment(observability: Observability, sink_endpoint: str) -> dict[str, str]:
    """The service's telemetry off (the SDK disabled) or on (every signal exported to the sink, every trace sampled)."""
    if observability == "off":
        return {"OTEL_SDK_DISABLED": "true"}
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": sink_endpoint, "OTEL_TRACES_SAMPLER": "always_on"}


def available() -> bool:
    """wrk (Debian package `wrk`) is installed."""
    return shutil.which("wrk") is not None


def pinned_to(cpu: str, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *command] if shutil.which("taskset") else command


def spawn_server(command: list[str], env: dict[str, str], directory: Path, *, pinned: bool) -> subprocess.Popen[bytes]:
    """Start a server in `directory`, its output in stdout.log there; on the server's CPU when `pinned`."""
    with (directory / "stdout.log").open("wb") as out:
        return subprocess.Popen(
            pinned_to(SERVER_CPU, command) if pinned else command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )


@dataclass
class Server:
    """One `resource-service serve` process and the resource its `get` load reads."""

    framework: Framework
    observability: Observability
    directory: Path
    sink_endpoint: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    seed_path: str = ""
    # More of the service's variables, beside its telemetry's.
    settings_environment: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.framework}-{self.observability}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def telemetry_environment(self) -> dict[str, str]:
        return telemetry_environment(self.observability, self.sink_endpoint)

    def start(self, pinned: bool) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        env = service_environment(
            f"sqlite+aiosqlite:///{self.directory / 'resources.db'}",
            {**self.telemetry_environment(), **self.settings_environment},
        )
        command = [str(CONSOLE_SCRIPT), "serve", "--framework", self.framework, "--port", str(self.port)]
        self.process = spawn_server(command, env, self.directory, pinned=pinned)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/health/ready", timeout=1.0).status_code == 200:
                    self._seed()
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"{self.framework}/{self.observability} was not ready in {timeout_s} s")

    def _seed(self) -> None:
        created = httpx.post(f"{self.base_url}/resources", json={"name": "seed", "description": "read by wrk"})
        created.raise_for_status()
        self.seed_path = f"/resources/{created.json()['id']}"

    def stop(self) -> None:
        stop_process(self.process)


@dataclass(frozen=True, slots=True)
class Load:
    """What one run of wrk measured; and the CPU seconds the server used meanwhile, when asked for."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    failed: int
    requests: int
    server_cpu_s: float | None = None


def parse_wrk(output: str) -> Load:
    """Requests per second, p50 and p99 latency, and non-2xx answers plus socket errors, from `wrk --latency`."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    requests = re.search(r"(\d+) requests in", output)
    latencies = {
        percentile: float(value) * _UNITS_MS[unit]
        for percentile, value, unit in re.findall(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    }
    if rate is None or requests is None or set(latencies) != {"50", "99"}:
        raise AssertionError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failed = int(non_2xx.group(1)) if non_2xx else 0
    failed += sum(int(count) for count in socket_errors.groups()) if socket_errors else 0
    return Load(float(rate.group(1)), latencies["50"], latencies["99"], failed, int(requests.group(1)))


T = TypeVar("T", bound="Target")


class Target(Protocol):
    """A server wrk can load: a name for its runs, its address, the resource its `get` load reads, its process."""

    seed_path: str

    @property
    def name(self) -> str: ...

    @property
    def base_url(self) -> str: ...

    def start(self, pinned: bool) -> None: ...

    def wait_ready(self) -> None: ...

    def stop(self) -> None: ...


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if the server has not stopped after 15 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def interleaved_loads(
    servers: Sequence[T],
    operations: Sequence[Operation],
    repetitions: int,
    seconds: int,
    *,
    smoke: bool,
    cpu_seconds: Callable[[T], float] | None = None,
) -> list[dict[Operation, list[Load]]]:
    """Start every server; per operation, warm each up, then load each in turn, the order rotating per repetition.

    Returns each server's loads, in the order of `servers`; with `cpu_seconds` (a server's CPU time so far), each
    load has the CPU time its server used during it.
    """
    loads: list[dict[Operation, list[Load]]] = [{} for _ in servers]
    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "create.lua"
        script.write_text(CREATE_SCRIPT)
        try:
            for server in servers:
                server.start(pinned=not smoke)
            for server in servers:
                server.wait_ready()
            # One operation after another, each warmed up first: a suite that puts `create` last has its reads see
            # the databases as seeded, not grown by the writes (by a different amount on each server).
            for operation in operations:
                for server in servers if not smoke else ():
                    _wrk(server, operation, 1, script, f"warm-{server.name}")
                for repetition in range(repetitions):
                    shift = repetition % len(servers)
                    for index in [*range(shift, len(servers)), *range(shift)]:
                        server = servers[index]
                        before = cpu_seconds(server) if cpu_seconds else 0.0
                        load = _wrk(server, operation, seconds, script, f"r{repetition}-{server.name}")
                        if cpu_seconds:
                            load = replace(load, server_cpu_s=cpu_seconds(server) - before)
                        loads[index].setdefault(operation, []).append(load)
        finally:
            for server in servers:
                server.stop()
    return loads


def _wrk(server: Target, operation: Operation, seconds: int, script: Path, run_id: str) -> Load:
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if operation == "create":
        command += ["-s", str(script), server.base_url + "/resources", "--", run_id]
    else:
        command.append(server.base_url + (server.seed_path if operation == "get" else READ_PATHS[operation]))
    output = subprocess.run(pinned_to(LOAD_CPU, command), capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


Loads = dict[tuple[Framework, Observability, Operation], list[Load]]


def run(*, smoke: bool) -> dict[str, Any]:
    """Each framework with observability off and on, `get` and `create`; rows, ratios and targets."""
    repetitions, seconds = (1, SMOKE_SECONDS) if smoke else (FULL_REPETITIONS, FULL_SECONDS)
    operations = SMOKE_OPERATIONS if smoke else OPERATIONS
    with tempfile.TemporaryDirectory() as directory, OtlpSink() as sink:
        servers = [
            Server(framework, observability, Path(directory) / f"{framework}-{observability}", sink.endpoint)
            for framework in FRAMEWORKS
            for observability in ("off", "on")
        ]
        by_server = interleaved_loads(servers, operations, repetitions, seconds, smoke=smoke)
    loads: Loads = {
        (server.framework, server.observability, operation): runs
        for server, measured in zip(servers, by_server, strict=True)
        for operation, runs in measured.items()
    }
    rows = _rows(loads)
    ratios = _ratios(loads)
    return {
        "seconds_per_run": seconds,
        "connections": CONNECTIONS,
        "store": "sqlite",
        "rows": rows,
        "ratios": ratios,
        "targets": _targets(ratios),
    }


def load_figures(runs: Sequence[Load]) -> Row:
    """The columns every throughput table shares: requests/s, p50 and p99 as spreads, failed requests summed."""
    return {
        "requests_per_s": Spread.of([load.requests_per_s for load in runs]).as_json(),
        "p50_ms": Spread.of([load.p50_ms for load in runs]).as_json(),
        "p99_ms": Spread.of([load.p99_ms for load in runs]).as_json(),
        "failed_requests": sum(load.failed for load in runs),
    }


def _rows(loads: Loads) -> list[Row]:
    return [
        {"framework": framework, "observability": observability, "operation": operation, **load_figures(runs)}
        for (framework, observability, operation), runs in loads.items()
    ]


def paired(numerators: list[Load], denominators: list[Load]) -> dict[str, float | int]:
    """Throughput of the first runs over the second's, run by run (the runs of one repetition pair up)."""
    return Spread.of(
        [top.requests_per_s / bottom.requests_per_s for top, bottom in zip(numerators, denominators, strict=True)]
    ).as_json()


def _ratios(loads: Loads) -> list[Row]:
    """Throughput on/off per framework, and Litestar/FastAPI per observability, paired within repetitions."""
    ratios: list[Row] = []
    for operation in sorted({operation for _, _, operation in loads}):
        for framework in FRAMEWORKS:
            on, off = loads[(framework, "on", operation)], loads[(framework, "off", operation)]
            ratios.append({"ratio": f"{framework} on/off", "operation": operation, "value": paired(on, off)})
        for observability in ("off", "on"):
            litestar, fastapi = (
                loads[("litestar", observability, operation)],
                loads[("fastapi", observability, operation)],
            )
            ratios.append(
                {
                    "ratio": f"litestar/fastapi {observability}",
                    "operation": operation,
                    "value": paired(litestar, fastapi),
                }
            )
    return ratios


def _targets(ratios: list[Row]) -> list[Row]:
    targets = []
    for row in ratios:
        measured = row["value"]["median"]
        if row["operation"] == "get" and row["ratio"].endswith("on/off"):
            name = f"full OpenTelemetry keeps 0.85x throughput on DB-backed get: {row['ratio']}"
            targets.append(target(name, measured, ON_OFF_LIMIT, at_most=False, unit="x"))
        if row["ratio"].startswith("litestar/fastapi"):
            name = f"Litestar at least 0.95x FastAPI: {row['operation']}, observability {row['ratio'].split()[-1]}"
            targets.append(target(name, measured, LITESTAR_LIMIT, at_most=False, unit="x"))
    return targets
