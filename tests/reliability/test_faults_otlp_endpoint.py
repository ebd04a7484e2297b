"""The OTLP endpoint unavailable, a closed port or a black hole (a listener that never answers), does no harm.

Each case runs two `resource-service serve` processes side by side under the same paced load: one exporting to a
receiver that answers, one to the unavailable endpoint. No request may fail, the p99 ratio stays within its bound,
memory stays bounded, the secret header is never printed, each signal's failure is logged at most once a minute,
and SIGTERM stops both within the shutdown budget. test_faults_collector.py runs the same faults for longer.
Run with `-s` to see the measured p99 ratios and shutdown times.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from integration.service_load import (
    EXPECTED_STATUS,
    SECRET,
    SHUTDOWN_MARGIN_S,
    SHUTDOWN_TIMEOUT_S,
    LoadClients,
    Sample,
    p99,
    paced_load,
    telemetry_environment,
)

from .servers import BlackHole, HttpReceiver, ServiceProcess, closed_port, service_environment

LOAD_REQUESTS = 300
LOAD_SECONDS = 5.0
LOAD_ROUNDS = 5
WARMUP_REQUESTS = 24
P99_RATIO_BOUND = 1.5
RSS_GROWTH_BOUND_KIB = 60 * 1024


@dataclass(frozen=True, slots=True)
class LoadRun:
    """One service under the bounded load (one or two measurements): latencies, memory, and how it stopped."""

    name: str
    attempts: list[list[Sample]]
    rss_before_kib: int
    rss_after_kib: int
    return_code: int | None
    shutdown_seconds: float | None
    stdout: str
    stderr: str

    def p99s(self) -> list[float]:
        return [p99(samples) for samples in self.attempts]

    def failed(self) -> list[Sample]:
        return [s for samples in self.attempts for s in samples if s.status != EXPECTED_STATUS[s.kind]]


def _service(directory: Path, endpoint: str, framework: str = "fastapi") -> ServiceProcess:
    env = service_environment(f"sqlite+aiosqlite:///{directory / 'db.sqlite'}", telemetry_environment(endpoint))
    return ServiceProcess(framework, directory, env)


async def _measure(clients: LoadClients, urls: Sequence[str], attempt: int) -> list[list[Sample]]:
    """LOAD_REQUESTS to each service in LOAD_ROUNDS alternating rounds: one service at a time has the machine, and
    noise from elsewhere on the machine spreads over all of them."""
    samples: list[list[Sample]] = [[] for _ in urls]
    for round_ in range(LOAD_ROUNDS):
        order = range(len(urls)) if round_ % 2 == 0 else reversed(range(len(urls)))
        for j in order:
            (round_samples,) = await paced_load(
                clients,
                [urls[j]],
                f"load{attempt}.{round_}-",
                LOAD_REQUESTS // LOAD_ROUNDS,
                LOAD_SECONDS / LOAD_ROUNDS,
            )
            samples[j].extend(round_samples)
    return samples


async def _side_by_side(baseline: ServiceProcess, candidate: ServiceProcess) -> tuple[LoadRun, LoadRun]:
    """Start both, measure both, then SIGTERM both together. A p99 ratio over the bound is measured once more
    (on this shared 2-core machine one measurement's p99 can be noise); a real regression fails both."""
    services = (baseline, candidate)
    try:
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in services))
        urls = [s.base_url for s in services]
        async with LoadClients(urls) as clients:
            for url in urls:
                await paced_load(clients, [url], "warm-", WARMUP_REQUESTS, 0.5)
            rss_before = [s.rss_kib() for s in services]
            attempts = [await _measure(clients, urls, 0)]
            if p99(attempts[0][1]) > P99_RATIO_BOUND * p99(attempts[0][0]):
                attempts.append(await _measure(clients, urls, 1))
        rss_after = [s.rss_kib() for s in services]
        bound = SHUTDOWN_TIMEOUT_S + SHUTDOWN_MARGIN_S
        codes = await asyncio.gather(*(asyncio.to_thread(s.terminate, bound) for s in services))
    finally:
        for service in services:
            service.kill()
    base, run = (
        LoadRun(
            name,
            [attempt[j] for attempt in attempts],
            rss_before[j],
            rss_after[j],
            codes[j],
            s.shutdown_seconds,
            s.stdout(),
            s.stderr(),
        )
        for j, (name, s) in enumerate(zip(("reachable receiver", "unavailable endpoint"), services, strict=True))
    )
    return base, run


