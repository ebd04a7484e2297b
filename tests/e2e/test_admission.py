"""Admission control through both apps: a refusal answered the same way, traced and measured, and cheap to see.

Each test takes the worker's only slot itself (`AdmissionGate.enter`), so that what a request finds is certain.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from core.semantic_conventions import (
    ADMISSION_IN_FLIGHT,
    ADMISSION_LIMIT,
    ADMISSION_SHED,
    ADMISSION_WAITING,
    operation_span_name,
)
from entrypoints.http.admission import AdmissionGate
from entrypoints.settings import AdmissionSettings

from .apps import INSTRUMENTED, Instrumented
from .instrumented_apps import Served, serving
from .support import assert_problem, problem

ONE_SLOT = AdmissionSettings(max_concurrency=1, max_waiting=0, retry_after_s=2)
ONE_SLOT_ONE_WAITING = AdmissionSettings(max_concurrency=1, max_waiting=1, max_wait_s=0.05, retry_after_s=2)
OVERLOADED = problem(
    503, "overloaded", "Service overloaded", "the service is serving as many requests as it can; retry after 2 s"
)
# Never refused: the probes and the docs page with its document.
ALWAYS_ADMITTED = ["/health/live", "/health/ready", "/docs", "/schema/openapi.json"]


@pytest.fixture(params=INSTRUMENTED)
def framework(request: pytest.FixtureRequest) -> Instrumented:
    name: Instrumented = request.param
    return name


def gate_of(served: Served) -> AdmissionGate:
    gate = served.runtime.admission
    assert gate is not None
    return gate


def shed_counts(served: Served) -> dict[str, Any]:
    return {attributes["reason"]: point.value for _unit, attributes, point in served.metric_points(ADMISSION_SHED)}


def gauge(served: Served, name: str) -> Any:
    [(_unit, _attributes, point)] = served.metric_points(name)
    return point.value


async def test_a_request_beyond_the_bound_is_answered_503_overloaded_with_retry_after(
    framework: Instrumented,
) -> None:
    async with serving(framework, admission=ONE_SLOT) as served:
        assert await gate_of(served).enter() is None

        refused = await served.client.get("/resources")
        head = await served.client.head("/resources")

        assert_problem(refused, OVERLOADED)
        assert refused.headers["retry-after"] == "2"
        assert refused.headers["content-length"] == str(len(refused.content))
        assert refused.headers["x-framework"] == framework.removesuffix("-native")
        assert (head.status_code, head.content, head.headers["retry-after"]) == (503, b"", "2")
        assert shed_counts(served) == {"queue_full": 2, "wait_timeout": 0}


async def test_probes_and_docs_are_admitted_while_the_worker_is_full(framework: Instrumented) -> None:
    async with serving(framework, admission=ONE_SLOT) as served:
        assert await gate_of(served).enter() is None

        for path in ALWAYS_ADMITTED:
            assert (await served.client.get(path)).status_code == 200, path
        assert shed_counts(served) == {"queue_full": 0, "wait_timeout": 0}


async def test_a_refusal_has_its_server_span_and_duration_point_with_status_503(framework: Instrumented) -> None:
    async with serving(framework, admission=ONE_SLOT) as served:
        assert await gate_of(served).enter() is None

        await served.client.get("/resources")

        server = served.server_span()
        attributes = server.attributes or {}
        # FastAPI's native telemetry names a span by the route that served the request: none did.
        route = None if framework == "fastapi-native" else "/resources"
        assert (server.name, attributes.get("http.route"), attributes["http.response.status_code"]) == (
            f"GET {route}" if route else "GET",
            route,
            503,
        )
        assert [(point.get("http.route"), point["http.response.status_code"], point["error.type"]) for point in
                served.durations()] == [(route, 503, "503")]  # fmt: skip
        # Refused before the service: no operation ran (the resource count's background read may have).
        assert operation_span_name("list") not in {span.name for span in served.spans.get_finished_spans()}


async def test_a_refusal_is_not_logged_at_error_level(
    framework: Instrumented, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(framework, admission=ONE_SLOT) as served:
        assert await gate_of(served).enter() is None
        with caplog.at_level(logging.DEBUG):
            await served.client.get("/resources")

    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []


async def test_a_waiting_request_is_served_when_the_slot_frees(framework: Instrumented) -> None:
    async with serving(framework, admission=ONE_SLOT_ONE_WAITING) as served:
        gate = gate_of(served)
        assert await gate.enter() is None
        waiting = asyncio.create_task(served.client.get("/resources"))
        for _ in range(1_000):  # until the request, on the event loop, gets in line
            if gate.waiting:
                break
            await asyncio.sleep(0)

        assert (gauge(served, ADMISSION_IN_FLIGHT), gauge(served, ADMISSION_WAITING)) == (1, 1)
        assert gauge(served, ADMISSION_LIMIT) == 1
        gate.leave()

        assert (await waiting).status_code == 200
        assert (gate.in_flight, gate.waiting) == (0, 0)


async def test_a_request_that_waits_too_long_is_refused_for_its_wait(framework: Instrumented) -> None:
    async with serving(framework, admission=ONE_SLOT_ONE_WAITING) as served:
        assert await gate_of(served).enter() is None

        assert_problem(await served.client.get("/resources"), OVERLOADED)
        assert shed_counts(served) == {"queue_full": 0, "wait_timeout": 1}
