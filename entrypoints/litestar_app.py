"""The Litestar app: mounts the shared routes; msgspec reads and writes every body through the shared path."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

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
    served_methods,
)
from entrypoints.http_instrumentation import instrument_litestar

FRAMEWORK = "litestar"
TITLE = "Resource service (Litestar)"


def _response(api_response: ApiResponse) -> Response[bytes]:
    return Response(
        content=api_response.body,
        status_code=api_response.status,
        headers={**api_response.headers, "x-framework": FRAMEWORK},
        media_type=api_response.media_type,
    )


class _Sent:
    """An `ApiResponse` as an ASGI app, with the headers `raw_headers` builds (those Litestar's response would send).

    A handler annotated to return an ASGI app has its answer sent as it is: no Response, no `to_asgi_response`
    merge, no header mapping. Exception handlers must return a Response, and keep `_response`.
    """

    __slots__ = ("_body", "_headers", "_status")

    def __init__(self, api_response: ApiResponse) -> None:
        self._status = api_response.status
        self._body = api_response.body
        self._headers = raw_headers(api_response, FRAMEWORK)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self._status, "headers": self._headers})
        await send({"type": "http.response.body", "body": self._body, "more_body": False})


def _litestar_path(path: str) -> str:
    return path.replace("{id}", "{id:str}")


def _handler(route: Route, runtime: Runtime) -> HTTPRouteHandler:
    async def endpoint(request: Request[Any, Any, Any]) -> _Sent:
        return _Sent(await dispatch(route, runtime.api, request, runtime.settings.max_body_bytes))

    # Status 200 is only the declared default: each response carries its own status.
    return HTTPRouteHandler(
        path=_litestar_path(route.path),
        http_method=served_methods(route),
        name=route.endpoint.__name__,
        status_code=200,
        include_in_schema=False,
    )(endpoint)


def _document_handler(path: str, document: ApiResponse) -> HTTPRouteHandler:
    async def serve_document(request: Request[Any, Any, Any]) -> _Sent:
        return _Sent(answer_to(request.method, document))

    return HTTPRouteHandler(path=path, http_method=list(DOCUMENT_METHODS), include_in_schema=False)(serve_document)


# Replaces Litestar's automatic OPTIONS handler, whose Allow header lists only some of the methods.
def _options_handler(path: str) -> HTTPRouteHandler:
    async def options(request: Request[Any, Any, Any]) -> _Sent:
        return _Sent(options_response(request.url.path))

    return HTTPRouteHandler(path=_litestar_path(path), http_method="OPTIONS", include_in_schema=False)(options)


# Litestar calls exception handlers synchronously: an async one would turn every error into a 500.
def _http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _response(status_response(status, request.url.path, request.method))


def create_app(
    runtime: Runtime | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> ASGIApp:
    """The Litestar app over `runtime` (built from the environment by default).

    Given a provider, the app's HTTP requests are traced or measured with it (`http_instrumentation`): the app
    is then returned inside the instrumentation's ASGI middleware, which passes lifespan events through. By
    default the providers are those of the runtime's telemetry set-up; with none, the app is not instrumented.
    """
    app_runtime = runtime or bootstrap(framework=FRAMEWORK)
    tracer_provider, meter_provider = app_runtime.telemetry_setup.http_providers(tracer_provider, meter_provider)

    documents = {OPENAPI_PATH: openapi_response(TITLE, service_version()), **docs_responses()}
    app = Litestar(
        route_handlers=[
            *(_options_handler(path) for path in SERVED_PATHS),
            *(_handler(route, app_runtime) for route in ROUTES),
            *(_document_handler(path, document) for path, document in documents.items()),
        ],
        lifespan=[app_runtime.lifespan],
        exception_handlers={HTTPException: _http_error, Exception: _http_error},
        openapi_config=None,
        logging_config=None,
        # The shared body reader enforces the configured limit, the same way in both apps.
        request_max_body_size=None,
    )
    if tracer_provider is None and meter_provider is None:
        return app
    return instrument_litestar(
        app,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        http_spans=app_runtime.settings.http_spans,
    )
