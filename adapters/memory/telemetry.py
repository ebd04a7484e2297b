"""In-memory adapters: they record every metric point, span and log record, for tests to assert on."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from adapters.log_fields import (
    completed_fields,
    exception_fields,
    failed_fields,
    failure_level,
    is_service_failure,
    utc_timestamp,
)
from core.instrumentation import Telemetry
from core.semantic_conventions import (
    ADMISSION_IN_FLIGHT,
    ADMISSION_LIMIT,
    ADMISSION_SHED,
    ADMISSION_WAITING,
    ATTR_ERROR_TYPE,
    CASCADE_SIZE,
    CIRCULAR_DEPENDENCY_DETECTED,
    CONNECTION_TIMEOUTS,
    CONNECTION_USE_TIME,
    CONNECTION_WAIT_TIME,
    EVENT_COMPLETED,
    EVENT_FAILED,
    EVENT_LOOP_DELAY,
    EVENT_STARTED,
    LOGGER_NAME,
    OPERATION_DURATION,
    OPERATION_ERRORS,
    OPERATIONS_TOTAL,
    REPOSITORY_DURATION,
    RESOURCE_COUNT,
    Database,
    ErrorType,
    Operation,
    ShedReason,
    circular_dependency_attributes,
    count_attributes,
    duration_attributes,
    error_attributes,
    pool_attributes,
    repository_attributes,
    shed_attributes,
)
from ports.logging import LoggingPort, LogValue
from ports.metrics import AdmissionState, MetricsPort
from ports.saturation_metrics import ConnectionPoolState, SaturationMetricsPort
from ports.tracing import AttributeValue, SpanKind, SpanPort, TracingPort


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One measurement as the OpenTelemetry adapter would record it."""

    instrument: str
    value: float
    attributes: Mapping[str, str | int]


class InMemoryMetrics(MetricsPort):
    """Keeps every point in `points`, and the last reported resource count."""

    def __init__(self) -> None:
        self.points: list[MetricPoint] = []
        self.resource_count: int | None = None
        self.admission: AdmissionState | None = None

    def record_operation(self, operation: Operation, duration_s: float, error_type: ErrorType | None) -> None:
        self.points.append(MetricPoint(OPERATION_DURATION, duration_s, duration_attributes(operation, error_type)))
        self.points.append(MetricPoint(OPERATIONS_TOTAL, 1, count_attributes(operation, error_type)))
        if error_type is not None:
            self.points.append(MetricPoint(OPERATION_ERRORS, 1, error_attributes(operation, error_type)))

    def record_cascade(self, size: int) -> None:
        self.points.append(MetricPoint(CASCADE_SIZE, size, {}))

    def record_circular_dependency(self, operation: Operation) -> None:
        self.points.append(MetricPoint(CIRCULAR_DEPENDENCY_DETECTED, 1, circular_dependency_attributes(operation)))

    def record_repository_call(
        self, method: str, duration_s: float, database: Database, error_type: ErrorType | None
    ) -> None:
        attributes = repository_attributes(method, database, error_type)
        self.points.append(MetricPoint(REPOSITORY_DURATION, duration_s, attributes))

    def set_resource_count(self, count: int) -> None:
        self.resource_count = count
        self.points.append(MetricPoint(RESOURCE_COUNT, count, {}))

    def observe_admission(self, state: AdmissionState) -> None:
        self.admission = state

    def record_shed(self, reason: ShedReason) -> None:
        self.points.append(MetricPoint(ADMISSION_SHED, 1, shed_attributes(reason)))

    def collect(self) -> None:
        """A point for each observed gauge, as the OpenTelemetry adapter reports them at each collection."""
        if self.admission is not None:
            state = self.admission
            for instrument, value in (
                (ADMISSION_IN_FLIGHT, state.in_flight),
                (ADMISSION_WAITING, state.waiting),
                (ADMISSION_LIMIT, state.limit),
            ):
                self.points.append(MetricPoint(instrument, value, {}))

    def of(self, instrument: str) -> list[MetricPoint]:
        """The points recorded on one instrument."""
        return [point for point in self.points if point.instrument == instrument]


