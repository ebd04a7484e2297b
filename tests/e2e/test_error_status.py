"""Span status of a failed request, through each app (FastAPI both ways): the operation span by the service's
instrumentation, the server span by HTTP.

A failed operation's span is ERROR with its `error.type`, whoever caused the failure. The HTTP server span
follows the HTTP semantic conventions: UNSET for a 4xx the client caused, ERROR for a 5xx. Each span holds the
exception at most once: the operation span as one `exception` event, the server span none.
"""

from __future__ import annotations

from uuid import uuid4

import pytest
from opentelemetry.trace import StatusCode

from core.semantic_conventions import Operation, operation_span_name

from .apps import INSTRUMENTED, Instrumented
from .instrumented_apps import Served, UnavailableStore, serving


def _assert_statuses(served: Served, operation: Operation, error_type: str, server_status: StatusCode) -> None:
    assert served.server_span().status.status_code == server_status
    span = served.operation_span(operation_span_name(operation))
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == error_type
    assert [event.name for event in span.events] == ["exception"]
    assert served.server_span().events == ()


@pytest.mark.parametrize("framework", INSTRUMENTED)
async def test_a_refusal_marks_the_operation_span_an_error_and_leaves_the_server_span_unset(
    framework: Instrumented,
) -> None:
    async with serving(framework) as served:
        assert (await served.client.post("/resources", json={"name": "api"})).status_code == 201
        refusals: list[tuple[str, str, dict[str, str] | None, int, Operation, str]] = [
            ("GET", f"/resources/{uuid4()}", None, 404, "get", "not_found"),
            ("POST", "/resources", {"name": "api"}, 409, "create", "conflict"),
            ("GET", "/resources/not-a-uuid", None, 422, "get", "validation"),
        ]
        for method, path, body, status, operation, error_type in refusals:
            served.forget_spans()
            assert (await served.client.request(method, path, json=body)).status_code == status
            _assert_statuses(served, operation, error_type, StatusCode.UNSET)


@pytest.mark.parametrize("framework", INSTRUMENTED)
async def test_a_failure_of_the_service_marks_both_spans_an_error(framework: Instrumented) -> None:
    async with serving(framework, UnavailableStore()) as served:
        assert (await served.client.get("/resources")).status_code == 503
        _assert_statuses(served, "list", "database", StatusCode.ERROR)
