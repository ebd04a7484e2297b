"""In-memory adapters: they record every metric point, span and log record, for tests to assert on."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from adapters.structlog import StructlogLogging, processor_chain
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
    EVENT_LOOP_DELAY,
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


class InMemoryLogging(StructlogLogging):
    """The structlog adapter through production's processor chain, keeping each line in `lines`, parsed in `records`.

    The records carry the ids of the in-memory tracing's current span, where production's carry OpenTelemetry's.
    """

    def __init__(self, tracing: InMemoryTracing, service_name: str = "resource-service") -> None:
        self.records: list[dict[str, Any]] = []
        self.lines: list[str] = []
        shared, rendering = processor_chain(service_name, trace_context=_trace_context(tracing))
        logger = structlog.wrap_logger(
            _LineKeeper(self.lines, self.records),
            processors=[*shared, *rendering],
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        )
        super().__init__(logger.bind())


class _LineKeeper:
    """The logger at the end of the in-memory chain: keeps each rendered line, and the record it parses back to."""

    name = LOGGER_NAME

    def __init__(self, lines: list[str], records: list[dict[str, Any]]) -> None:
        self._lines = lines
        self._records = records

    def msg(self, line: str) -> None:
        self._lines.append(line)
        self._records.append(json.loads(line))

    debug = info = warning = error = critical = msg


def _trace_context(tracing: InMemoryTracing) -> Processor:
    """`trace_id` and `span_id` of the in-memory span current at emit time, if there is one."""

    def processor(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        ids = tracing.current_span_ids()
        if ids is not None:
            event_dict["trace_id"], event_dict["span_id"] = ids
        return event_dict

    return processor


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