def _ratios(run: LoadRun, baseline: LoadRun) -> list[float]:
    return [mine / theirs for mine, theirs in zip(run.p99s(), baseline.p99s(), strict=True)]


def _report(run: LoadRun, baseline: LoadRun | None = None) -> str:
    p99s = " then ".join(f"{value * 1000:.1f} ms" for value in run.p99s())
    ratios = f", p99 ratio {' then '.join(f'{r:.2f}x' for r in _ratios(run, baseline))}" if baseline else ""
    bound = SHUTDOWN_TIMEOUT_S + SHUTDOWN_MARGIN_S
    if run.shutdown_seconds is None:
        shutdown = f"still running {bound:g} s later (killed)"
    else:
        shutdown = f"exit {run.return_code} in {run.shutdown_seconds:.2f} s"
    return (
        f"{run.name}: {sum(len(a) for a in run.attempts)} requests, p99 {p99s}{ratios}, "
        f"RSS +{(run.rss_after_kib - run.rss_before_kib) / 1024:.1f} MiB, SIGTERM -> {shutdown}"
    )


def _export_failure_warnings(stdout: str) -> dict[str, int]:
    """How many `telemetry export of <signal> failed` warnings the service logged, by signal."""
    counts: dict[str, int] = {}
    for line in stdout.splitlines():
        if "telemetry export of" in line:
            signal = str(json.loads(line)["event"]).split()[3]
            counts[signal] = counts.get(signal, 0) + 1
    return counts


async def _unavailable_endpoint_does_no_harm(name: str, endpoint: str, directory: Path) -> LoadRun:
    """The service pointed at `endpoint`, beside one whose receiver answers: no harm, within the bounds."""
    with HttpReceiver() as receiver:
        baseline, run = await _side_by_side(
            _service(directory / "reachable", receiver.endpoint), _service(directory / "unavailable", endpoint)
        )
    print(f"\n{name}\n  {_report(baseline)}\n  {_report(run, baseline)}")
    assert receiver.received.signals() == {"traces", "metrics", "logs"}, "the baseline must really export"
    for each in (baseline, run):
        assert all(len(samples) == LOAD_REQUESTS for samples in each.attempts)
        assert each.failed() == [], f"{each.name}: {len(each.failed())} request(s) failed: {each.failed()[:5]}"
        growth = each.rss_after_kib - each.rss_before_kib
        assert growth < RSS_GROWTH_BOUND_KIB, f"{each.name}: RSS grew by {growth} KiB"
        assert SECRET not in each.stdout
        assert SECRET not in each.stderr
    assert min(_ratios(run, baseline)) <= P99_RATIO_BOUND, _report(run, baseline)
    warnings = _export_failure_warnings(run.stdout)
    assert all(count <= 1 for count in warnings.values()), f"logged more than once a minute: {warnings}"
    for each in (baseline, run):
        assert each.return_code == 0, f"{_report(each)}\n{each.stderr[-3000:]}"
        assert each.shutdown_seconds is not None
        assert each.shutdown_seconds <= SHUTDOWN_TIMEOUT_S + SHUTDOWN_MARGIN_S
    return run


async def test_an_otlp_endpoint_on_a_closed_port_does_no_harm_under_load(tmp_path: Path) -> None:
    run = await _unavailable_endpoint_does_no_harm("closed port", f"http://127.0.0.1:{closed_port()}", tmp_path)
    assert set(_export_failure_warnings(run.stdout)) == {"traces", "metrics", "logs"}, "each failure is reported"


async def test_an_otlp_endpoint_that_never_answers_does_no_harm_under_load(tmp_path: Path) -> None:
    with BlackHole() as hole:
        await _unavailable_endpoint_does_no_harm("black hole", hole.endpoint, tmp_path)
        assert hole.accepted > 0, "the exporters did connect to the black hole"
