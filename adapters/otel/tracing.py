"""OtelTracing: the tracing port on the OpenTelemetry SDK (or API: any TracerProvider)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import TracebackType

from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from core.semantic_conventions import ATTR_ERROR_TYPE, INSTRUMENTATION_SCOPE, ErrorType
from ports.tracing import AttributeValue, SpanPort, TracingPort
from ports.tracing import SpanKind as PortSpanKind

_KINDS = {"INTERNAL": SpanKind.INTERNAL, "CLIENT": SpanKind.CLIENT}


class OtelSpan(SpanPort):
    """An OpenTelemetry span seen through the port."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.failed = False

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        self.span.set_attributes(attributes)

    def fail(self, exc: BaseException, error_type: ErrorType, *, record_exception: bool = True) -> None:
        self.failed = True
        self.span.set_attribute(ATTR_ERROR_TYPE, error_type)
        if record_exception:
            self.span.record_exception(exc)
        self.span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))


class _CurrentSpan(AbstractContextManager[SpanPort]):
    """A span started on entry and current until exit, when it ends; an exception that escapes marks it failed.

    What `start_as_current_span` does with the SDK's exception handling off, as one object rather than three
    generator-based context managers (ours, `start_as_current_span`, `use_span`): with a provider and no processor,
    1.5 to 3 us a span cheaper than `start_as_current_span` alone (13.4-14.7 against 15.5-16.3 us here).
    """

    __slots__ = ("_attributes", "_kind", "_name", "_port", "_token", "_tracer")

    def __init__(
        self, tracer: trace.Tracer, name: str, attributes: Mapping[str, AttributeValue] | None, kind: SpanKind
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._attributes = attributes
        self._kind = kind

    def __enter__(self) -> SpanPort:
        span = self._tracer.start_span(
            self._name,
            kind=self._kind,
            attributes=self._attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        self._token = context.attach(trace.set_span_in_context(span))
        self._port = OtelSpan(span)
        return self._port

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        span = self._port.span
        try:
            if exc is not None and not self._port.failed:
                span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
        finally:
            context.detach(self._token)
            span.end()


class OtelTracing(TracingPort):
    """Spans from one tracer."""

    def __init__(self, tracer_provider: trace.TracerProvider, version: str | None = None) -> None:
        self._tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, version)

    def span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None, kind: PortSpanKind = "INTERNAL"
    ) -> AbstractContextManager[SpanPort]:
        return _CurrentSpan(self._tracer, name, attributes, _KINDS[kind])
