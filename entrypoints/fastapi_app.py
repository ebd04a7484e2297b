"""The FastAPI app: mounts the shared routes; msgspec, not pydantic, reads and writes every body."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from entrypoints.bootstrap import Runtime, bootstrap, service_version
from entrypoints.http.api import (
    DOCUMENT_METHODS,
    OPENAPI_PATH,
    ROUTES,
    SERVED_PATHS,
    ApiResponse,
    Route,
    methods_shadowed_at,
    normalized_path,
    served_methods,
)
from entrypoints.http.docs_page import docs_responses
from entrypoints.http.exchange import answer_to, exchange, options_response, status_response
from entrypoints.http.openapi import openapi_response
from entrypoints.http_instrumentation import instrument_fastapi

FRAMEWORK = "fastapi"
TITLE = "Resource service (FastAPI)"


class NormalizePath:
    """Route `/resources/` and `//resources` as `/resources`, the way Litestar does, instead of redirecting."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "path": normalized_path(scope["path"])}
        await self.app(scope, receive, send)


def _response(api_response: ApiResponse) -> Response:
    return Response(
        content=api_response.body,
        status_code=api_response.status,
        headers={**api_response.headers, "x-framework": FRAMEWORK},
        media_type=api_response.media_type if api_response.body else None,
    )


def _endpoint(route: Route, runtime: Runtime) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return _response(await exchange(route, runtime.api, request, runtime.settings.max_body_bytes))

    endpoint.__name__ = route.endpoint.__name__
    return endpoint


def _document_endpoint(document: ApiResponse) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return _response(answer_to(request.method, document))

    return endpoint


async def _options(request: Request) -> Response:
    return _response(options_response(request.url.path))


async def _method_not_allowed(request: Request) -> Response:
    return _response(status_response(405, request.url.path, request.method))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _response(status_response(status, request.url.path, request.method))


def _mount(app: FastAPI, runtime: Runtime) -> None:
    for path in SERVED_PATHS:
        app.add_api_route(path, _options, methods=["OPTIONS"], include_in_schema=False)
        # Starlette tries routes in order, so PATCH /resources/search would reach /resources/{id}; Litestar says 405.
        shadowed = methods_shadowed_at(path)
        if shadowed:
            app.add_api_route(path, _method_not_allowed, methods=sorted(shadowed), include_in_schema=False)
    for route in ROUTES:
        app.add_api_route(
            route.path, _endpoint(route, runtime), methods=list(served_methods(route)), include_in_schema=False
        )


def create_app(
    runtime: Runtime | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> FastAPI:
    """The FastAPI app over `runtime` (built from the environment by default).

    HTTP requests are traced and measured (`http_instrumentation`) with the given providers, by default those
    of the runtime's observability; with neither, the app is not instrumented.
    """
    app_runtime = runtime or bootstrap(framework=FRAMEWORK)
    tracer_provider, meter_provider = app_runtime.observability.http_providers(tracer_provider, meter_provider)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await app_runtime.start()
        yield
        await app_runtime.stop()

    app = FastAPI(
        title=TITLE, version=service_version(), openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    _mount(app, app_runtime)
    documents = {OPENAPI_PATH: openapi_response(TITLE, service_version()), **docs_responses()}
    for path, document in documents.items():
        app.add_api_route(path, _document_endpoint(document), methods=list(DOCUMENT_METHODS), include_in_schema=False)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(NormalizePath)
    if tracer_provider is not None or meter_provider is not None:
        instrument_fastapi(app, tracer_provider=tracer_provider, meter_provider=meter_provider)
    return app
