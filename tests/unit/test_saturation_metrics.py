"""The saturation metrics: the OpenTelemetry and in-memory adapters report the same series, the event loop's
delay is measured by its timer, the process metrics carry the conventions' names, and with observability off
none of it is built."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint

from adapters.memory.telemetry import InMemorySaturationMetrics
from adapters.otel.process_metrics import PROCESS_METRIC_VIEWS, OtelProcessMetrics
from adapters.otel.saturation import OtelSaturationMetrics
from core.semantic_conventions import (
    ATTR_GC_GENERATION,
    CONNECTION_COUNT,
    CONNECTION_MAX,
    CONNECTION_PENDING_REQUESTS,
    CONNECTION_TIMEOUTS,
    EVENT_LOOP_DELAY,
    PROCESS_METRICS,
    connection_count_attributes,
    pool_attributes,
)
from entrypoints.event_loop_delay import measure_event_loop_delay
from entrypoints.settings import TelemetrySettings
from entrypoints.telemetry import build_telemetry
from ports.saturation_metrics import ConnectionPoolState, SaturationMetricsPort

SeriesKey = tuple[str, tuple[tuple[str, Any], ...]]
POOL_NAMES = ("127.0.0.1:5432/test", "/tmp/resources.db")


@dataclass(frozen=True)
class Call:
    """One call of the port, applied alike to every adapter."""

    method: str
    arguments: tuple[Any, ...]

    def apply(self, metrics: SaturationMetricsPort) -> None:
        getattr(metrics, self.method)(*self.arguments)


seconds = st.floats(min_value=0.0, max_value=30.0, allow_nan=False)
pools = st.sampled_from(POOL_NAMES)
calls = st.one_of(
    st.builds(lambda delay: Call("record_event_loop_delay", (delay,)), seconds),
    st.builds(lambda pool, wait: Call("record_connection_wait", (pool, wait)), pools, seconds),
    st.builds(lambda pool: Call("record_connection_timeout", (pool,)), pools),
    st.builds(lambda pool, use: Call("record_connection_use", (pool, use)), pools, seconds),
)
states = st.builds(
    ConnectionPoolState,
    idle=st.integers(0, 50),
    used=st.integers(0, 50),
    max=st.integers(1, 100),
    pending_requests=st.integers(0, 500),
)


def collected(reader: InMemoryMetricReader) -> dict[SeriesKey, tuple[float, int]]:
    """Each series read now: (sum or value, count of measurements; 1 for a counter or gauge)."""
    data = reader.get_metrics_data()
    series: dict[SeriesKey, tuple[float, int]] = {}
    for resource_metrics in data.resource_metrics if data is not None else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, tuple(sorted((point.attributes or {}).items())))
                    if isinstance(point, HistogramDataPoint):
                        series[key] = (point.sum, point.count)
                    else:
                        assert isinstance(point, NumberDataPoint)
                        series[key] = (point.value, 1)
    return series


def recorded(memory: InMemorySaturationMetrics) -> dict[SeriesKey, tuple[float, int]]:
    """What the in-memory adapter kept, summed per series as an SDK histogram or counter would."""
    series: dict[SeriesKey, tuple[float, int]] = {}
    for point in memory.points:
        key = (point.instrument, tuple(sorted(point.attributes.items())))
        total, count = series.get(key, (0.0, 0))
        series[key] = (total + point.value, 1 if point.instrument == CONNECTION_TIMEOUTS else count + 1)
    for name, state in memory.pool_states().items():
        series[(CONNECTION_COUNT, tuple(sorted(connection_count_attributes(name, "idle").items())))] = (state.idle, 1)
        series[(CONNECTION_COUNT, tuple(sorted(connection_count_attributes(name, "used").items())))] = (state.used, 1)
        series[(CONNECTION_MAX, tuple(sorted(pool_attributes(name).items())))] = (state.max, 1)
        series[(CONNECTION_PENDING_REQUESTS, tuple(sorted(pool_attributes(name).items())))] = (
            state.pending_requests,
            1,
        )
    return series


def _without_untouched_timeouts(series: dict[SeriesKey, tuple[float, int]]) -> dict[SeriesKey, tuple[float, int]]:
    """The OpenTelemetry adapter starts each pool's timeout counter at 0; the in-memory one records no zero."""
    return {key: value for key, value in series.items() if not (key[0] == CONNECTION_TIMEOUTS and value[0] == 0)}


