"""The ports' no-op implementations: what "observability disabled" reports to. They accept every call and do nothing.

They live beside the protocols they implement, as the OpenTelemetry API keeps its no-op tracer and meter beside
its interfaces: they need nothing but the ports, and the core builds its off type from them
(`core.instrumentation.NoTelemetry`), which it could not do from an adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Final

from core.semantic_conventions import Database, ErrorType, Operation, ShedReason
from ports.logging import LoggingPort, LogValue
from ports.metrics import AdmissionState, MetricsPort
from ports.tracing import AttributeValue, SpanKind, SpanPort, TracingPort


class NoOpMetrics(MetricsPort):
    """Records nothing."""

    def record_operation(self, operation: Operation, duration_s: float, error_type: ErrorType | None) -> None:
        pass

    def record_cascade(self, size: int) -> None:
        pass

    def record_circular_dependency(self, operation: Operation) -> None:
        pass

    def record_repository_call(
        self, method: str, duration_s: float, database: Database, error_type: ErrorType | None
    ) -> None:
        pass

    def set_resource_count(self, count: int) -> None:
        pass

    def observe_admission(self, state: AdmissionState) -> None:
        pass

    def record_shed(self, reason: ShedReason) -> None:
        pass


class NoOpSpan(SpanPort):
    """A span that keeps nothing: one instance, `NO_OP_SPAN`, serves every caller."""

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        pass

    def fail(self, exc: BaseException, error_type: ErrorType, *, record_exception: bool = True) -> None:
        pass


NO_OP_SPAN: Final = NoOpSpan()
# One context manager for every span: nullcontext is reusable, and costs less than a generator per call.
NO_OP_SPAN_CONTEXT: Final[AbstractContextManager[SpanPort]] = nullcontext(NO_OP_SPAN)


class NoOpTracing(TracingPort):
    """Opens no spans; there is never a current trace."""

    def span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None, kind: SpanKind = "INTERNAL"
    ) -> AbstractContextManager[SpanPort]:
        return NO_OP_SPAN_CONTEXT


class NoOpLogging(LoggingPort):
    """Logs nothing."""

    def operation_started(self, operation: Operation, fields: Mapping[str, LogValue]) -> None:
        pass

    def operation_completed(self, operation: Operation, duration_ms: float, fields: Mapping[str, LogValue]) -> None:
        pass

    def operation_failed(
        self,
        operation: Operation,
        duration_ms: float,
        error_type: ErrorType,
        exc: BaseException,
        fields: Mapping[str, LogValue],
    ) -> None:
        pass
