"""OtelSaturationMetrics: the saturation metrics port on OpenTelemetry instruments named by the conventions."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from core.semantic_conventions import (
    CONNECTION_COUNT,
    CONNECTION_MAX,
    CONNECTION_PENDING_REQUESTS,
    CONNECTION_TIMEOUTS,
    CONNECTION_USE_TIME,
    CONNECTION_WAIT_TIME,
    DURATION_BUCKETS_S,
    EVENT_LOOP_DELAY,
    INSTRUMENTATION_SCOPE,
    connection_count_attributes,
    pool_attributes,
)
from ports.saturation_metrics import ConnectionPoolState, SaturationMetricsPort


class OtelSaturationMetrics(SaturationMetricsPort):
    """Histograms and a counter recorded as things happen; the pools' states read by observable instruments."""

    def __init__(self, meter_provider: metrics.MeterProvider, version: str | None = None) -> None:
        meter = meter_provider.get_meter(INSTRUMENTATION_SCOPE, version)
        self._pools: dict[str, Callable[[], ConnectionPoolState]] = {}
        self._event_loop_delay = meter.create_histogram(
            EVENT_LOOP_DELAY,
            unit="s",
            description="How late the event loop ran a timer that was due: how long ready work waited for the loop.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS_S),
        )
        self._wait = meter.create_histogram(
            CONNECTION_WAIT_TIME,
            unit="s",
            description="The time it took to obtain an open connection from the pool.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS_S),
        )
        self._use = meter.create_histogram(
            CONNECTION_USE_TIME,
            unit="s",
            description="The time between borrowing a connection and returning it to the pool.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS_S),
        )
        self._timeouts = meter.create_counter(
            CONNECTION_TIMEOUTS,
            unit="{timeout}",
            description="Callers that gave up waiting for a connection from the pool.",
        )
        meter.create_observable_up_down_counter(
            CONNECTION_COUNT,
            [self._observe_counts],
            unit="{connection}",
            description="Open connections of the pool, by state.",
        )
        meter.create_observable_up_down_counter(
            CONNECTION_MAX,
            [self._observe_max],
            unit="{connection}",
            description="The most connections the pool opens.",
        )
        meter.create_observable_up_down_counter(
            CONNECTION_PENDING_REQUESTS,
            [self._observe_pending],
            unit="{request}",
            description="Callers waiting for a connection from the pool.",
        )

    def record_event_loop_delay(self, delay_s: float) -> None:
        self._event_loop_delay.record(delay_s)

    def record_connection_wait(self, pool_name: str, wait_s: float) -> None:
        self._wait.record(wait_s, pool_attributes(pool_name))

    def record_connection_timeout(self, pool_name: str) -> None:
        self._timeouts.add(1, pool_attributes(pool_name))

    def record_connection_use(self, pool_name: str, use_s: float) -> None:
        self._use.record(use_s, pool_attributes(pool_name))

    def observe_connection_pool(self, pool_name: str, read: Callable[[], ConnectionPoolState]) -> None:
        self._pools[pool_name] = read
        # From the start at 0, so that `increase()` sees the first timeout.
        self._timeouts.add(0, pool_attributes(pool_name))

    def _states(self) -> Iterable[tuple[str, ConnectionPoolState]]:
        return [(name, read()) for name, read in list(self._pools.items())]

    def _observe_counts(self, _options: CallbackOptions) -> Iterable[Observation]:
        for name, state in self._states():
            yield Observation(state.idle, connection_count_attributes(name, "idle"))
            yield Observation(state.used, connection_count_attributes(name, "used"))

    def _observe_max(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(state.max, pool_attributes(name)) for name, state in self._states()]

    def _observe_pending(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(state.pending_requests, pool_attributes(name)) for name, state in self._states()]
