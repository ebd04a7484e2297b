"""What FastAPI's idiom costs a GET by id, in process: `python -m tests.benchmarks.fastapi_idiom [ROUNDS] [N]`.

Four variants of the project's `GET /resources/{id}` over the in-memory store, observability off, each the app's own
middleware and exception handlers: the path operation as written (the service and the path id each a `Depends`, in
an included router), the id a plain `str` parameter, the service read from `request.app.state` (no dependency), and
the app's own routes registered flat on the app instead of through `include_router`. Interleaved rounds, medians of
microseconds per request (wall time of `await app(scope, receive, send)`).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response

from adapters.memory.repository import InMemoryUnitOfWork
from core.instrumentation import NoTelemetry
from core.model import ResourceDraft
from entrypoints import fastapi_app
from entrypoints.bootstrap import Runtime, bootstrap
from entrypoints.fastapi_app import routers
from entrypoints.fastapi_app.dependencies import ResourceId, ServiceDep
from entrypoints.fastapi_app.errors import EXCEPTION_HANDLERS
from entrypoints.fastapi_app.responses import MsgspecJSONResponse
from entrypoints.http import dto
from entrypoints.http.decoding import decode_id
from entrypoints.settings import Settings

OFF: Any = {"tracing": False, "metrics": False, "logs": False}


async def two_dependencies(id: ResourceId, service: ServiceDep) -> Response:
    return MsgspecJSONResponse(dto.ResourceOut.of(await service.get(id.value)))


async def id_as_str(id: str, service: ServiceDep) -> Response:
    return MsgspecJSONResponse(dto.ResourceOut.of(await service.get(decode_id(id).value)))


async def no_dependency(id: str, request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    return MsgspecJSONResponse(dto.ResourceOut.of(await runtime.service.get(decode_id(id).value)))


def bare_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(telemetry=OFF, middleware=fastapi_app.MIDDLEWARE, exception_handlers=EXCEPTION_HANDLERS)
    app.state.runtime = runtime
    return app


def with_handler(handler: Callable[..., Awaitable[Response]]) -> Callable[[Runtime], FastAPI]:
    def build(runtime: Runtime) -> FastAPI:
        app, router = bare_app(runtime), APIRouter(prefix="/resources")
        router.get("/{id}")(handler)
        app.include_router(router)
        return app

    return build


def flat(runtime: Runtime) -> FastAPI:
    app = bare_app(runtime)
    for route in routers.resources.routes:
        app.router.routes.append(route)
    return app


VARIANTS: dict[str, Callable[[Runtime], FastAPI]] = {
    "as written": lambda runtime: fastapi_app.create_app(runtime),
    "id a str": with_handler(id_as_str),
    "no dependency": with_handler(no_dependency),
    "two dependencies, one route": with_handler(two_dependencies),
    "routes flat": flat,
}


async def timed(app: FastAPI, path: str, requests: int) -> float:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "server": ("bench", 80),
    }
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(scope), receive, send)
    elapsed = time.perf_counter() - started
    assert statuses == {200}, statuses
    return elapsed / requests * 1e6


async def run(rounds: int, requests: int) -> dict[str, float]:
    apps = {}
    for name, build in VARIANTS.items():
        runtime = bootstrap(Settings(), InMemoryUnitOfWork(), NoTelemetry())
        resource = await runtime.service.create(ResourceDraft("bench", ""))
        apps[name] = (build(runtime), f"/resources/{resource.id}")
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, (app, path) in apps.items():
            samples[name].append(await timed(app, path, requests))
    return {name: statistics.median(values) for name, values in samples.items()}


if __name__ == "__main__":
    arguments = [int(argument) for argument in sys.argv[1:3]]
    for name, microseconds in asyncio.run(run(*(arguments or [7, 1500]))).items():
        print(f"{name:30} {microseconds:8.1f} us")
