"""Both apps instrumented with SDK providers that record in memory, shared by the service's own telemetry: a test
sees the HTTP server span, the operation span under it and the HTTP metrics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from adapters.memory.repository import InMemoryUnitOfWork
from adapters.otel.metrics import OtelMetrics
from adapters.otel.tracing import OtelTracing
from core.errors import StorageUnavailable
from core.instrumentation import Telemetry
from core.semantic_conventions import INSTRUMENTATION_SCOPE
from entrypoints.bootstrap import Runtime, bootstrap
from entrypoints.http_instrumentation import instrument_fastapi
from entrypoints.litestar_app.telemetry import instrument_each_request
from entrypoints.settings import AdmissionSettings, HttpSpanSettings, Settings
from ports.logging import LoggingPort
from ports.noop import NoOpLogging
from ports.repository import AutocommitRepository, ResourceRepository

from .apps import BASE_URL, Instrumented, asgi_app, instrumented_with

REQUEST_DURATION = "http.server.request.duration"


class UnavailableStore(InMemoryUnitOfWork):
    """A store that cannot be reached: every read fails, so the service answers 503."""

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ResourceRepository]:
        raise StorageUnavailable("the store is down")
        yield  # never reached: makes this an async generator

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AutocommitRepository]:
        raise StorageUnavailable("the store is down")
        yield  # never reached: makes this an async generator


@dataclass
class Served:
    """A client of one instrumented app, and everything its providers recorded."""

    framework: Instrumented
    client: httpx.AsyncClient
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    runtime: Runtime

    def http_spans(self) -> list[ReadableSpan]:
        """Every span the HTTP instrumentation opened (the server span, or internal receive/send spans)."""
        return [s for s in self.spans.get_finished_spans() if _scope_name(s) != INSTRUMENTATION_SCOPE]

    def server_span(self) -> ReadableSpan:
        """The one span the HTTP instrumentation opened since the last `forget_spans`; it must be SERVER."""
        spans = self.http_spans()
        assert len(spans) == 1, f"expected exactly one HTTP span, got {[(s.name, s.kind) for s in spans]}"
        assert spans[0].kind == SpanKind.SERVER
        return spans[0]

    def operation_span(self, name: str) -> ReadableSpan:
        [span] = [s for s in self.spans.get_finished_spans() if s.name == name]
        return span

    def forget_spans(self) -> None:
        self.spans.clear()

    def metric_points(self, name: str) -> list[tuple[str | None, dict[str, Any], Any]]:
        """(unit, attributes, point) of each point of every instrument called `name`."""
        data = self.metrics.get_metrics_data()
        return [
            (metric.unit, dict(point.attributes or {}), point)
            for resource_metrics in (data.resource_metrics if data else [])
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def durations(self) -> list[dict[str, Any]]:
        """The attributes of each `http.server.request.duration` point, in a stable order."""
        points = [attributes for _unit, attributes, _point in self.metric_points(REQUEST_DURATION)]
        return sorted(points, key=lambda attributes: json.dumps(attributes, sort_keys=True))

    def duration_counts(self) -> list[int]:
        return [point.count for _unit, _attributes, point in self.metric_points(REQUEST_DURATION)]

    def http_metric_names(self) -> set[str]:
        data = self.metrics.get_metrics_data()
        return {
            metric.name
            for resource_metrics in (data.resource_metrics if data else [])
            for scope_metrics in resource_metrics.scope_metrics
            if scope_metrics.scope.name != INSTRUMENTATION_SCOPE
            for metric in scope_metrics.metrics
        }


def _scope_name(span: ReadableSpan) -> str | None:
    return span.instrumentation_scope.name if span.instrumentation_scope else None


def _instrument_again(framework: Instrumented, app: Any, tracer: TracerProvider, meter: MeterProvider) -> Any:
    """The app after a second instrumentation with the same providers (FastAPI's native way: by the instrumentor).

    A Litestar app takes its OpenTelemetryPlugin when it is built, once; what is left to run again is the step
    that follows, on the built app.
    """
    if framework == "litestar":
        instrument_each_request(app, HttpSpanSettings())
    else:
        instrument_fastapi(app, tracer_provider=tracer, meter_provider=meter, http_spans=HttpSpanSettings())
    return app


@asynccontextmanager
async def serving(
    framework: Instrumented,
    unit_of_work: InMemoryUnitOfWork | None = None,
    *,
    instrumented_twice: bool = False,
    http_spans: HttpSpanSettings | None = None,
    logging: LoggingPort | None = None,
    admission: AdmissionSettings | None = None,
) -> AsyncIterator[Served]:
    """`framework`'s app, instrumented its way with in-memory providers that the service's telemetry shares."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    telemetry = Telemetry(OtelMetrics(meter_provider), OtelTracing(tracer_provider), logging or NoOpLogging())
    app_framework, app_http_spans = instrumented_with(framework, http_spans or HttpSpanSettings())
    settings = Settings(http_spans=app_http_spans, admission=admission or AdmissionSettings())
    runtime = bootstrap(settings, unit_of_work or InMemoryUnitOfWork(), telemetry)
    app = asgi_app(app_framework, runtime, tracer_provider=tracer_provider, meter_provider=meter_provider)
    if instrumented_twice:
        app = _instrument_again(framework, app, tracer_provider, meter_provider)
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
            yield Served(framework, client, spans, metrics, runtime)
    finally:
        await runtime.stop()
        tracer_provider.shutdown()
        meter_provider.shutdown()