def _by_key(series: dict[SeriesKey, tuple[float, int]]) -> dict[SeriesKey, tuple[float, int]]:
    """Sums rounded: the SDK and a Python sum add the same floats in the same order, but compare them loosely."""
    return {key: (round(total, 6), count) for key, (total, count) in series.items()}


@given(st.lists(calls, max_size=40), st.dictionaries(pools, states, max_size=2))
def test_both_adapters_report_the_same_series(
    sequence: Sequence[Call], observed: dict[str, ConnectionPoolState]
) -> None:
    reader = InMemoryMetricReader()
    otel = OtelSaturationMetrics(MeterProvider(metric_readers=[reader]))
    memory = InMemorySaturationMetrics()
    for adapter in (otel, memory):
        for pool, state in observed.items():
            adapter.observe_connection_pool(pool, lambda state=state: state)  # type: ignore[misc]
        for call in sequence:
            call.apply(adapter)
    assert _by_key(_without_untouched_timeouts(collected(reader))) == _by_key(recorded(memory))


def test_a_pool_starts_with_its_timeouts_at_zero() -> None:
    reader = InMemoryMetricReader()
    otel = OtelSaturationMetrics(MeterProvider(metric_readers=[reader]))
    otel.observe_connection_pool(POOL_NAMES[0], lambda: ConnectionPoolState(0, 0, 10, 0))
    timeouts = {key: value for key, value in collected(reader).items() if key[0] == CONNECTION_TIMEOUTS}
    assert timeouts == {(CONNECTION_TIMEOUTS, tuple(pool_attributes(POOL_NAMES[0]).items())): (0, 1)}


async def _delays_around(block: Callable[[], None], interval_s: float) -> list[float]:
    memory = InMemorySaturationMetrics()
    probe = asyncio.create_task(measure_event_loop_delay(memory, interval_s))
    await asyncio.sleep(interval_s * 2.5)
    block()
    await asyncio.sleep(interval_s * 2.5)
    probe.cancel()
    return [point.value for point in memory.of(EVENT_LOOP_DELAY)]


@settings(max_examples=12, deadline=None)
@given(st.floats(min_value=0.03, max_value=0.15))
def test_a_stalled_loop_is_measured_as_at_least_the_stall_less_one_interval(stall_s: float) -> None:
    interval_s = 0.01
    delays = asyncio.run(_delays_around(lambda: time.sleep(stall_s), interval_s))
    assert all(delay >= 0 for delay in delays)
    assert max(delays) >= stall_s - interval_s, (stall_s, delays)


def test_the_probe_measures_by_its_timer_not_per_request() -> None:
    interval_s = 0.02
    delays = asyncio.run(_delays_around(lambda: None, interval_s))
    # 5 intervals of waiting: one measurement each, however many requests ran meanwhile (here none).
    assert 3 <= len(delays) <= 5


def test_the_process_metrics_carry_the_conventions_names_and_attributes() -> None:
    reader = InMemoryMetricReader()
    process = OtelProcessMetrics()
    process.start(MeterProvider(metric_readers=[reader], views=PROCESS_METRIC_VIEWS))
    try:
        series = collected(reader)
    finally:
        process.stop()
    assert {name for name, _ in series} == set(PROCESS_METRICS)
    for name, attributes in series:
        if name.startswith("cpython.gc."):
            assert {key for key, _ in attributes} == {ATTR_GC_GENERATION}, (name, attributes)
    assert series[("process.thread.count", ())][0] >= 1


def test_a_second_meter_provider_observes_the_process_once_the_first_stopped() -> None:
    for _ in range(2):
        reader = InMemoryMetricReader()
        process = OtelProcessMetrics()
        process.start(MeterProvider(metric_readers=[reader], views=PROCESS_METRIC_VIEWS))
        try:
            assert ("process.memory.usage", ()) in collected(reader)
        finally:
            process.stop()


def test_nothing_is_measured_with_observability_off_or_the_saturation_metrics_off() -> None:
    for settings_ in (TelemetrySettings(disabled=True), TelemetrySettings(saturation_metrics=False)):
        setup = build_telemetry(settings_, service_version="0", framework="fastapi")
        try:
            assert (setup.saturation_metrics, setup.process_metrics) == (None, None), settings_
        finally:
            setup.shutdown()
    setup = build_telemetry(TelemetrySettings(), service_version="0", framework="fastapi")
    try:
        assert isinstance(setup.saturation_metrics, OtelSaturationMetrics)
        assert setup.process_metrics is not None
    finally:
        setup.shutdown()
