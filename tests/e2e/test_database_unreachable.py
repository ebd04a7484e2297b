"""An unreachable database: both apps answer 503 problems quickly and reveal nothing about the database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from core.instrumentation import NoTelemetry
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings

from .apps import BASE_URL, Framework, asgi_app
from .support import PROBLEM_MEDIA_TYPE

# Nothing listens on port 1, so every connection attempt is refused.
UNREACHABLE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
LEAKED_WORDS = ("Traceback", "postgresql", "asyncpg", "SELECT", UNREACHABLE_URL, "127.0.0.1", "nowhere")
MAX_SECONDS = 5.0
SOME_ID = str(uuid4())

# (method, path, JSON body): every request is valid, so only the database can make it fail.
DATABASE_REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/health/ready", None),
    ("GET", "/resources", None),
    ("POST", "/resources", {"name": "db", "description": "the database"}),
    ("GET", "/resources/search?q=db", None),
    ("GET", f"/resources/{SOME_ID}", None),
    ("PATCH", f"/resources/{SOME_ID}", {"name": "renamed"}),
    ("DELETE", f"/resources/{SOME_ID}", None),
    ("DELETE", f"/resources/{SOME_ID}?cascade=true", None),
    ("GET", f"/resources/{SOME_ID}/dependencies?transitive=true", None),
]


@pytest.fixture
async def client(framework: Framework) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app over a runtime whose database cannot be reached."""
    runtime = bootstrap(Settings(database_url=UNREACHABLE_URL), telemetry=NoTelemetry())
    transport = httpx.ASGITransport(app=asgi_app(framework, runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client
    finally:
        await runtime.stop()


async def _timed(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    started = time.perf_counter()
    response = await client.request(method, path, json=body)
    elapsed = time.perf_counter() - started
    assert elapsed < MAX_SECONDS, f"{method} {path} took {elapsed:.1f} s"
    return response


def _assert_reveals_nothing(response: httpx.Response) -> None:
    body = response.text.casefold()
    leaked = [word for word in LEAKED_WORDS if word.casefold() in body]
    assert not leaked, f"the body reveals {leaked}: {response.text}"


@pytest.mark.parametrize(("method", "path", "body"), DATABASE_REQUESTS)
async def test_a_request_needing_the_database_is_a_503_problem(
    client: httpx.AsyncClient, framework: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    # Twice: a failed connection attempt must not leave the app in a worse state.
    for _ in range(2):
        response = await _timed(client, method, path, body)

        assert response.status_code == 503, response.text
        assert response.headers["x-framework"] == framework
        assert response.headers["content-type"].split(";")[0] == PROBLEM_MEDIA_TYPE
        problem = response.json()
        assert problem["type"].endswith("database-unavailable")
        assert problem["status"] == 503
        assert problem["title"]
        _assert_reveals_nothing(response)


async def test_liveness_does_not_need_the_database(client: httpx.AsyncClient) -> None:
    response = await _timed(client, "GET", "/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_liveness_stays_up_after_database_failures(client: httpx.AsyncClient) -> None:
    assert (await _timed(client, "GET", "/health/ready")).status_code == 503
    assert (await _timed(client, "GET", "/resources")).status_code == 503

    response = await _timed(client, "GET", "/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_invalid_input_is_still_reported_before_the_database_is_needed(client: httpx.AsyncClient) -> None:
    response = await _timed(client, "POST", "/resources", {"name": "   "})

    assert response.status_code == 422
    assert response.json()["type"].endswith("validation-error")
    _assert_reveals_nothing(response)
