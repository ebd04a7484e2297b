"""The Litestar app: controllers over the service, msgspec Structs in and out, Litestar's own OpenAPI document.

- `controllers.py`: the handlers, thin: each decodes its request, calls the service and answers a Struct.
- `dependencies.py`: what the app injects: the runtime's service and unit of work.
- `request_parts.py`: each part of a request decoded by the shared msgspec path, which names every invalid field.
- `errors.py`: the one mapping from exceptions to problem documents.
- `hooks.py`: what every response gets on its way out (`x-framework`, HEAD without a body, a complete `Allow`).
- `openapi.py`: the document at /schema/openapi.json.
- `telemetry.py`: the HTTP server spans and metrics, through Litestar's `OpenTelemetryPlugin`.
- admission control (`entrypoints/http/admission.py`, the same as FastAPI's) as the app's middleware.

The interactive docs page and its files are served as `docs_page.py` builds them (`docs_page` below), not by
Litestar's Swagger render plugin: that one serves under the document's router (/schema, not /docs), loads Swagger UI
from a CDN unless given other URLs, and starts it with an inline script, which the page's Content-Security-Policy
forbids.

Not advanced-alchemy's `SQLAlchemyPlugin`: it gives each request an ORM session, which its before-send handler
closes (or commits) as the answer goes out, and disposes of the engine when the app stops. Here the service's unit
of work (`adapters/sqla/unit_of_work.py`) opens one connection and transaction per service operation, with the
isolation level and locks that operation needs, on the engine `bootstrap` builds for every entrypoint and
`Runtime.stop` disposes of; the service may also run on the in-memory unit of work, with no engine at all. A
request-scoped session would be a second, unused transaction beside the one that does the work, and a second owner
of the engine.
"""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod, Litestar, Request, Response, route
from litestar.middleware import DefineMiddleware
from litestar.plugins import PluginProtocol
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from entrypoints.bootstrap import Runtime, bootstrap, service_version
from entrypoints.http.admission import AdmissionControl
from entrypoints.http.docs_page import docs_documents
from entrypoints.litestar_app.controllers import HealthController, ResourceController
from entrypoints.litestar_app.dependencies import runtime_dependencies
from entrypoints.litestar_app.errors import exception_handlers
from entrypoints.litestar_app.hooks import (
    allow_every_method_of_the_path,
    drop_the_body_of_head_answers,
    name_the_framework,
)
from entrypoints.litestar_app.openapi import MsgspecSchemas, openapi_config
from entrypoints.litestar_app.telemetry import instrument_each_request, telemetry_plugin

FRAMEWORK = "litestar"
TITLE = "Resource service (Litestar)"


@route(list(docs_documents()), http_method=[HttpMethod.GET, HttpMethod.HEAD], include_in_schema=False)
async def docs_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The docs page, or one of the files it loads, with its own Content-Type and caching headers."""
    document = docs_documents()[request.scope["path"]]
    return Response(document.body, headers=document.headers)


def create_app(
    runtime: Runtime | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Litestar:
    """The Litestar app over `runtime` (built from the environment by default).

    Given a provider, the app's HTTP requests are traced or measured with it, through Litestar's OpenTelemetry
    plugin (`telemetry.py`). By default the providers are those of the runtime's telemetry set-up; with none,
    the app is not instrumented.
    """
    app_runtime = runtime or bootstrap(framework=FRAMEWORK)
    tracer_provider, meter_provider = app_runtime.telemetry_handle.http_providers(tracer_provider, meter_provider)
    http_spans = app_runtime.settings.http_spans
    instrumented = tracer_provider is not None or meter_provider is not None
    plugins: list[PluginProtocol] = [MsgspecSchemas()]
    if instrumented:
        plugins.append(
            telemetry_plugin(tracer_provider=tracer_provider, meter_provider=meter_provider, http_spans=http_spans)
        )
    app = Litestar(
        route_handlers=[ResourceController, HealthController, docs_page],
        dependencies=runtime_dependencies(app_runtime),
        exception_handlers=exception_handlers(app_runtime),
        before_send=[name_the_framework(FRAMEWORK), drop_the_body_of_head_answers, allow_every_method_of_the_path],
        lifespan=[app_runtime.lifespan],
        openapi_config=openapi_config(TITLE, service_version()),
        plugins=plugins,
        request_max_body_size=app_runtime.settings.max_body_bytes,
        logging_config=None,
        middleware=admission_middleware(app_runtime),
    )
    if instrumented:
        instrument_each_request(app, http_spans)
    return app


def admission_middleware(runtime: Runtime) -> list[DefineMiddleware]:
    """Admission control around each route's handler, once Litestar has routed the request (so, unlike under
    FastAPI, a path no route serves is answered 404 even while the worker sheds load)."""
    if runtime.admission is None:
        return []
    # Typed with the plain ASGI types (Starlette's aliases); Litestar types an ASGI app with its own scope types.
    admission_control: Any = AdmissionControl
    return [
        DefineMiddleware(
            admission_control, gate=runtime.admission, retry_after_s=runtime.settings.admission.retry_after_s
        )
    ]
