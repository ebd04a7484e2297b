"""The FastAPI app: mounts the shared routes; msgspec, not pydantic, reads and writes every body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from fastapi import FastAPI, Request, Response
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider
from starlette.exceptions import HTTPException
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from entrypoints.bootstrap import Runtime, bootstrap, service_version
from entrypoints.http.dispatch import answer_to, dispatch, options_response, raw_headers, status_response
from entrypoints.http.docs_page import docs_responses
from entrypoints.http.openapi import openapi_response
from entrypoints.http.routes import (
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
from entrypoints.http_instrumentation import instrument_fastapi

FRAMEWORK = "fastapi"
TITLE = "Resource service (FastAPI)"


class NormalizePath:
    """Route `/resources/` and `//resources` as `/resources`, the way Litestar does, instead of redirecting."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            normalized = normalized_path(path)
            # A copy, so that the middleware outside (the HTTP instrumentation) keeps the path as received.
            if normalized != path:
                scope = {**scope, "path": normalized}
        await self.app(scope, receive, send)


class _Sent(Response):
    """An `ApiResponse` as Starlette's `Response` sends it, its headers built in one pass (`raw_headers`)."""

    def __init__(self, api_response: ApiResponse) -> None:
        # Not Response.__init__, which renders the body and merges the headers in several steps: the body is bytes
        # already, and raw_headers applies the rules it would.
        self.status_code = api_response.status
        self.body = api_response.body
        self.background = None
        self.raw_headers = raw_headers(api_response, FRAMEWORK)


Answer = Callable[[Request], Awaitable[ApiResponse]]


class _Endpoint:
    """A route's endpoint as a plain ASGI app: Starlette calls it once path and method match, and nothing else runs.

    FastAPI's own endpoints would add its request handling (dependencies, an exit stack, a response wrapper) around
    `dispatch`, which reads the request itself and never raises.
    """

    __slots__ = ("_answer",)

    def __init__(self, answer: Answer) -> None:
        self._answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _Sent(await self._answer(Request(scope, receive)))(scope, receive, send)


def _dispatching(route: Route, runtime: Runtime) -> Answer:
    async def answer(request: Request) -> ApiResponse:
        return await dispatch(route, runtime.api, request, runtime.settings.max_body_bytes)

    return answer


def _document(document: ApiResponse) -> Answer:
    async def answer(request: Request) -> ApiResponse:
        return answer_to(request.method, document)

    return answer


async def _options(request: Request) -> ApiResponse:
    return options_response(request.url.path)


async def _method_not_allowed(request: Request) -> ApiResponse:
    return status_response(405, request.url.path, request.method)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _Sent(status_response(status, request.url.path, request.method))


def _add(app: FastAPI, path: str, answer: Answer, methods: Iterable[str], name: str | None = None) -> None:
    app.router.routes.append(
        StarletteRoute(path, _Endpoint(answer), methods=list(methods), name=name, include_in_schema=False)
    )


def _mount(app: FastAPI, runtime: Runtime) -> None:
    # Starlette tries routes in order, so PATCH /resources/search would reach /resources/{id}; Litestar says 405.
    for path in SERVED_PATHS:
        shadowed = methods_shadowed_at(path)
        if shadowed:
            _add(app, path, _method_not_allowed, sorted(shadowed))
    for route in ROUTES:
        _add(app, route.path, _dispatching(route, runtime), served_methods(route), route.endpoint.__name__)


def _mount_options(app: FastAPI) -> None:
    # Last: each path's OPTIONS route is only tried after the routes that serve requests, matched in order.
    for path in SERVED_PATHS:
        _add(app, path, _options, ["OPTIONS"])


def create_app(
    runtime: Runtime | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> FastAPI:
    """The FastAPI app over `runtime` (built from the environment by default).

    HTTP requests are traced and measured (`http_instrumentation`) with the given providers, by default those
    of the runtime's telemetry set-up; with neither, the app is not instrumented.
    """
    app_runtime = runtime or bootstrap(framework=FRAMEWORK)
    tracer_provider, meter_provider = app_runtime.telemetry_setup.http_providers(tracer_provider, meter_provider)

    app = FastAPI(
        title=TITLE,
        version=service_version(),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=app_runtime.lifespan,
        # HTTP is instrumented by http_instrumentation alone, with this runtime's providers. FastAPI's own telemetry
        # would look up the global providers on every request, and trace it a second time once any were installed.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    _mount(app, app_runtime)
    documents = {OPENAPI_PATH: openapi_response(TITLE, service_version()), **docs_responses()}
    for path, document in documents.items():
        _add(app, path, _document(document), DOCUMENT_METHODS)
    _mount_options(app)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(NormalizePath)
    if tracer_provider is not None or meter_provider is not None:
        instrument_fastapi(
            app,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            http_spans=app_runtime.settings.http_spans,
        )
    return app
