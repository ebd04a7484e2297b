"""Each request's HTTP server span and metrics, the same in both apps; an app instrumented twice still makes one.

Each app is instrumented with SDK providers that record in memory, and the service traces and measures on
the same providers, so a test sees the HTTP server span, the operation span under it and the HTTP metrics.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import fastapi
import pytest
from fastapi.routing import iter_route_contexts
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor, _get_default_span_details
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id
from starlette.routing import Route

from adapters.memory.repository import InMemoryUnitOfWork
from core.instrumentation import NoTelemetry
from core.semantic_conventions import REPOSITORY_SPAN_PREFIX, Operation, operation_span_name
from entrypoints import fastapi_app
from entrypoints.bootstrap import bootstrap
from entrypoints.http.docs_page import DOCS_ASSET_PATHS, DOCS_PATH
from entrypoints.http_instrumentation import (
    FastApiSpanDetails,
    ServerSpanAttributes,
)
from entrypoints.settings import HttpSpanSettings, Settings
from ports.logging import LogValue
from ports.noop import NoOpLogging
from ports.repository import ResourceRepository

from .apps import FRAMEWORKS, INSTRUMENTED, Instrumented, asgi_app, instrumented_with
from .instrumented_apps import REQUEST_DURATION, Served, UnavailableStore, serving

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
# The keys of `http.server.request.duration` for a matched route (stable HTTP semantic conventions).
MATCHED_KEYS = {
    "http.request.method",
    "http.response.status_code",
    "http.route",
    "url.scheme",
    "network.protocol.version",
}


@pytest.fixture(params=INSTRUMENTED)
def framework(request: pytest.FixtureRequest) -> Instrumented:
    """Each app, and FastAPI's both ways of tracing HTTP (the instrumentor, FastAPI's native telemetry)."""
    instrumented: Instrumented = request.param
    return instrumented


@pytest.fixture
async def served(framework: Instrumented) -> AsyncIterator[Served]:
    """`framework`'s app (each, through the `framework` fixture), instrumented in memory."""
    async with serving(framework) as app:
        yield app


async def _create(served: Served, name: str = "api") -> str:
    response = await served.client.post("/resources", json={"name": name})
    assert response.status_code == 201, response.text
    identifier: str = response.json()["id"]
    return identifier


@pytest.mark.parametrize(
    ("method", "path", "status", "route"),
    [
        pytest.param("POST", "/resources", 201, "/resources", id="create"),
        pytest.param("GET", "/resources/{created}", 200, "/resources/{id}", id="get-by-id"),
        pytest.param("GET", "/resources/{unknown}", 404, "/resources/{id}", id="404-on-a-route"),
        pytest.param("PUT", "/resources", 405, "/resources", id="405"),
        pytest.param("DELETE", "/resources/{created}/dependencies", 405, "/resources/{id}/dependencies", id="405-id"),
        pytest.param("GET", "/resources/not-a-uuid", 422, "/resources/{id}", id="422"),
        pytest.param("HEAD", "/resources", 200, "/resources", id="head-list"),
        pytest.param("HEAD", "/resources/{created}", 200, "/resources/{id}", id="head-get-by-id"),
        pytest.param("HEAD", "/resources/{unknown}", 404, "/resources/{id}", id="head-404"),
        pytest.param("HEAD", "/resources/search", 422, "/resources/search", id="head-search-422"),
        pytest.param(
            "HEAD", "/resources/{created}/dependencies", 200, "/resources/{id}/dependencies", id="head-dependencies"
        ),
    ],
)
async def test_each_request_gets_one_server_span_named_by_its_route_template(
    served: Served, method: str, path: str, status: int, route: str
) -> None:
    created = await _create(served)
    served.forget_spans()
    concrete = path.format(created=created, unknown=uuid4())
    body = {"name": "other"} if method == "POST" else None

    response = await served.client.request(method, concrete, json=body)

    assert response.status_code == status
    span = served.server_span()
    assert span.name == f"{method} {route}"
    assert span.attributes is not None
    assert span.attributes["http.route"] == route
    assert span.attributes["http.request.method"] == method
    assert span.attributes["http.response.status_code"] == status
    assert span.attributes["url.scheme"] == "http"
    assert str(span.attributes["server.address"]).startswith("testserver")
    assert span.attributes["url.path"] == concrete
    # 4xx is the client's doing: the server span stays UNSET under the HTTP semantic conventions.
    assert span.status.status_code == StatusCode.UNSET


