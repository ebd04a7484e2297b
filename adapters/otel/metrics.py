"""OtelMetrics: the metrics port on OpenTelemetry instruments named by the telemetry contract."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from core.semantic_conventions import (
    ADMISSION_IN_FLIGHT,
    ADMISSION_LIMIT,
    ADMISSION_SHED,
    ADMISSION_WAITING,
    CASCADE_SIZE,
    CASCADE_SIZE_BUCKETS,
    CIRCULAR_DEPENDENCY_DETECTED,
    DURATION_BUCKETS_S,
    ERROR_TYPES,
    INSTRUMENTATION_SCOPE,
    OPERATION_DURATION,
    OPERATION_ERRORS,
    OPERATIONS,
    OPERATIONS_TOTAL,
    REPOSITORY_DURATION,
    RESOURCE_COUNT,
    SHED_REASONS,
    Database,
    ErrorType,
    Operation,
    ShedReason,
    circular_dependency_attributes,
    count_attributes,
    duration_attributes,
    error_attributes,
    repository_attributes,
    shed_attributes,
)
from ports.metrics import AdmissionState, MetricsPort


class OtelMetrics(MetricsPort):
    """Instruments created once; `resource.count` is an observable gauge reporting the last count read."""

    def __init__(self, meter_provider: metrics.MeterProvider, version: str | None = None) -> None:
        meter = meter_provider.get_meter(INSTRUMENTATION_SCOPE, version)
        self._duration = meter.create_histogram(
            OPERATION_DURATION,
            unit="s",
            description="Duration of resource operations.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS_S),
        )
        self._operations = meter.create_counter(
            OPERATIONS_TOTAL, unit="{operation}", description="Resource operations by outcome."
        )
        self._errors = meter.create_counter(
            OPERATION_ERRORS, unit="{error}", description="Failed resource operations by error type."
        )
        self._cascade = meter.create_histogram(
            CASCADE_SIZE,
            unit="{resource}",
            description="Resources removed by one cascading delete.",
            explicit_bucket_boundaries_advisory=list(CASCADE_SIZE_BUCKETS),
        )
        self._circular = meter.create_counter(
            CIRCULAR_DEPENDENCY_DETECTED,
            unit="{operation}",
            description="Changes refused because they would close a cycle.",
        )
        self._repository = meter.create_histogram(
            REPOSITORY_DURATION,
            unit="s",
            description="Duration of repository calls (database round trips) by method and database system.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS_S),
        )
        self._resource_count: int | None = None
        meter.create_observable_gauge(
            RESOURCE_COUNT,
            [self._observe_count],
            unit="{resource}",
            description="Resources stored, as last read from the database.",
        )
        self._admission: AdmissionState | None = None
        for name, read, description in (
            (ADMISSION_IN_FLIGHT, attrgetter("in_flight"), "Requests being served, admitted by admission control."),
            (ADMISSION_WAITING, attrgetter("waiting"), "Requests waiting for admission control to give them a slot."),
            (ADMISSION_LIMIT, attrgetter("limit"), "The most requests admission control lets be served at once."),
        ):
            meter.create_observable_gauge(name, [self._observer(read)], unit="{request}", description=description)
        self._shed = meter.create_counter(
            ADMISSION_SHED, unit="{request}", description="Requests refused by admission control, by reason."
        )
        self._start_counters_at_zero()

    def _start_counters_at_zero(self) -> None:
        """Every series the counters can have exists from the start at 0, so that `increase()` sees a first event."""
        for operation in OPERATIONS:
            self._operations.add(0, count_attributes(operation, None))
            self._operations.add(0, count_attributes(operation, "internal"))
            for error_type in ERROR_TYPES:
                self._errors.add(0, error_attributes(operation, error_type))
        self._circular.add(0, circular_dependency_attributes("update"))
        for reason in SHED_REASONS:
            self._shed.add(0, shed_attributes(reason))

    def record_operation(self, operation: Operation, duration_s: float, error_type: ErrorType | None) -> None:
        self._duration.record(duration_s, duration_attributes(operation, error_type))
        self._operations.add(1, count_attributes(operation, error_type))
        if error_type is not None:
            self._errors.add(1, error_attributes(operation, error_type))

    def record_cascade(self, size: int) -> None:
        self._cascade.record(size)

    def record_circular_dependency(self, operation: Operation) -> None:
        self._circular.add(1, circular_dependency_attributes(operation))

    def record_repository_call(
        self, method: str, duration_s: float, database: Database, error_type: ErrorType | None
    ) -> None:
        self._repository.record(duration_s, repository_attributes(method, database, error_type))

    def set_resource_count(self, count: int) -> None:
        self._resource_count = count

    def _observe_count(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [] if self._resource_count is None else [Observation(self._resource_count)]

    def observe_admission(self, state: AdmissionState) -> None:
        self._admission = state

    def record_shed(self, reason: ShedReason) -> None:
        self._shed.add(1, shed_attributes(reason))

    def _observer(self, read: Callable[[AdmissionState], int]) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [] if self._admission is None else [Observation(read(self._admission))]

        return observe
