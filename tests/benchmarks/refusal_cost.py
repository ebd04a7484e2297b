"""What a refusal costs the server against a served request, in instructions (valgrind's callgrind).

Part of suite `overload`. Each server runs under callgrind, instrumentation switched on only once it is up, one
worker on SQLite, observability off unless said; a client on this side sends GETs one after another on one kept-alive
connection, and the server's instructions from the first to the last answer, divided by their number, are one
request's cost: uvicorn's parse and write included, the load generator's not. Instructions, not seconds, so
that the figures repeat on a machine shared with other work.

- `served`: a GET of the seed resource through the app.
- `refused`: the same GET through the app's admission control, its one slot held by a POST whose body never
  comes (ADMISSION_MAX_CONCURRENCY=1, ADMISSION_MAX_WAITING=0).
- both again with observability on, every signal exported to the suite's OTLP sink and every trace sampled (the
  instructions of the SDK's export threads included: a refusal is traced and measured like any request);
- and once more with a tenth of the traces sampled (`parentbased_traceidratio` at 0.1), as a production service
  would run: metrics and logs are whole, and nine requests in ten make only a span that is never recorded.
- `bare 503`: the floor, `refusal_floor`'s bare ASGI app answering the same 503 from prepared bytes.
- `uvicorn --limit-concurrency`: uvicorn's own bound refusing before any app, its limit held full the same way;
  it closes the connection with each refusal, so each of these GETs opens one.

Run alone, `python -m tests.benchmarks.refusal_cost` (about 15 minutes; `--smoke` for one framework and two ways in
under two): the `refusal_costs` table of suite `overload`, without its storms.

A refused request costing a share `r` of a served one, a server offered 3x its capacity serves at most
`(1 - 3r) / (1 - r)` of its capacity (its CPU spent on the served and the refused): the ceiling column.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import httpx

from .configurations import FRAMEWORKS, Framework
from .measure import Row, table
from .sink import OtlpSink
from .throughput import (
    CONSOLE_SCRIPT,
    Observability,
    free_port,
    service_environment,
    stop_process,
    telemetry_environment,
)

Answer = Literal["served", "refused"]
# Each way the service runs, by the words its rows append to the answer, with its telemetry settings beside those
# of `telemetry_environment`. A smoke run measures one framework and the first two: the others run the same code.
_TENTH_SAMPLED: Final = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
RUNS: Final[tuple[tuple[str, Observability, dict[str, str]], ...]] = (
    ("", "off", {}),
    (", observability on", "on", {}),
    (", a tenth of traces sampled", "on", _TENTH_SAMPLED),
)
FULL_REQUESTS: Final = 1000
SMOKE_REQUESTS: Final = 20
WARM_REQUESTS: Final = 50
READY_TIMEOUT_S: Final = 300.0
VALGRIND: Final = shutil.which("valgrind")


def available() -> bool:
    """valgrind (Debian package `valgrind`) is installed, with its `callgrind_control`."""
    return VALGRIND is not None and shutil.which("callgrind_control") is not None


@dataclass
class CallgrindServer:
    """One server process under callgrind: what it runs, what to GET, and whether to hold its bound full."""

    name: str
    command: list[str]
    environment: dict[str, str]
    directory: Path
    status: int
    # The service's GET reads a resource it is given first; the bare app answers any path.
    seeds_a_resource: bool = False
    hold_the_bound: bool = False
    reconnect_each_request: bool = False
    port: int = field(default_factory=free_port)
    path: str = "/resources/00000000-0000-0000-0000-000000000000"

    @property
    def output(self) -> Path:
        return self.directory / f"callgrind.{_slug(self.name)}"

    @contextmanager
    def running(self) -> Iterator[subprocess.Popen[bytes]]:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            str(VALGRIND),
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={self.output}",
            *(part.replace("{port}", str(self.port)) for part in self.command),
        ]
        with (self.directory / f"{self.output.name}.log").open("wb") as log:
            process = subprocess.Popen(command, env=self.environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_up(f"http://127.0.0.1:{self.port}")
            yield process
        finally:
            stop_process(process)


def instructions_per_request(server: CallgrindServer, requests: int) -> float:
    """The server's instructions per GET, over `requests` of them, its instrumentation on only meanwhile."""
    with server.running() as process:
        if server.seeds_a_resource:
            server.path = _seed(server.port)
        held = _hold(server.port) if server.hold_the_bound else None
        try:
            _callgrind_control(process, "--instr=on")
            _get(server, WARM_REQUESTS)
            _callgrind_control(process, "--zero")
            _get(server, requests)
            _callgrind_control(process, "--dump")
            return _collected(server.output) / requests
        finally:
            if held is not None:
                held.close()


