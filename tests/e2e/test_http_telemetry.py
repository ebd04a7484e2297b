"""Through each app, its HTTP traced and measured (FastAPI both ways): each request counts once, as its operation,
including requests refused at the HTTP edge."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NoReturn
from uuid import uuid4

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from adapters.memory.repository import InMemoryUnitOfWork
from adapters.memory.telemetry import InMemoryMetrics, InMemoryTracing, in_memory_telemetry
from core.instrumentation import Telemetry
from core.semantic_conventions import OPERATIONS_TOTAL, Operation, operation_span_name
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import HttpSpanSettings, Settings
from ports.unit_of_work import UnitOfWork

from .apps import BASE_URL, INSTRUMENTED, Instrumented, asgi_app, instrumented_with


@dataclass
class Observed:
    client: httpx.AsyncClient
    metrics: InMemoryMetrics
    tracing: InMemoryTracing

    def outcomes(self) -> list[tuple[str, str, str | None]]:
        """(operation, outcome, error.type) of every operation counted so far."""
        errors = iter(p for p in self.metrics.points if p.instrument == "resource.operation.errors")
        counted = []
        for point in self.metrics.of(OPERATIONS_TOTAL):
            error_type = str(next(errors).attributes["error.type"]) if point.attributes["outcome"] == "error" else None
            counted.append((str(point.attributes["operation"]), str(point.attributes["outcome"]), error_type))
        return counted


def _transport(framework: Instrumented, unit_of_work: UnitOfWork, telemetry: Telemetry) -> httpx.ASGITransport:
    """`framework`'s app over the in-memory telemetry, its HTTP traced and measured by SDK providers of its own."""
    app_framework, http_spans = instrumented_with(framework, HttpSpanSettings())
    runtime = bootstrap(Settings(http_spans=http_spans), unit_of_work, telemetry)
    app = asgi_app(app_framework, runtime, tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    return httpx.ASGITransport(app=app)


@pytest.fixture(params=INSTRUMENTED)
async def observed(request: pytest.FixtureRequest) -> AsyncIterator[Observed]:
    telemetry, metrics, tracing, _ = in_memory_telemetry()
    transport = _transport(request.param, InMemoryUnitOfWork(), telemetry)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield Observed(client, metrics, tracing)


async def _create(observed: Observed, name: str, *dependencies: str) -> str:
    response = await observed.client.post("/resources", json={"name": name, "dependencies": list(dependencies)})
    assert response.status_code == 201
    identifier: str = response.json()["id"]
    return identifier


@pytest.mark.parametrize(
    ("method", "path", "content", "content_type", "operation"),
    [
        ("POST", "/resources", b"{", "application/json", "create"),
        ("POST", "/resources", b"{}", "text/plain", "create"),
        ("POST", "/resources", b'{"name": " "}', "application/json", "create"),
        ("GET", "/resources?limit=0", None, None, "list"),
        ("GET", "/resources/search?q=", None, None, "search"),
        ("GET", "/resources/not-a-uuid", None, None, "get"),
        ("PATCH", "/resources/not-a-uuid", b'{"name": 5}', "application/json", "update"),
        ("DELETE", "/resources/not-a-uuid?cascade=maybe", None, None, "delete"),
        ("GET", "/resources/not-a-uuid/dependencies", None, None, "dependencies"),
    ],
)
async def test_a_request_refused_at_the_edge_counts_once_as_a_validation_failure(
    observed: Observed, method: str, path: str, content: bytes | None, content_type: str | None, operation: Operation
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await observed.client.request(method, path, content=content, headers=headers)
    assert 400 <= response.status_code < 500
    assert observed.outcomes() == [(operation, "error", "validation")]
    [span] = [s for s in observed.tracing.spans if s.parent_id is None]
    assert (span.name, span.status, span.attributes["error.type"]) == (
        operation_span_name(operation),
        "ERROR",
        "validation",
    )


async def test_a_refusal_by_the_service_counts_once_with_its_own_error_type(observed: Observed) -> None:
    a = await _create(observed, "a")
    b = await _create(observed, "b", a)
    response = await observed.client.patch(f"/resources/{a}", json={"dependencies": [b]})
    assert response.status_code == 409
    assert observed.outcomes()[-1:] == [("update", "error", "circular_dependency")]
    assert len(observed.outcomes()) == 3


async def test_successes_count_once_each(observed: Observed) -> None:
    a = await _create(observed, "a")
    await observed.client.get(f"/resources/{a}")
    await observed.client.get("/resources/search?q=a")
    await observed.client.delete(f"/resources/{a}?cascade=true")
    assert observed.outcomes() == [
        ("create", "success", None),
        ("get", "success", None),
        ("search", "success", None),
        ("delete", "success", None),
    ]
    assert observed.metrics.resource_count == 0


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/health/live"), ("GET", "/docs"), ("GET", "/nowhere"), ("PUT", "/resources")]
)
async def test_requests_that_are_no_operation_count_nothing(observed: Observed, method: str, path: str) -> None:
    await observed.client.request(method, path)
    assert observed.outcomes() == []
    assert observed.tracing.spans == []


class _BrokenStore(InMemoryUnitOfWork):
    """A store whose every read and ping fails with an exception the service does not expect."""

    def read(self) -> NoReturn:
        raise RuntimeError("the store broke")

    def autocommit(self) -> NoReturn:
        raise RuntimeError("the store broke")

    async def ping(self) -> None:
        raise RuntimeError("the store broke")


@pytest.mark.parametrize("framework", INSTRUMENTED)
async def test_a_failure_of_the_service_is_logged_once_and_one_outside_any_operation_too(
    framework: Instrumented, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry, _, tracing, logs = in_memory_telemetry()
    transport = _transport(framework, _BrokenStore(), telemetry)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        with caplog.at_level(logging.ERROR, logger="resource_service.http"):
            assert (await client.get(f"/resources/{uuid4()}")).status_code == 500
            in_an_operation = [record for record in caplog.records if record.name == "resource_service.http"]
            assert (await client.get("/health/ready")).status_code == 500
            outside = [record for record in caplog.records if record.name == "resource_service.http"]
    # The operation's span and its operation.failed record hold the exception; the HTTP layer adds nothing.
    assert [record["event"] for record in logs.records] == ["operation.started", "operation.failed"]
    assert logs.records[-1]["exception.type"] == "RuntimeError"
    [span] = [span for span in tracing.spans if span.name == operation_span_name("get")]
    assert [str(exc) for exc in span.exceptions] == ["the store broke"]
    assert in_an_operation == []
    # No operation recorded the readiness probe's failure: the HTTP layer logs it, once.
    [probe_failure] = outside
    assert probe_failure.exc_info is not None
    assert str(probe_failure.exc_info[1]) == "the store broke"
