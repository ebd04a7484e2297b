"""The FastAPI app: the API's routers, its exception handlers, FastAPI's own OpenAPI document and the docs page.

Read in this order: `routers.py` (the path operations), `dependencies.py` (what they take: the service, the unit of
work, each part of the request decoded by msgspec), `responses.py`, `errors.py` (exception handlers that answer with
problem documents), `middleware.py` (path normalisation, HEAD, the `x-framework` header) and `openapi.py`.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware

from entrypoints.bootstrap import Runtime, bootstrap, service_version
from entrypoints.fastapi_app import routers
from entrypoints.fastapi_app.errors import EXCEPTION_HANDLERS, unexpected_error
from entrypoints.fastapi_app.middleware import FrameworkHeader, HeadWithoutBody, NormalizePath
from entrypoints.fastapi_app.openapi import add_msgspec_schemas, operation_id
from entrypoints.http.docs_page import OPENAPI_PATH
from entrypoints.http_instrumentation import instrument_fastapi

__all__ = ["FRAMEWORK", "TITLE", "create_app"]

FRAMEWORK = "fastapi"
TITLE = "Resource service (FastAPI)"

# Outermost first. `unexpected_error` answers inside the HEAD and x-framework middleware, so that a 500 has both.
MIDDLEWARE = [
    Middleware(FrameworkHeader, framework=FRAMEWORK),
    Middleware(HeadWithoutBody),
    Middleware(ExceptionMiddleware, handlers={Exception: unexpected_error}),
    Middleware(NormalizePath),
]


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
        openapi_url=OPENAPI_PATH,
        # FastAPI's docs page loads Swagger UI from a CDN; `routers.docs_page` serves its own copy.
        docs_url=None,
        redoc_url=None,
        # NormalizePath has routed `/resources/` as `/resources`: a 404 needs no second pass for a redirect.
        redirect_slashes=False,
        generate_unique_id_function=operation_id,
        lifespan=app_runtime.lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=MIDDLEWARE,
        # HTTP is instrumented by http_instrumentation alone, with this runtime's providers. FastAPI's own telemetry
        # would look up the global providers on every request, and trace it a second time once any were installed.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = app_runtime
    app.include_router(routers.resources)
    app.include_router(routers.health)
    app.include_router(routers.docs_page())
    add_msgspec_schemas(app)
    if tracer_provider is not None or meter_provider is not None:
        instrument_fastapi(
            app,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            http_spans=app_runtime.settings.http_spans,
        )
    return app
