"""Canary for `entrypoints/_compat/otel_instrumentation.py`: what the apps rely on in OpenTelemetry's ASGI and FastAPI
instrumentations.

A failure here means the release under test changed what that module relies on: read its docstring before raising
the bound on opentelemetry-instrumentation-asgi and -fastapi in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import httpx
from fastapi import FastAPI, Response
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.types import ASGIApp

from entrypoints._compat.otel_instrumentation import PerRequestInstrumentation, wrap_the_instrumentor_middleware

CHANGED = (
    f"opentelemetry-instrumentation-asgi {version('opentelemetry-instrumentation-asgi')} / -fastapi"
    f" {version('opentelemetry-instrumentation-fastapi')} changed under entrypoints/_compat/otel_instrumentation.py"
)
BODY_SIZE = "http.server.response.body.size"


def _app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, telemetry={"tracing": False, "metrics": False})

    @app.get("/sized")
    async def sized() -> Response:
        return Response(b"x" * 100)

    @app.delete("/empty")
    async def empty() -> Response:
        return Response(status_code=204)

    return app


def _instrumented(app: FastAPI) -> tuple[InMemorySpanExporter, InMemoryMetricReader]:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, meter_provider=MeterProvider([reader]), exclude_spans=["send", "receive"]
    )
    return spans, reader


def _body_sizes(reader: InMemoryMetricReader) -> dict[str, int]:
    """`http.server.response.body.size` summed per route (whichever of the two conventions' names it has)."""
    sizes: dict[str, int] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name in (BODY_SIZE, "http.server.response.size"):
                    for point in metric.data.data_points:
                        attributes = point.attributes or {}
                        route = str(attributes.get("http.route", attributes.get("http.target", "")))
                        sizes[route] = sizes.get(route, 0) + int(getattr(point, "sum", 0))
    return sizes


async def _get_then_delete(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        assert (await client.get("/sized")).status_code == 200
        assert (await client.delete("/empty")).status_code == 204


def test_the_instrumentor_s_stack_is_its_middleware_inside_server_error_middleware() -> None:
    app = _app()
    _instrumented(app)
    seen: list[OpenTelemetryMiddleware] = []

    def keep(middleware: OpenTelemetryMiddleware) -> ASGIApp:
        seen.append(middleware)
        return middleware

    wrap_the_instrumentor_middleware(app, span_details=lambda: None, wrap=keep)
    app.build_middleware_stack()

    assert len(seen) == 1, f"{CHANGED}: FastAPIInstrumentor's stack is no longer ServerErrorMiddleware(its middleware)"


async def test_the_instrumentor_s_middleware_names_spans_by_its_default_span_details() -> None:
    app = _app()
    spans, _reader = _instrumented(app)

    def details(scope: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        return f"named {scope['path']}", {}

    wrap_the_instrumentor_middleware(app, span_details=lambda: details, wrap=lambda middleware: middleware)
    await _get_then_delete(app)

    assert [span.name for span in spans.get_finished_spans()] == ["named /sized", "named /empty"], (
        f"{CHANGED}: the middleware no longer names its span by `default_span_details`"
    )


async def test_the_middleware_still_keeps_one_content_length_for_every_request() -> None:
    """The upstream bug the per-request copy is for: when this fails, upstream has fixed it (PR #5081)."""
    app = _app()
    _spans, reader = _instrumented(app)
    await _get_then_delete(app)

    assert _body_sizes(reader).get("/empty", 0) == 100, (
        f"{CHANGED}: a 204 no longer records the response before it: drop PerRequestInstrumentation's copy"
    )


async def test_a_copy_per_request_keeps_each_response_s_own_content_length() -> None:
    app = _app()
    spans, reader = _instrumented(app)

    def per_request(middleware: OpenTelemetryMiddleware) -> ASGIApp:
        return PerRequestInstrumentation(middleware, client_port=True)

    wrap_the_instrumentor_middleware(app, span_details=lambda: None, wrap=per_request)
    await _get_then_delete(app)

    assert len(spans.get_finished_spans()) == 2, f"{CHANGED}: a copy of the middleware no longer records"
    assert _body_sizes(reader).get("/empty", 0) == 0, f"{CHANGED}: the middleware keeps state off its instance dict"
