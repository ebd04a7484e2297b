"""Suite: what the saturation metrics cost (issue 22): the same servers with SATURATION_METRICS true and false.

Over HTTP, the http suite's servers and wrk loads (`throughput.py`): each framework with observability on as
production runs it (every signal exported to the sink, traces sampled at 10 %), once with the saturation metrics
(the event-loop timer, the pool's listeners and wait timing, the process instrumentor) and once without; `get`
and `create`, each over its own SQLite file, interleaved, the order rotating. That is the load of sections 2 and
2.1, sixteen clients: busy, not overloaded. Beside requests/s, the CPU time the server process used per request
(from /proc): with the server alone on its core, throughput is one over it, and on a machine shared with other
work it is the steadier of the two, since the time another process takes the core from the server costs the
server's throughput but none of its CPU.

In process, in CPU time: what the pool's measurement adds to each connection a request borrows (the unit of work
over a real SQLite pool with and without it, alternated; a borrow that runs no statement sends nothing to SQLite,
so only the Python around it is timed), and the two costs that do not grow with requests: one tick of the
event-loop timer (with a near-zero interval, so that ticks follow each other) and one collection of the process
metrics (what each metric export or scrape pays), each with the share of one core it takes at its real rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import uvloop
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from adapters.otel.process_metrics import PROCESS_METRIC_VIEWS, OtelProcessMetrics
from adapters.otel.saturation import OtelSaturationMetrics
from adapters.sqla import SqlaUnitOfWork, create_engine
from entrypoints.event_loop_delay import PROBE_INTERVAL_S, measure_event_loop_delay

from .configurations import FRAMEWORKS, Framework
from .measure import FULL_REPETITIONS, Row, Spread, target
from .sink import OtlpSink
from .throughput import (
    OPERATIONS,
    SMOKE_OPERATIONS,
    SMOKE_SECONDS,
    Load,
    Operation,
    Server,
    interleaved_loads,
    load_figures,
    paired,
)

# Issue 22: the saturation metrics take at most 2 % of the throughput.
COST_LIMIT: Final = 0.02
# Longer runs than the http suite's: a 2 % difference, and /proc counts CPU time in hundredths of a second.
RUN_SECONDS: Final = 6
SAMPLING_RATIO: Final = "0.1"
# The default OTEL_METRIC_EXPORT_INTERVAL: one collection of the process metrics a minute.
EXPORT_INTERVAL_S: Final = 60.0
TICKS: Final = 20_000
SMOKE_TICKS: Final = 500
COLLECTIONS: Final = 200
SMOKE_COLLECTIONS: Final = 5
BORROWS: Final = 5_000
SMOKE_BORROWS: Final = 50


@dataclass
class SaturationServer(Server):
    """A server of the http suite, observability on, with the saturation metrics on or off."""

    saturation: bool = True

    @property
    def name(self) -> str:
        return f"{self.framework}-saturation-{'on' if self.saturation else 'off'}"

    def telemetry_environment(self) -> dict[str, str]:
        return {
            **super().telemetry_environment(),
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": SAMPLING_RATIO,
            "SATURATION_METRICS": "true" if self.saturation else "false",
        }


SaturationLoads = dict[tuple[Framework, bool, Operation], list[Load]]


def run(*, smoke: bool) -> dict[str, Any]:
    """Each framework with the saturation metrics on and off; rows, on/off ratios, the fixed costs, targets."""
    repetitions, seconds = (1, SMOKE_SECONDS) if smoke else (FULL_REPETITIONS, RUN_SECONDS)
    operations = SMOKE_OPERATIONS if smoke else OPERATIONS
    with tempfile.TemporaryDirectory() as directory, OtlpSink() as sink:
        servers = [
            SaturationServer(
                framework, "on", Path(directory) / f"{framework}-{saturation}", sink.endpoint, saturation=saturation
            )
            for framework in FRAMEWORKS
            for saturation in (True, False)
        ]
        by_server = interleaved_loads(servers, operations, repetitions, seconds, smoke=smoke, cpu_seconds=_server_cpu_s)
    loads: SaturationLoads = {
        (server.framework, server.saturation, operation): runs
        for server, measured in zip(servers, by_server, strict=True)
        for operation, runs in measured.items()
    }
    ratios = _ratios(loads)
    fixed = _fixed_costs(smoke=smoke)
    borrows = _borrow_costs(smoke=smoke)
    rows = _rows(loads)
    return {
        "seconds_per_run": seconds,
        "store": "sqlite",
        "trace_sampling": SAMPLING_RATIO,
        "rows": rows,
        "ratios": ratios,
        "borrow_costs": borrows,
        "fixed_costs": fixed,
        "targets": _targets(ratios, rows, borrows, fixed),
    }


def _server_cpu_s(server: SaturationServer) -> float:
    """User and system CPU seconds of the server process so far (Linux: /proc/<pid>/stat)."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime, the 14th and 15th fields of the line (the 12th and 13th after the command's ")").
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_us_per_request(load: Load) -> float:
    assert load.server_cpu_s is not None
    return load.server_cpu_s / max(load.requests, 1) * 1e6


def _rows(loads: SaturationLoads) -> list[Row]:
    return [
        {
            "framework": framework,
            "saturation_metrics": "on" if saturation else "off",
            "operation": operation,
            **load_figures(runs),
            "server_cpu_us_per_request": Spread.of([_cpu_us_per_request(load) for load in runs]).as_json(),
        }
        for (framework, saturation, operation), runs in loads.items()
    ]


