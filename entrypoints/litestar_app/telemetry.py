"""The app's HTTP server spans and metrics: Litestar's `OpenTelemetryPlugin`, with the runtime's providers.

The plugin puts the ASGI `OpenTelemetryMiddleware` around Litestar's router, so every request gets its span, a
404 or a 405 too. Configured here through its public options:
- `scope_span_details_extractor`: the span is named `METHOD /route/{template}` with `http.route`, or by its method
  alone when no route matches; the route is looked up ahead, in Litestar's own router
  (`entrypoints/_compat/litestar.py`), since the middleware also takes the metric's attributes before routing;
- `server_request_hook_handler`: `server.address`/`server.port` from the Host the client asked for, `url.query`
  without its values (`http_instrumentation.ServerSpanAttributes`, as for FastAPI);
- `exclude`: `/health/*` and the docs page are neither traced nor measured (Litestar searches these in the path:
  anchored). The plugin reads `OTEL_PYTHON_LITESTAR_EXCLUDED_URLS`, or else `OTEL_PYTHON_EXCLUDED_URLS`, itself,
  regexes searched in the full URL (`scheme://host/path`) as for FastAPI;
- `exclude_spans`: no INTERNAL span per receive and send.
Once the app is built, `instrument_each_request` runs the plugin's middleware through
`PerRequestInstrumentation` (`entrypoints/_compat/otel_instrumentation.py`): no stale Content-Length, no
`client.port` unless asked for.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.types import Scope
from litestar.utils import normalize_path
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider, TracerProvider

from entrypoints._compat.litestar import route_template, wrap_the_plugin_instrumentation
from entrypoints._compat.otel_instrumentation import PerRequestInstrumentation
from entrypoints.http_instrumentation import (
    EXCLUDED_SPANS,
    ServerSpanAttributes,
    sanitize_fields,
    span_details,
    warn_unless_stable_http_semconv,
)
from entrypoints.settings import HttpSpanSettings

EXCLUDED_PATHS: Final = [r"^/health/", r"^/docs(?:/|$)"]


def telemetry_plugin(
    *, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None, http_spans: HttpSpanSettings
) -> OpenTelemetryPlugin:
    """The plugin that traces and measures the app's HTTP requests; a provider left out records nothing."""
    return OpenTelemetryPlugin(
        OpenTelemetryConfig(
            tracer_provider=tracer_provider or NoOpTracerProvider(),
            meter_provider=meter_provider or NoOpMeterProvider(),
            exclude=EXCLUDED_PATHS,
            exclude_spans=EXCLUDED_SPANS,
            server_request_hook_handler=ServerSpanAttributes(http_spans),
            http_capture_headers_sanitize_fields=sanitize_fields(),
            scope_span_details_extractor=route_span_details,
        )
    )


def instrument_each_request(app: Litestar, http_spans: HttpSpanSettings) -> None:
    """Run each request of `app`, built with `telemetry_plugin`, through its own copy of the instrumentation."""
    # The middleware read OTEL_SEMCONV_STABILITY_OPT_IN when Litestar built it.
    warn_unless_stable_http_semconv()

    def per_request(middleware: OpenTelemetryMiddleware) -> PerRequestInstrumentation:
        return PerRequestInstrumentation(middleware, client_port=http_spans.client_port)

    wrap_the_plugin_instrumentation(app, per_request)


def route_span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The span's name and `http.route`, from the route Litestar's router will pick for the request."""
    return span_details(scope, _route(scope))


def _route(scope: Scope) -> str | None:
    if scope["type"] != ScopeType.HTTP:
        return None
    path = scope["path"]
    if root_path := scope.get("root_path", ""):
        path = path.split(root_path, maxsplit=1)[-1]
    # Litestar normalises the path before routing; FastAPI's instrumentation matches it as received.
    if path != normalize_path(path):
        return None
    return route_template(scope["litestar_app"], path, scope["method"])