async def test_a_request_to_an_unknown_path_is_named_by_its_method_alone(served: Served) -> None:
    response = await served.client.get("/nowhere/at/all")

    assert response.status_code == 404
    span = served.server_span()
    assert span.name == "GET"
    assert span.attributes is not None
    assert "http.route" not in span.attributes
    assert span.attributes["http.response.status_code"] == 404
    [point] = served.durations()
    assert "http.route" not in point
    assert point["http.response.status_code"] == 404


async def test_health_probes_are_neither_traced_nor_measured(served: Served) -> None:
    for path in ("/health/live", "/health/ready"):
        assert (await served.client.get(path)).status_code == 200
        assert (await served.client.head(path)).status_code == 200
    assert served.spans.get_finished_spans() == ()
    await served.client.get("/resources")

    assert [s.name for s in served.http_spans()] == ["GET /resources"]
    assert [attributes["http.route"] for attributes in served.durations()] == ["/resources"]
    assert served.duration_counts() == [1]


async def test_the_docs_page_and_its_files_are_neither_traced_nor_measured(served: Served) -> None:
    for path in (DOCS_PATH, *DOCS_ASSET_PATHS):
        assert (await served.client.get(path)).status_code == 200
        assert (await served.client.head(path)).status_code == 200
    assert (await served.client.options(DOCS_PATH)).status_code == 204
    assert (await served.client.post(DOCS_PATH)).status_code == 405
    assert (await served.client.get(f"{DOCS_PATH}/unknown.js")).status_code == 404
    assert served.spans.get_finished_spans() == ()
    # Only /docs and what lies under it: a path that merely starts with the same letters is traced.
    assert (await served.client.get(f"{DOCS_PATH}x")).status_code == 404

    assert [s.name for s in served.http_spans()] == ["GET"]
    assert [attributes["http.response.status_code"] for attributes in served.durations()] == [404]


async def test_the_environment_excludes_more_urls_in_both_apps(
    framework: Instrumented, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "/resources/search")
    async with serving(framework) as served:
        await served.client.get("/resources/search?q=a")
        await served.client.get("/health/live")
        assert served.http_spans() == []
        # The service still traces its operation; it is the root, since no HTTP span was opened.
        assert served.operation_span("resource.search").parent is None
        assert served.durations() == []
        await served.client.get("/resources")
        assert [s.name for s in served.http_spans()] == ["GET /resources"]


async def test_captured_credential_headers_are_redacted_in_both_apps(
    framework: Instrumented, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "authorization,cookie,x-api-key,x-trace"
    )
    async with serving(framework) as served:
        headers = {
            "authorization": "Bearer s3cr3t",
            "cookie": "session=s3cr3t",
            "x-api-key": "s3cr3t",
            "x-trace": "kept",
        }
        await served.client.get("/resources", headers=headers)
        attributes = dict(served.server_span().attributes or {})
    assert attributes["http.request.header.x_trace"] == ("kept",)
    for header in ("authorization", "cookie", "x_api_key"):
        assert attributes[f"http.request.header.{header}"] == ("[REDACTED]",), header
    assert "s3cr3t" not in repr(attributes)


async def test_captured_response_headers_are_recorded_in_both_apps(
    framework: Instrumented, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "content-type,location")
    async with serving(framework) as served:
        location = (await served.client.post("/resources", json={"name": "captured"})).headers["location"]
        attributes = dict(served.server_span().attributes or {})
    assert attributes["http.response.header.content_type"] == ("application/json",)
    assert attributes["http.response.header.location"] == (location,)


