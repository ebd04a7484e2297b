"""The FastAPI app: the API's routers, its exception handlers, FastAPI's own OpenAPI document and the docs page.

Read in this order: `routers.py` (the path operations), `dependencies.py` (what they take: the service, the unit of
work, each part of the request decoded by msgspec), `responses.py`, `errors.py` (exception handlers that answer with
problem documents), `middleware.py` (path normalisation, HEAD, the `x-framework` header) and `openapi.py`;
`native_telemetry.py` when FastAPI's own telemetry traces HTTP (FASTAPI_HTTP_TELEMETRY=native).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware

from entrypoints.bootstrap import Runtime, bootstrap, service_version
from entrypoints.fastapi_app import routers
from entrypoints.fastapi_app.errors import EXCEPTION_HANDLERS, unexpected_error
from entrypoints.fastapi_app.middleware import FrameworkHeader, HeadWithoutBody, NormalizePath
from entrypoints.fastapi_app.native_telemetry import native_telemetry, native_telemetry_middleware
from entrypoints.fastapi_app.openapi import add_msgspec_schemas, operation_id
from entrypoints.http.admission import AdmissionControl
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


def middleware(runtime: Runtime, native_telemetry: list[Middleware]) -> list[Middleware]:
    """The app's middleware: FastAPI's native telemetry corrections first, admission control last, in front of
    the routing (a refusal is traced and measured, and has the HEAD and x-framework treatment)."""
    gate, retry_after_s = runtime.admission, runtime.settings.admission.retry_after_s
    admission = [] if gate is None else [Middleware(AdmissionControl, gate=gate, retry_after_s=retry_after_s)]
    return [*native_telemetry, *MIDDLEWARE, *admission]


TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(
    runtime: Runtime | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> FastAPI:
    """The FastAPI app over `runtime` (built from the environment by default).

    HTTP requests are traced and measured with the given providers, by default those of the runtime's telemetry
    set-up; with neither, the app is not instrumented. By `opentelemetry-instrumentation-fastapi`
    (`http_instrumentation`), or with FASTAPI_HTTP_TELEMETRY=native by FastAPI's own telemetry (`native_telemetry`).
    """
    app_runtime = runtime or bootstrap(framework=FRAMEWORK)
    tracer_provider, meter_provider = app_runtime.telemetry_handle.http_providers(tracer_provider, meter_provider)
    http_spans = app_runtime.settings.http_spans
    native = http_spans.fastapi_telemetry == "native"

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
        middleware=middleware(app_runtime, native_telemetry_middleware(tracer_provider, http_spans) if native else []),
        # Off unless chosen: it would look up the global providers on every request, and trace it a second time
        # once any were installed.
        telemetry=native_telemetry(tracer_provider, meter_provider) if native else TELEMETRY_OFF,
    )
    app.state.runtime = app_runtime
    app.include_router(routers.resources)
    app.include_router(routers.health)
    app.include_router(routers.docs_page())
    add_msgspec_schemas(app)
    if not native and (tracer_provider is not None or meter_provider is not None):
        instrument_fastapi(app, tracer_provider=tracer_provider, meter_provider=meter_provider, http_spans=http_spans)
    return app