@dataclass(eq=False)
class RecordedSpan(SpanPort):
    """A span and everything done to it."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    kind: SpanKind = "INTERNAL"
    status: Literal["UNSET", "ERROR"] = "UNSET"
    exceptions: list[BaseException] = field(default_factory=list)
    ended: bool = False

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        self.attributes.update(attributes)

    def fail(self, exc: BaseException, error_type: ErrorType, *, record_exception: bool = True) -> None:
        self.status = "ERROR"
        if record_exception:
            self.exceptions.append(exc)
        self.attributes[ATTR_ERROR_TYPE] = error_type


class InMemoryTracing(TracingPort):
    """Keeps every span in `spans`, in the order they started."""

    def __init__(self) -> None:
        self.spans: list[RecordedSpan] = []
        self._current: ContextVar[RecordedSpan | None] = ContextVar("current_span", default=None)

    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None, kind: SpanKind = "INTERNAL"
    ) -> Iterator[SpanPort]:
        parent = self._current.get()
        trace_id = parent.trace_id if parent else secrets.token_hex(16)
        span = RecordedSpan(name, trace_id, secrets.token_hex(8), parent.span_id if parent else None, kind=kind)
        span.set_attributes(attributes or {})
        self.spans.append(span)
        token = self._current.set(span)
        try:
            yield span
        except BaseException:
            span.status = "ERROR"
            raise
        finally:
            span.ended = True
            self._current.reset(token)

    def current_span_ids(self) -> tuple[str, str] | None:
        """(trace id, span id) of the span current here, if any: what the in-memory log records carry."""
        current = self._current.get()
        return (current.trace_id, current.span_id) if current else None


class InMemoryLogging(LoggingPort):
    """Renders each record as one JSON line, as the real adapter does, and keeps both in `records` and `lines`."""

    def __init__(self, tracing: InMemoryTracing, service_name: str = "resource-service") -> None:
        self.records: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self._tracing = tracing
        self._service_name = service_name

    def operation_started(self, operation: Operation, fields: Mapping[str, LogValue]) -> None:
        self._emit("debug", EVENT_STARTED, operation, fields)

    def operation_completed(self, operation: Operation, duration_ms: float, fields: Mapping[str, LogValue]) -> None:
        self._emit("info", EVENT_COMPLETED, operation, {**fields, **completed_fields(duration_ms)})

    def operation_failed(
        self,
        operation: Operation,
        duration_ms: float,
        error_type: ErrorType,
        exc: BaseException,
        fields: Mapping[str, LogValue],
    ) -> None:
        failure = failed_fields(duration_ms, error_type, exc)
        if is_service_failure(error_type):
            failure |= exception_fields(exc)
        self._emit(failure_level(error_type), EVENT_FAILED, operation, {**fields, **failure})

    def _emit(self, level: str, event: str, operation: Operation, fields: Mapping[str, Any]) -> None:
        record: dict[str, Any] = {
            "timestamp": utc_timestamp(),
            "level": level,
            "event": event,
            "logger": LOGGER_NAME,
            "service.name": self._service_name,
            "operation": operation,
            **fields,
        }
        ids = self._tracing.current_span_ids()
        if ids is not None:
            record["trace_id"], record["span_id"] = ids
        line = json.dumps(record, ensure_ascii=False)
        self.lines.append(line)
        self.records.append(json.loads(line))


def in_memory_telemetry() -> tuple[Telemetry, InMemoryMetrics, InMemoryTracing, InMemoryLogging]:
    """A telemetry bundle of in-memory adapters, and each adapter for assertions."""
    metrics, tracing = InMemoryMetrics(), InMemoryTracing()
    logging = InMemoryLogging(tracing)
    return Telemetry(metrics, tracing, logging), metrics, tracing, logging


class InMemorySaturationMetrics(SaturationMetricsPort):
    """Keeps every recorded point in `points`, and reads the observed pools when asked (`pool_states`)."""

    def __init__(self) -> None:
        self.points: list[MetricPoint] = []
        self._pools: dict[str, Callable[[], ConnectionPoolState]] = {}

    def record_event_loop_delay(self, delay_s: float) -> None:
        self.points.append(MetricPoint(EVENT_LOOP_DELAY, delay_s, {}))

    def record_connection_wait(self, pool_name: str, wait_s: float) -> None:
        self.points.append(MetricPoint(CONNECTION_WAIT_TIME, wait_s, pool_attributes(pool_name)))

    def record_connection_timeout(self, pool_name: str) -> None:
        self.points.append(MetricPoint(CONNECTION_TIMEOUTS, 1, pool_attributes(pool_name)))

    def record_connection_use(self, pool_name: str, use_s: float) -> None:
        self.points.append(MetricPoint(CONNECTION_USE_TIME, use_s, pool_attributes(pool_name)))

    def observe_connection_pool(self, pool_name: str, read: Callable[[], ConnectionPoolState]) -> None:
        self._pools[pool_name] = read

    def pool_states(self) -> dict[str, ConnectionPoolState]:
        """Each observed pool as it is now: what a collection of the metrics would report."""
        return {name: read() for name, read in self._pools.items()}

    def of(self, instrument: str) -> list[MetricPoint]:
        """The points recorded on one instrument."""
        return [point for point in self.points if point.instrument == instrument]