@pytest.mark.parametrize(
    ("host", "address", "port"),
    [
        pytest.param("api.example.com:8443", "api.example.com", 8443, id="host-and-port"),
        pytest.param("API.example.com", "api.example.com", 80, id="the-scheme-s-default-port"),
        pytest.param("[2001:db8::1]:8080", "2001:db8::1", 8080, id="ipv6"),
    ],
)
async def test_server_address_and_port_are_the_host_the_client_asked_for_in_both_apps(
    served: Served, host: str, address: str, port: int
) -> None:
    await served.client.get("/resources", headers={"host": host, "x-forwarded-host": "spoofed.example.org"})

    attributes = served.server_span().attributes or {}
    assert (attributes["server.address"], attributes["server.port"]) == (address, port)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param([], {"server.address": "127.0.0.1", "server.port": 9081}, id="no-host-the-socket"),
        pytest.param([(b"host", b"api.example.com:port")], {"server.address": "api.example.com"}, id="bad-port"),
        pytest.param([(b"host", b"")], {"server.address": "127.0.0.1", "server.port": 9081}, id="empty-host"),
        pytest.param(
            [(b"x-forwarded-host", b"a.example.com"), (b"x-forwarded-host", b"b.example.com"), (b"host", b"c:1")],
            {"server.address": "a.example.com", "server.port": 443},
            id="the-first-forwarded-line",
        ),
    ],
)
def test_server_attributes_fall_back_to_the_socket_only_without_a_usable_host(
    headers: list[tuple[bytes, bytes]], expected: dict[str, Any]
) -> None:
    scope = {"scheme": "https", "server": ("127.0.0.1", 9081), "headers": headers, "query_string": b""}

    assert ServerSpanAttributes(HttpSpanSettings(trust_forwarded_host=True)).attributes(scope) == expected


async def test_a_trusted_x_forwarded_host_names_the_server_in_both_apps(framework: Instrumented) -> None:
    async with serving(framework, http_spans=HttpSpanSettings(trust_forwarded_host=True)) as served:
        forwarded = {"host": "10.0.0.7:9081", "x-forwarded-host": "api.example.com:8443, edge.internal"}
        await served.client.get("/resources", headers=forwarded)
        attributes = served.server_span().attributes or {}
        assert (attributes["server.address"], attributes["server.port"]) == ("api.example.com", 8443)

        served.forget_spans()
        await served.client.get("/resources", headers={"host": "api.example.com"})
        attributes = served.server_span().attributes or {}
        assert (attributes["server.address"], attributes["server.port"]) == ("api.example.com", 80)


async def test_the_server_span_keeps_the_query_s_names_but_not_its_values_in_both_apps(served: Served) -> None:
    await served.client.get("/resources/search", params={"q": "private plans", "limit": "5", "flag": ""})

    server = served.server_span()
    assert (server.attributes or {})["url.query"] == "q=REDACTED&limit=REDACTED&flag=REDACTED"
    assert "private" not in repr(dict(server.attributes or {}))
    # The operation span is where the search text is recorded.
    assert (served.operation_span("resource.search").attributes or {})["search.query"] == "private plans"


async def test_client_port_is_recorded_only_when_asked_for_in_both_apps(framework: Instrumented) -> None:
    async with serving(framework) as served:
        await served.client.get("/resources")
        attributes = served.server_span().attributes or {}
        assert attributes["client.address"] == "127.0.0.1"
        assert "client.port" not in attributes
    async with serving(framework, http_spans=HttpSpanSettings(client_port=True)) as served:
        await served.client.get("/resources")
        attributes = served.server_span().attributes or {}
        assert (attributes["client.address"], attributes["client.port"]) == ("127.0.0.1", 123)


async def test_a_response_without_content_length_records_no_size_of_an_earlier_one_in_both_apps(
    served: Served,
) -> None:
    created = await served.client.post("/resources", json={"name": "api"})
    deleted = await served.client.delete(f"/resources/{created.json()['id']}")

    assert (deleted.status_code, deleted.headers.get("content-length")) == (204, None)
    if served.framework == "fastapi-native":
        # A documented gap: FastAPI's native telemetry records no body sizes at all.
        assert not NOT_NATIVE_METRICS & served.http_metric_names()
        return
    sizes = {
        (attributes["http.request.method"], point.count, point.sum)
        for _unit, attributes, point in served.metric_points("http.server.response.body.size")
    }
    assert sizes == {("POST", 1, int(created.headers["content-length"]))}


