"""The FastAPI app: mounts the shared routes; msgspec, not pydantic, reads and writes every body."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException

from entrypoints.bootstrap import Runtime, bootstrap, service_version
from entrypoints.http.api import ROUTES, ApiResponse, Route
from entrypoints.http.exchange import exchange, status_response
from entrypoints.http.openapi import openapi_response

FRAMEWORK = "fastapi"
TITLE = "Resource service (FastAPI)"


def _response(api_response: ApiResponse, extra_headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        content=api_response.body,
        status_code=api_response.status,
        headers={**api_response.headers, **(extra_headers or {}), "x-framework": FRAMEWORK},
        media_type=api_response.media_type if api_response.body else None,
    )


def _endpoint(route: Route, runtime: Runtime) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        api_response = await exchange(
            route,
            runtime.api,
            path_params=request.path_params,
            query_string=request.scope["query_string"],
            headers=request.headers,
            body_chunks=request.stream(),
            max_body_size=runtime.settings.max_body_bytes,
        )
        return _response(api_response)

    endpoint.__name__ = route.endpoint.__name__
    return endpoint


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    allow = {"allow": exc.headers["allow"]} if exc.headers and "allow" in exc.headers else None
    return _response(status_response(exc.status_code), allow)


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """The FastAPI app over `runtime` (built from the environment by default)."""
    app_runtime = runtime or bootstrap()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await app_runtime.start()
        yield
        await app_runtime.stop()

    app = FastAPI(
        title=TITLE, version=service_version(), openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    for route in ROUTES:
        app.add_api_route(route.path, _endpoint(route, app_runtime), methods=[route.method], include_in_schema=False)
    document = openapi_response(TITLE, service_version())

    async def openapi_schema() -> Response:
        return _response(document)

    app.add_api_route("/schema/openapi.json", openapi_schema, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(HTTPException, _http_error)
    return app
