"""Exporters that never raise: one place catches, counts and (at most once a minute) logs every failed export.

The span and log exporters also empty each batch once exported: that frees what a failed export leaves behind
without the cyclic garbage collector, whose full pass paused every request for 40-110 ms (docs/reliability.md;
the measurement is in `adapters/_compat/otel_sdk.py`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Literal, TypeVar

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from adapters._compat.otel_sdk import preferences_of, release_batch
from core.semantic_conventions import EXPORT_FAILURES, INSTRUMENTATION_SCOPE

Signal = Literal["traces", "metrics", "logs"]
SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")
LOG_INTERVAL_S = 60.0

_log = logging.getLogger(__name__)


class ExportFailures:
    """Failed exports per signal, reported as the `telemetry.export.failures` counter."""

    def __init__(self, clock: Callable[[], float], log_interval_s: float = LOG_INTERVAL_S) -> None:
        self.counts: dict[Signal, int] = dict.fromkeys(SIGNALS, 0)
        self._clock = clock
        self._log_interval_s = log_interval_s
        self._last_logged: dict[Signal, float] = {}
        self._lock = threading.Lock()

    def record(self, signal: Signal, reason: str) -> None:
        """Count one failed export; log it unless this signal was logged less than an interval ago."""
        with self._lock:
            self.counts[signal] += 1
            now = self._clock()
            last = self._last_logged.get(signal)
            if last is not None and now - last < self._log_interval_s:
                return
            self._last_logged[signal] = now
        _log.warning("telemetry export of %s failed (%s); %d failure(s) so far", signal, reason, self.counts[signal])

    def observe_with(self, meter_provider: MeterProvider) -> None:
        """Publish the counts as an observable counter."""
        meter_provider.get_meter(f"{INSTRUMENTATION_SCOPE}.telemetry").create_observable_counter(
            EXPORT_FAILURES, [self._observe], unit="{export}", description="Telemetry exports that failed, by signal."
        )

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(count, {"signal": signal}) for signal, count in self.counts.items()]


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


_Result = TypeVar("_Result", SpanExportResult, LogRecordExportResult, MetricExportResult)


class _ExportGuard(Generic[_Result]):
    """One signal's exports run so that a raised error or a `FAILURE` result is counted, never raised."""

    def __init__(self, failures: ExportFailures, signal: Signal, failure: _Result) -> None:
        self._failures = failures
        self._signal = signal
        self._failure: _Result = failure

    def run(self, export: Callable[[], _Result], batch: Sequence[object] = ()) -> _Result:
        """`export()`'s result, or `FAILURE` if it raised; `batch` is emptied afterwards either way."""
        try:
            result = export()
        except Exception as exc:
            self._failures.record(self._signal, _reason(exc))
            return self._failure
        finally:
            release_batch(batch)
        if result is self._failure:
            self._failures.record(self._signal, "the exporter reported failure")
        return result


class GuardedSpanExporter(SpanExporter):
    """A span exporter whose failures are counted instead of raised; it empties each batch it was given."""

    def __init__(self, inner: SpanExporter, failures: ExportFailures) -> None:
        self._inner = inner
        self._guard = _ExportGuard(failures, "traces", SpanExportResult.FAILURE)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._guard.run(lambda: self._inner.export(spans), spans)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class GuardedLogExporter(LogRecordExporter):
    """A log exporter whose failures are counted instead of raised; it empties each batch it was given."""

    def __init__(self, inner: LogRecordExporter, failures: ExportFailures) -> None:
        self._inner = inner
        self._guard = _ExportGuard(failures, "logs", LogRecordExportResult.FAILURE)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        result = self._guard.run(lambda: self._inner.export(batch), batch)
        return LogRecordExportResult.SUCCESS if result is None else result

    def shutdown(self) -> None:
        self._inner.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


class GuardedMetricExporter(MetricExporter):
    """A metric exporter whose failures are counted instead of raised; keeps the inner one's temporality."""

    def __init__(self, inner: MetricExporter, failures: ExportFailures) -> None:
        super().__init__(*preferences_of(inner))
        self._inner = inner
        self._guard = _ExportGuard(failures, "metrics", MetricExportResult.FAILURE)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return self._guard.run(lambda: self._inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs))

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)