async def test_an_incoming_traceparent_is_continued(served: Served) -> None:
    created = await _create(served)
    served.forget_spans()

    await served.client.get(f"/resources/{created}", headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"})

    server = served.server_span()
    assert format_trace_id(server.context.trace_id) == TRACE_ID
    assert server.parent is not None
    assert server.parent.is_remote
    assert format_span_id(server.parent.span_id) == CALLER_SPAN_ID
    operation = served.operation_span("resource.get")
    assert format_trace_id(operation.context.trace_id) == TRACE_ID
    assert operation.parent is not None
    assert operation.parent.span_id == server.context.span_id


@pytest.mark.parametrize(
    ("method", "path", "body", "operation"),
    [
        pytest.param("GET", "/resources/{created}", None, "get", id="get"),
        pytest.param("POST", "/resources", {"name": "other"}, "create", id="create"),
        pytest.param("PATCH", "/resources/{created}", {"name": "renamed"}, "update", id="update"),
        pytest.param("DELETE", "/resources/{created}", None, "delete", id="delete"),
    ],
)
async def test_an_incoming_traceparent_continues_into_the_operation_and_repository_spans(
    framework: Instrumented, method: str, path: str, body: dict[str, str] | None, operation: Operation
) -> None:
    """The path production takes to continue a caller's trace: the HTTP middleware, down to the store's calls."""
    logged = _TraceOfEachLogRecord()
    async with serving(framework, logging=logged) as served:
        created = await _create(served)
        served.forget_spans()
        logged.ids.clear()

        response = await served.client.request(
            method,
            path.format(created=created),
            json=body,
            headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"},
        )

        assert response.status_code < 300, response.text
        server = served.server_span()
        assert format_trace_id(server.context.trace_id) == TRACE_ID
        assert server.parent is not None
        assert server.parent.is_remote
        assert format_span_id(server.parent.span_id) == CALLER_SPAN_ID
        operation_span = served.operation_span(operation_span_name(operation))
        assert format_trace_id(operation_span.context.trace_id) == TRACE_ID
        assert operation_span.parent is not None
        assert operation_span.parent.span_id == server.context.span_id
        repository_spans = [s for s in served.spans.get_finished_spans() if s.name.startswith(REPOSITORY_SPAN_PREFIX)]
        assert repository_spans, "the operation made no repository call"
        for span in repository_spans:
            assert format_trace_id(span.context.trace_id) == TRACE_ID, span.name
            assert span.parent is not None
            assert span.parent.span_id == operation_span.context.span_id, span.name
        assert all(format_trace_id(s.context.trace_id) == TRACE_ID for s in served.spans.get_finished_spans())
        # The log adapters stamp each record with the span current when it is written (tests/unit/
        # test_structlog_adapter.py): here, the operation's span, in the caller's trace.
        assert logged.ids == [(TRACE_ID, format_span_id(operation_span.context.span_id))]


class _TraceOfEachLogRecord(NoOpLogging):
    """Notes the trace and span current at each operation log record, as the log adapters read them to stamp it."""

    def __init__(self) -> None:
        self.ids: list[tuple[str, str]] = []

    def operation_completed(self, operation: Operation, duration_ms: float, fields: Mapping[str, LogValue]) -> None:
        current = trace.get_current_span().get_span_context()
        self.ids.append((format_trace_id(current.trace_id), format_span_id(current.span_id)))


async def test_the_operation_span_is_a_child_of_the_server_span(served: Served) -> None:
    await served.client.post("/resources", json={"name": "api"})

    server = served.server_span()
    assert server.parent is None
    operation = served.operation_span("resource.create")
    assert operation.kind == SpanKind.INTERNAL
    assert operation.parent is not None
    assert operation.parent.span_id == server.context.span_id
    assert operation.context.trace_id == server.context.trace_id


async def test_a_head_request_is_the_operation_of_its_get_under_a_head_server_span(served: Served) -> None:
    created = await _create(served)
    served.forget_spans()
    for path in (
        "/resources",
        f"/resources/{created}",
        "/resources/search?q=api",
        f"/resources/{created}/dependencies",
    ):
        assert (await served.client.head(path)).status_code == 200
    assert (await served.client.head("/resources?limit=0")).status_code == 422

    server_names = {span.context.span_id: span.name for span in served.http_spans()}
    parents = {
        span.name: server_names[span.parent.span_id]
        for span in served.spans.get_finished_spans()
        if span.parent is not None and span.parent.span_id in server_names
    }
    assert parents == {
        "resource.list": "HEAD /resources",
        "resource.get": "HEAD /resources/{id}",
        "resource.search": "HEAD /resources/search",
        "resource.dependencies": "HEAD /resources/{id}/dependencies",
    }
    assert _operations_counted(served) == {
        ("create", "success"): 1,
        ("list", "success"): 1,
        ("list", "error"): 1,
        ("get", "success"): 1,
        ("search", "success"): 1,
        ("dependencies", "success"): 1,
    }


def _operations_counted(served: Served) -> dict[tuple[str, str], int]:
    """The (operation, outcome) series of `resource.operations` that counted something, with their values."""
    return {
        (attributes["operation"], attributes["outcome"]): point.value
        for _unit, attributes, point in served.metric_points("resource.operations")
        if point.value
    }


async def test_request_duration_is_measured_with_the_stable_attributes(served: Served) -> None:
    await served.client.post("/resources", json={"name": "api"})
    await served.client.get("/resources/not-a-uuid")
    await served.client.get("/nowhere")

    assert {unit for unit, _attributes, _point in served.metric_points(REQUEST_DURATION)} == {"s"}
    common = {"url.scheme": "http", "network.protocol.version": "1.1"}
    assert served.durations() == [
        {**common, "http.request.method": "GET", "http.response.status_code": 404},
        {**common, "http.request.method": "GET", "http.response.status_code": 422, "http.route": "/resources/{id}"},
        {**common, "http.request.method": "POST", "http.response.status_code": 201, "http.route": "/resources"},
    ]
    assert set(served.durations()[1]) == MATCHED_KEYS
    # The old conventions' histogram (milliseconds) is not emitted beside it.
    assert "http.server.duration" not in served.http_metric_names()


async def test_a_server_error_sets_error_type_on_the_span_and_the_metric(framework: Instrumented) -> None:
    async with serving(framework, UnavailableStore()) as served:
        response = await served.client.get("/resources")

        assert response.status_code == 503
        span = served.server_span()
        assert span.status.status_code == StatusCode.ERROR
        assert span.attributes is not None
        assert span.attributes["error.type"] == "503"
        [point] = served.durations()
        assert set(point) == MATCHED_KEYS | {"error.type"}
        assert (point["error.type"], point["http.response.status_code"]) == ("503", 503)


class WatchedStore(InMemoryUnitOfWork):
    """A store that tells when it is first read."""

    def __init__(self) -> None:
        super().__init__()
        self.was_read = asyncio.Event()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ResourceRepository]:
        self.was_read.set()
        async with super().read() as repository:
            yield repository