def _ratios(loads: SaturationLoads) -> list[Row]:
    """With the saturation metrics over without, paired within repetitions: throughput, and CPU per request."""
    ratios = []
    for operation in sorted({operation for _, _, operation in loads}):
        for framework in FRAMEWORKS:
            on, off = loads[(framework, True, operation)], loads[(framework, False, operation)]
            cpu = [_cpu_us_per_request(top) / _cpu_us_per_request(bottom) for top, bottom in zip(on, off, strict=True)]
            ratios.append(
                {
                    "framework": framework,
                    "operation": operation,
                    "on_over_off": paired(on, off),
                    "cpu_on_over_off": Spread.of(cpu).as_json(),
                }
            )
    return ratios


def _targets(ratios: list[Row], rows: list[Row], borrows: list[Row], fixed: list[Row]) -> list[Row]:
    """The throughput the saturation metrics cost, two ways.

    Measured end to end: 1 - off/on of the server's CPU per request. Built up from parts: the CPU one borrowed
    connection adds (each `get` and `create` borrows one) over the request's CPU without the saturation metrics,
    plus the share of the core the timer and the collections take.
    """
    added_us = next(row["cpu_us_per_borrow"]["median"] for row in borrows if row["pool_metrics"] == "added")
    fixed_share = sum(row["share_of_a_core"] for row in fixed)
    request_us = {
        (row["framework"], row["operation"]): row["server_cpu_us_per_request"]["median"]
        for row in rows
        if row["saturation_metrics"] == "off"
    }
    checked = []
    for row in ratios:
        pair = f"{row['framework']} {row['operation']}"
        end_to_end = 1 - 1 / row["cpu_on_over_off"]["median"]
        from_parts = added_us / request_us[(row["framework"], row["operation"])] + fixed_share
        checked.append(target(f"at most 2 % of throughput, end to end: {pair}", end_to_end, COST_LIMIT, unit="x"))
        checked.append(target(f"at most 2 % of throughput, from parts: {pair}", from_parts, COST_LIMIT, unit="x"))
    return checked


def _borrow_costs(*, smoke: bool) -> list[Row]:
    """CPU per connection borrowed and returned through the unit of work, with and without the pool's measurement."""
    borrows = SMOKE_BORROWS if smoke else BORROWS
    samples: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'borrows.db'}"
        for _ in range(1 if smoke else FULL_REPETITIONS):
            for measured in (True, False):
                samples[measured].append(_cpu_us_per(partial(_borrow, url, measured=measured), borrows))
    with_metrics, without = Spread.of(samples[True]), Spread.of(samples[False])
    return [
        {"pool_metrics": "on", "cpu_us_per_borrow": with_metrics.as_json()},
        {"pool_metrics": "off", "cpu_us_per_borrow": without.as_json()},
        {
            "pool_metrics": "added",
            "cpu_us_per_borrow": Spread.of(
                [on - off for on, off in zip(samples[True], samples[False], strict=True)]
            ).as_json(),
        },
    ]


def _borrow(url: str, count: int, *, measured: bool) -> None:
    async def borrow() -> None:
        engine = create_engine(url)
        metrics = OtelSaturationMetrics(MeterProvider(metric_readers=[InMemoryMetricReader()])) if measured else None
        unit_of_work = SqlaUnitOfWork(engine, metrics)
        try:
            for _ in range(count):
                async with unit_of_work.autocommit():
                    pass
        finally:
            await engine.dispose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(borrow())


def _fixed_costs(*, smoke: bool) -> list[Row]:
    ticks, collections = (SMOKE_TICKS, SMOKE_COLLECTIONS) if smoke else (TICKS, COLLECTIONS)
    samples = 1 if smoke else FULL_REPETITIONS
    tick_us = Spread.of([_cpu_us_per(_ticks, ticks) for _ in range(samples)])
    collection_us = Spread.of([_cpu_us_per(_collections, collections) for _ in range(samples)])
    return [
        _fixed_cost("event-loop timer tick", tick_us, per_s=1 / PROBE_INTERVAL_S),
        _fixed_cost("process metrics collection", collection_us, per_s=1 / EXPORT_INTERVAL_S),
    ]


def _fixed_cost(work: str, us: Spread, per_s: float) -> Row:
    return {
        "work": work,
        "cpu_us": us.as_json(),
        "per_s": round(per_s, 4),
        "share_of_a_core": round(us.median * per_s / 1e6, 8),
    }


def _cpu_us_per(work: Callable[[int], None], count: int) -> float:
    """CPU microseconds of this process per unit of `work` done `count` times."""
    started = time.process_time()
    work(count)
    return (time.process_time() - started) / count * 1e6


class _Ticked(Exception):
    """The timer ticked as often as measured."""


class _CountedTicks(OtelSaturationMetrics):
    """The OpenTelemetry adapter, on a real histogram, stopping the timer after `count` ticks."""

    def __init__(self, count: int) -> None:
        super().__init__(MeterProvider(metric_readers=[InMemoryMetricReader()]))
        self._left = count

    def record_event_loop_delay(self, delay_s: float) -> None:
        super().record_event_loop_delay(delay_s)
        self._left -= 1
        if self._left == 0:
            raise _Ticked


def _ticks(count: int) -> None:
    """`count` ticks of the event-loop timer on uvloop (as `serve` runs), one after another."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner, contextlib.suppress(_Ticked):
        runner.run(measure_event_loop_delay(_CountedTicks(count), interval_s=1e-9))


def _collections(count: int) -> None:
    """`count` collections of the process metrics, as each export or scrape makes one."""
    reader = InMemoryMetricReader()
    process = OtelProcessMetrics()
    process.start(MeterProvider(metric_readers=[reader], views=PROCESS_METRIC_VIEWS))
    try:
        for _ in range(count):
            reader.get_metrics_data()
    finally:
        process.stop()