def run(directory: Path, sink_endpoint: str, *, smoke: bool) -> list[Row]:
    """Served and refused GETs of each framework in each of `RUNS`, then the bare floor and uvicorn's own bound."""
    requests = SMOKE_REQUESTS if smoke else FULL_REQUESTS
    frameworks, runs = (FRAMEWORKS[:1], RUNS[:2]) if smoke else (FRAMEWORKS, RUNS)
    floor = CallgrindServer("bare 503", _floor_command(), _environment(directory, "floor"), directory, 503)
    floor_instructions = instructions_per_request(floor, requests)
    rows: list[Row] = []
    served_off: dict[Framework, float] = {}
    for framework in frameworks:
        for words, observability, settings in runs:
            served, refused = (
                instructions_per_request(
                    _service(framework, answer, observability, settings, directory, sink_endpoint, words), requests
                )
                for answer in ("served", "refused")
            )
            served_off.setdefault(framework, served)
            rows += [
                _row(framework, "served" + words, served, served),
                _row(framework, "refused" + words, refused, served),
            ]
        rows.append(_row(framework, "refused by the bare 503 floor", floor_instructions, served_off[framework]))
    uvicorn_bound = CallgrindServer(
        "uvicorn limit",
        [*_floor_command(), "--limit-concurrency", "2"],
        _environment(directory, "uvicorn"),
        directory,
        503,
        hold_the_bound=True,
        reconnect_each_request=True,
    )
    uvicorn_instructions = instructions_per_request(uvicorn_bound, requests)
    rows += [
        _row(framework, "refused by uvicorn --limit-concurrency", uvicorn_instructions, served_off[framework])
        for framework in frameworks
    ]
    return rows


def _row(framework: Framework, answer: str, instructions: float, served: float) -> Row:
    share = instructions / served
    ceiling = max(0.0, (1 - 3 * share) / (1 - share)) if share < 1 else 0.0
    return {
        "server": framework,
        "answer": answer,
        "instructions_per_request": round(instructions),
        "share_of_served": round(share, 3),
        "goodput_ceiling_at_3x": round(ceiling, 3) if not answer.startswith("served") else None,
    }


def _service(
    framework: Framework,
    answer: Answer,
    observability: Observability,
    settings: dict[str, str],
    directory: Path,
    sink_endpoint: str,
    words: str,
) -> CallgrindServer:
    bound = {"ADMISSION_MAX_CONCURRENCY": "1", "ADMISSION_MAX_WAITING": "0"} if answer == "refused" else {}
    name = f"{framework} {answer}{words}"
    database = directory / f"{_slug(name)}.db"
    environment = service_environment(
        f"sqlite+aiosqlite:///{database}",
        {**telemetry_environment(observability, sink_endpoint), **settings, **bound},
    )
    command = [str(CONSOLE_SCRIPT), "serve", "--framework", framework, "--port", "{port}"]
    refused = answer == "refused"
    return CallgrindServer(
        name, command, environment, directory, 503 if refused else 200, seeds_a_resource=True, hold_the_bound=refused
    )


def _slug(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_")


def _floor_command() -> list[str]:
    return [sys.executable, "-m", "tests.benchmarks.refusal_floor", "{port}"]


def _environment(directory: Path, name: str) -> dict[str, str]:
    return service_environment(f"sqlite+aiosqlite:///{directory / f'{name}.db'}", {"OTEL_SDK_DISABLED": "true"})


def wait_up(base_url: str) -> None:
    """Until `/health/live` answers 200 (a server under valgrind takes a while to start)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health/live", timeout=5.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{base_url} was not up under valgrind in {READY_TIMEOUT_S} s")


def _seed(port: int) -> str:
    created = httpx.post(f"http://127.0.0.1:{port}/resources", json={"name": "seed", "description": "read"}, timeout=60)
    created.raise_for_status()
    return f"/resources/{created.json()['id']}"


def _hold(port: int) -> socket.socket:
    """A POST whose body never comes: it holds one admission slot, or one of uvicorn's tasks, until closed."""
    held = socket.create_connection(("127.0.0.1", port))
    held.sendall(b"POST /resources HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{")
    # Until the app has taken the slot: the server is slow under valgrind.
    time.sleep(1.0)
    return held


def _get(server: CallgrindServer, requests: int) -> None:
    """`requests` GETs one after another, each read to its end and answered with the server's `status`; on one
    connection unless told otherwise."""
    request = f"GET {server.path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".encode()
    connection: socket.socket | None = None
    pending = b""
    for _ in range(requests):
        if connection is None:
            connection, pending = socket.create_connection(("127.0.0.1", server.port)), b""
        connection.sendall(request)
        status, pending = _read_answer(connection, pending)
        if status != server.status:
            raise AssertionError(f"{server.name}: answered {status}, not {server.status}")
        if server.reconnect_each_request:
            connection.close()
            connection = None
    if connection is not None:
        connection.close()


def _read_answer(connection: socket.socket, pending: bytes) -> tuple[int, bytes]:
    """Read one answer (its head and Content-Length bytes): its status, and what follows it, for the next."""
    while True:
        head_end = pending.find(b"\r\n\r\n")
        if head_end >= 0:
            head = pending[:head_end].decode("latin-1").lower()
            length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
            end = head_end + 4 + length
            if len(pending) >= end:
                return int(head.split(" ", 2)[1]), pending[end:]
        chunk = connection.recv(65536)
        if not chunk:
            raise AssertionError("the server closed the connection before answering")
        pending += chunk


def _callgrind_control(process: subprocess.Popen[bytes], option: str) -> None:
    subprocess.run(["callgrind_control", option, str(process.pid)], check=True, capture_output=True)


def _collected(output: Path) -> int:
    """The instruction count of the newest dump of `output` (callgrind numbers its dumps `output.N`)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        dumps = sorted(output.parent.glob(f"{output.name}.*[0-9]"), key=os.path.getmtime)
        for line in dumps[-1].read_text().splitlines() if dumps else []:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
        time.sleep(0.2)
    raise AssertionError(f"no callgrind dump of {output}")


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary, OtlpSink() as sink:
        rows = run(Path(temporary), sink.endpoint, smoke="--smoke" in sys.argv[1:])
    print(table("== overload: refusal_costs", rows, list(rows[0])))


if __name__ == "__main__":
    main()