async def test_lifespan_runs_through_the_instrumentation(framework: Instrumented) -> None:
    store = WatchedStore()
    app_framework, http_spans = instrumented_with(framework, HttpSpanSettings())
    runtime = bootstrap(Settings(http_spans=http_spans), store, NoTelemetry())
    app = asgi_app(app_framework, runtime, tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    incoming: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, incoming.get, outgoing.put))

    await incoming.put({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(outgoing.get(), 5))["type"] == "lifespan.startup.complete"
    # The runtime started: its background task reads the store to report `resource.count`.
    await asyncio.wait_for(store.was_read.wait(), 5)
    await incoming.put({"type": "lifespan.shutdown"})
    assert (await asyncio.wait_for(outgoing.get(), 5))["type"] == "lifespan.shutdown.complete"
    await asyncio.wait_for(lifespan, 5)


# Not PUT /resources/search: the one request the apps name differently (see entrypoints/http_instrumentation.py).
SAME_REQUESTS: list[tuple[str, str, dict[str, str] | None]] = [
    ("POST", "/resources", {"name": "api"}),
    ("GET", "/resources", None),
    ("GET", "/resources/search?q=api", None),
    ("GET", f"/resources/{uuid4()}", None),
    ("GET", "/resources/not-a-uuid", None),
    ("PATCH", "/resources/not-a-uuid", {"name": "x"}),
    ("DELETE", f"/resources/{uuid4()}", None),
    ("GET", f"/resources/{uuid4()}/dependencies", None),
    ("PUT", "/resources", None),
    ("PATCH", "/resources/search", None),
    ("OPTIONS", f"/resources/{uuid4()}", None),
    ("GET", "/nowhere", None),
    ("GET", "/health/live", None),
    ("GET", "/schema/openapi.json", None),
    ("HEAD", "/resources", None),
    ("HEAD", f"/resources/{uuid4()}", None),
    ("HEAD", "/resources/search?q=api", None),
    ("HEAD", "/resources/not-a-uuid", None),
    ("HEAD", "/nowhere", None),
    ("HEAD", "/health/live", None),
]
# Served after normalising, but named by neither instrumentor way: both look up the route as received. FastAPI's
# native telemetry names them by the route that served them.
NON_CANONICAL: list[tuple[str, str]] = [
    ("/resources/", "/resources"),
    ("/resources/search/", "/resources/search"),
    (f"/resources/{uuid4()}/", "/resources/{id}"),
]
HEALTH_PROBES = sum(1 for _method, path, _body in SAME_REQUESTS if path.startswith("/health/"))
# What FastAPI's native telemetry does not record (docs/tracing-guide.md, "The HTTP server span").
NOT_NATIVE_METRICS = {"http.server.request.body.size", "http.server.response.body.size"}


def _comparable(span: ReadableSpan) -> tuple[str, SpanKind, StatusCode, dict[str, Any], bool]:
    return span.name, span.kind, span.status.status_code, dict(span.attributes or {}), span.parent is None


async def _record(
    framework: Instrumented, requests: list[tuple[str, str, dict[str, str] | None]]
) -> tuple[list[list[Any]], list[tuple[str, int]], set[str]]:
    """Per request, its HTTP spans; then each duration point's attributes and count; then the HTTP metrics."""
    async with serving(framework) as served:
        spans = []
        for method, path, body in requests:
            served.forget_spans()
            await served.client.request(method, path, json=body)
            spans.append([_comparable(span) for span in served.http_spans()])
        points = served.metric_points(REQUEST_DURATION)
        durations = sorted((json.dumps(attributes, sort_keys=True), point.count) for _u, attributes, point in points)
        return spans, durations, served.http_metric_names()


@pytest.mark.parametrize("fastapi", ["fastapi", "fastapi-native"])
async def test_both_apps_record_the_same_spans_and_metrics(fastapi: Instrumented) -> None:
    non_canonical = [] if fastapi == "fastapi-native" else [("GET", path, None) for path, _route in NON_CANONICAL]
    requests = SAME_REQUESTS + non_canonical
    fastapi_spans, fastapi_durations, fastapi_metrics = await _record(fastapi, requests)
    litestar_spans, litestar_durations, litestar_metrics = await _record("litestar", requests)

    for (method, path, _body), in_fastapi, in_litestar in zip(requests, fastapi_spans, litestar_spans, strict=True):
        assert in_fastapi == in_litestar, f"{method} {path}"
    assert sum(count for _attributes, count in fastapi_durations) == len(requests) - HEALTH_PROBES
    assert fastapi_durations == litestar_durations
    assert REQUEST_DURATION in fastapi_metrics
    assert fastapi_metrics == (
        litestar_metrics - NOT_NATIVE_METRICS if fastapi == "fastapi-native" else litestar_metrics
    )


async def test_fastapi_native_telemetry_names_a_non_canonical_path_by_the_route_that_served_it() -> None:
    async with serving("fastapi-native") as served:
        for path, route in NON_CANONICAL:
            served.forget_spans()
            await served.client.get(path)
            span = served.server_span()
            assert (span.name, (span.attributes or {}).get("http.route")) == (f"GET {route}", route), path
        assert sorted((point["http.route"], point["http.response.status_code"]) for point in served.durations()) == [
            ("/resources", 200),
            ("/resources/search", 422),
            ("/resources/{id}", 404),
        ]


SCRIPT = """
import asyncio, json
import httpx
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from adapters.memory.repository import InMemoryUnitOfWork
from core.instrumentation import NoTelemetry
from entrypoints import fastapi_app, litestar_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import HttpSpanSettings, Settings

async def metric_names(module, settings):
    reader = InMemoryMetricReader()
    runtime = bootstrap(settings, InMemoryUnitOfWork(), NoTelemetry())
    app = module.create_app(runtime, tracer_provider=TracerProvider(), meter_provider=MeterProvider([reader]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        await client.get("/nowhere")
    data = reader.get_metrics_data()
    return sorted(m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics)

async def main():
    native = Settings(http_spans=HttpSpanSettings(fastapi_telemetry="native"))
    return {
        "fastapi": await metric_names(fastapi_app, Settings()),
        "fastapi-native": await metric_names(fastapi_app, native),
        "litestar": await metric_names(litestar_app, Settings()),
    }

print(json.dumps(asyncio.run(main())))
"""


def _metric_names_in_a_new_process(opt_in: str | None) -> dict[str, list[str]]:
    """The HTTP metrics each app records in a process that starts with this OTEL_SEMCONV_STABILITY_OPT_IN."""
    env = {k: v for k, v in os.environ.items() if k != "OTEL_SEMCONV_STABILITY_OPT_IN"}
    if opt_in is not None:
        env["OTEL_SEMCONV_STABILITY_OPT_IN"] = opt_in
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    names: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return names


def test_an_instrumented_app_opts_in_to_the_stable_http_conventions() -> None:
    names = _metric_names_in_a_new_process(None)

    for framework in INSTRUMENTED:
        assert REQUEST_DURATION in names[framework], framework
        assert "http.server.duration" not in names[framework], framework


def test_a_deployment_choice_of_conventions_is_kept() -> None:
    names = _metric_names_in_a_new_process("http/dup")

    for framework in FRAMEWORKS:
        # http/dup: the old conventions' histogram (milliseconds) beside the new one.
        assert {REQUEST_DURATION, "http.server.duration"} <= set(names[framework]), framework
    # A documented gap: FastAPI's native telemetry does not read the variable, and keeps to the stable conventions.
    assert REQUEST_DURATION in names["fastapi-native"]
    assert "http.server.duration" not in names["fastapi-native"]


async def test_instrumenting_an_app_twice_records_one_server_span(framework: Instrumented) -> None:
    async with serving(framework, instrumented_twice=True) as served:
        await served.client.post("/resources", json={"name": "api"})

        server = served.server_span()
        assert server.name == "POST /resources"
        operation = served.operation_span("resource.create")
        assert operation.parent is not None
        assert operation.parent.span_id == server.context.span_id
        assert served.duration_counts() == [1]


@pytest.fixture
def globally_instrumented(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """FastAPIInstrumentor().instrument(), as if it had run before the app module was imported; its spans."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    instrumentor = FastAPIInstrumentor()
    uninstrumented = fastapi.FastAPI
    instrumentor.instrument(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(), exclude_spans=["receive", "send"]
    )
    assert fastapi.FastAPI is not uninstrumented, "the global instrumentor did not replace FastAPI"
    monkeypatch.setattr(fastapi_app, "FastAPI", fastapi.FastAPI)
    try:
        yield spans
    finally:
        instrumentor.uninstrument()


@pytest.mark.parametrize("fastapi", ["fastapi", "fastapi-native"])
async def test_the_global_fastapi_instrumentor_and_instrument_app_record_one_server_span(
    globally_instrumented: InMemorySpanExporter, fastapi: Instrumented
) -> None:
    async with serving(fastapi) as served:
        await served.client.post("/resources", json={"name": "api"})

        # The first instrumentation stays, alone: the global one, whose provider records elsewhere.
        assert served.http_spans() == []
        assert served.durations() == []
        [server] = globally_instrumented.get_finished_spans()
        assert (server.name, server.kind) == ("POST /resources", SpanKind.SERVER)
        operation = served.operation_span("resource.create")
        assert operation.parent is not None
        assert operation.parent.span_id == server.context.span_id


_ODD_PATHS = ["/", "/resources/", "//resources", "/nothing", "/docs/missing.js", "/resources/a/b", "/health/live/"]


@pytest.mark.parametrize("root_path", ["", "/api"])
def test_the_fastapi_span_details_are_those_fastapiinstrumentor_finds_for_every_route_method_and_path(
    root_path: str,
) -> None:
    """The route table the app's instrumentation uses names every request as the instrumentation's own lookup does."""
    app = fastapi_app.create_app(bootstrap(Settings(), InMemoryUnitOfWork(), NoTelemetry()))
    routes = list(iter_route_contexts(app.routes))
    assert all(isinstance(route.original_route, Route) for route in routes)
    paths = {str(route.path).replace("{id}", str(uuid4())) for route in routes} | set(_ODD_PATHS)
    fast = FastApiSpanDetails(routes)
    checked = 0
    for path in paths:
        for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW"]:
            scope = {"type": "http", "method": method, "path": root_path + path, "root_path": root_path, "app": app}
            assert fast(scope) == _get_default_span_details(scope), (method, path)
            checked += 1
    assert checked > 100
