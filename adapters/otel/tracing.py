"""OtelTracing: the tracing port on the OpenTelemetry SDK (or API: any TracerProvider)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from core.telemetry import ATTR_ERROR_TYPE, INSTRUMENTATION_SCOPE, ErrorType
from ports.tracing import AttributeValue, SpanPort, TraceIds, TracingPort
from ports.tracing import SpanKind as PortSpanKind

_KINDS = {"INTERNAL": SpanKind.INTERNAL, "CLIENT": SpanKind.CLIENT}


class OtelSpan(SpanPort):
    """An OpenTelemetry span seen through the port."""

    def __init__(self, span: Span) -> None:
        self._span = span
        self.failed = False

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        self._span.set_attributes(attributes)

    def fail(self, exc: BaseException, error_type: ErrorType, *, record_exception: bool = True) -> None:
        self.failed = True
        self._span.set_attribute(ATTR_ERROR_TYPE, error_type)
        if record_exception:
            self._span.record_exception(exc)
        self._span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))


class OtelTracing(TracingPort):
    """Spans from one tracer; W3C trace context through the globally configured propagator."""

    def __init__(self, tracer_provider: trace.TracerProvider, version: str | None = None) -> None:
        self._tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, version)

    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None, kind: PortSpanKind = "INTERNAL"
    ) -> Iterator[SpanPort]:
        with self._tracer.start_as_current_span(
            name, kind=_KINDS[kind], attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            port = OtelSpan(span)
            try:
                yield port
            except BaseException as exc:
                if not port.failed:
                    span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
                raise

    def current_ids(self) -> TraceIds | None:
        span_context = trace.get_current_span().get_span_context()
        if not span_context.is_valid:
            return None
        return TraceIds(trace.format_trace_id(span_context.trace_id), trace.format_span_id(span_context.span_id))

    def inject(self, carrier: MutableMapping[str, str]) -> None:
        propagate.inject(carrier)

    @contextmanager
    def continue_trace(self, carrier: Mapping[str, str]) -> Iterator[None]:
        token = context.attach(propagate.extract(carrier))
        try:
            yield
        finally:
            context.detach(token)
