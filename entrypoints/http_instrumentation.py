"""HTTP auto-instrumentation, the same in both apps: one SERVER span per request and the HTTP server metrics.

Each request gets exactly one SERVER span, named `METHOD /route/{template}` with `http.route` set, or named by
its method alone when no route matches. `/health/*` and the docs page (`/docs`, `/docs/*`) are neither traced
nor measured. An incoming `traceparent` is continued. `http.server.request.duration` is recorded with the stable
HTTP semantic conventions.

FastAPI uses FastAPIInstrumentor; Litestar its own `OpenTelemetryPlugin` (`litestar_app/telemetry.py`), which
names each span from Litestar's own router. Both are built on the ASGI OpenTelemetryMiddleware, and in both
that middleware runs each request through `PerRequestInstrumentation` (`entrypoints/_compat/otel_instrumentation.py`:
no stale Content-Length), and `ServerSpanAttributes` corrects the
attributes it takes from the connection: `server.address`/`server.port` from the Host the client asked for,
`url.query` without its values, `client.port` only when `HTTP_SPAN_CLIENT_PORT` asks for it.

Both instrumentations pick the route before the app routes the request, from the path as it was received.
So a non-canonical path (`/resources/`, `//resources`) gets no route in either app, although both serve it.
One request is named differently: a wrong method at a static path that a template also matches, such as
PUT /resources/search (405). FastAPI's instrumentation takes the last route whose path matches
(`/resources/{id}`); Litestar's router takes the static one (`/resources/search`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.routing import RouteContext, iter_route_contexts
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_QUERY
from opentelemetry.trace import NoOpTracerProvider, Span, TracerProvider
from opentelemetry.util.http import sanitize_method
from starlette.routing import Route

from entrypoints._compat.otel_instrumentation import PerRequestInstrumentation, wrap_the_instrumentor_middleware
from entrypoints.settings import HttpSpanSettings

SEMCONV_OPT_IN: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
# A deployment may record request headers on spans (OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST);
# credentials are then recorded as "[REDACTED]" unless the deployment names its own list of fields to redact here.
SANITIZE_FIELDS: Final = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"
DEFAULT_SANITIZE_FIELDS: Final = ("authorization", "proxy-authorization", "cookie", "set-cookie", ".*api[-_]key.*")

# Searched in the full URL the instrumentation builds: scheme://host/path. No comma: the list is comma-separated.
HEALTH_URLS: Final = r"^[^:/?#]+://[^/?#]*/health/"
DOCS_URLS: Final = r"^[^:/?#]+://[^/?#]*/docs(?:/|$)"
GENERIC_EXCLUDED_URLS_ENV: Final = "OTEL_PYTHON_EXCLUDED_URLS"

# The ASGI instrumentation would open an INTERNAL span for every receive and send: noise in every trace.
EXCLUDED_SPANS: Final[list[Literal["receive", "send"]]] = ["receive", "send"]
# The values of OTEL_SEMCONV_STABILITY_OPT_IN under which the instrumentations emit the stable HTTP conventions.
_STABLE_HTTP_MODES: Final = frozenset({"http", "http/dup"})
# What a scrubbed query parameter's value becomes: the placeholder the HTTP semantic conventions use.
REDACTED: Final = "REDACTED"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

_log = logging.getLogger(__name__)


def excluded_urls(framework: str, env: Mapping[str, str] = os.environ) -> str:
    """The URL regexes not to trace or measure: `/health/*`, the docs page, and those the environment lists.

    Passing a list to the instrumentation replaces the environment variables it would read, and the ASGI
    middleware reads none, so both apps read them here the same way: `OTEL_PYTHON_<FRAMEWORK>_EXCLUDED_URLS`,
    or if it is unset `OTEL_PYTHON_EXCLUDED_URLS` (comma-separated regexes, searched in the full URL).
    """
    configured = env.get(f"OTEL_PYTHON_{framework.upper()}_EXCLUDED_URLS", env.get(GENERIC_EXCLUDED_URLS_ENV, ""))
    return ",".join([HEALTH_URLS, DOCS_URLS, *(url.strip() for url in configured.split(",") if url.strip())])


def sanitize_fields(env: Mapping[str, str] = os.environ) -> list[str]:
    """The header names (regexes) whose captured values are recorded as "[REDACTED]": the deployment's, if it
    names any in OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS, else the credentials'."""
    configured = [field.strip() for field in env.get(SANITIZE_FIELDS, "").split(",") if field.strip()]
    return configured or list(DEFAULT_SANITIZE_FIELDS)


def use_stable_http_conventions() -> None:
    """Have the instrumentations emit `http.server.request.duration` (seconds) and the stable attribute names.

    They do only under OTEL_SEMCONV_STABILITY_OPT_IN=http (or http/dup), which they read from the environment, their
    only way to be told, once per process on the first instrumentation (FastAPIInstrumentor.instrument_app, an
    OpenTelemetryMiddleware, any instrumentor's instrument()), never at import. So `bootstrap`, which builds the
    runtime every app is given, calls this first, before the telemetry's process metrics (an instrumentor's); a
    value the deployment chose, such as http/dup, is kept. Code that instruments without `bootstrap` calls it first
    too; `warn_unless_stable_http_semconv` tells when it was not.
    """
    os.environ.setdefault(SEMCONV_OPT_IN, "http")


def instrument_fastapi(
    app: FastAPI,
    *,
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None,
    http_spans: HttpSpanSettings,
) -> None:
    """Instrument `app` in place; a provider left out records nothing.

    An app already instrumented, by an earlier call or by FastAPIInstrumentor().instrument() before the app was
    created, keeps that instrumentation alone, with its providers and options (FastAPIInstrumentor warns).
    """
    already_instrumented = getattr(app, "_is_instrumented_by_opentelemetry", False)
    FastAPIInstrumentor.instrument_app(
        app,
        server_request_hook=ServerSpanAttributes(http_spans),
        tracer_provider=tracer_provider or NoOpTracerProvider(),
        meter_provider=meter_provider or NoOpMeterProvider(),
        excluded_urls=excluded_urls("fastapi"),
        exclude_spans=EXCLUDED_SPANS,
        http_capture_headers_sanitize_fields=sanitize_fields(),
    )
    warn_unless_stable_http_semconv()
    if already_instrumented:
        return

    def route_table() -> FastApiSpanDetails | None:
        # Flattened: since FastAPI 0.137 an included router is one entry of `app.routes`.
        routes = list(iter_route_contexts(app.routes))
        return FastApiSpanDetails(routes) if all(isinstance(route.original_route, Route) for route in routes) else None

    def per_request(middleware: OpenTelemetryMiddleware) -> PerRequestInstrumentation:
        return PerRequestInstrumentation(middleware, client_port=http_spans.client_port)

    wrap_the_instrumentor_middleware(app, span_details=route_table, wrap=per_request)


class ServerSpanAttributes:
    """The instrumentation's server-request hook: what it takes from the connection, taken from the request.

    `server.address` and `server.port` name the server the client asked for, as the HTTP conventions say: from
    X-Forwarded-Host when `trust_forwarded_host`, else from Host (the port, when the header has none, the
    scheme's default), and from the listening socket only when the request has no Host. The instrumentation
    would record the socket's `host:port` in `server.address`.

    `url.query` keeps each parameter's name and replaces its value with `REDACTED`: values are user input (search
    text among them), which the operation span records where it means something.
    """

    def __init__(self, settings: HttpSpanSettings) -> None:
        self._host_headers = (b"x-forwarded-host", b"host") if settings.trust_forwarded_host else (b"host",)

    def __call__(self, span: Span, scope: Mapping[str, Any]) -> None:
        if span.is_recording():
            span.set_attributes(self.attributes(scope))

    def attributes(self, scope: Mapping[str, Any]) -> dict[str, str | int]:
        """The attributes that replace the instrumentation's, for the request `scope`."""
        attributes: dict[str, str | int] = {}
        server = self._requested_server(scope)
        if server is not None:
            attributes[SERVER_ADDRESS], port = server
            if port is not None:
                attributes[SERVER_PORT] = port
        query = bytes(scope.get("query_string", b"")).decode("utf-8", "replace")
        if query:
            attributes[URL_QUERY] = scrubbed_query(query)
        return attributes

    def _requested_server(self, scope: Mapping[str, Any]) -> tuple[str, int | None] | None:
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        for wanted in self._host_headers:
            # The first line, and its first host: a chain of proxies adds the later ones.
            authority = next((value for name, value in headers if name == wanted), b"")
            parts = urlsplit("//" + authority.decode("latin-1").split(",")[0].strip())
            if parts.hostname:
                try:
                    return parts.hostname, parts.port or _DEFAULT_PORTS.get(str(scope.get("scheme", "")))
                except ValueError:  # a port that is not a number: unknown
                    return parts.hostname, None
        socket = scope.get("server")
        return (str(socket[0]), socket[1]) if socket else None


def scrubbed_query(query: str) -> str:
    """`query` with each parameter's value replaced by `REDACTED`; names, order and value-less names kept."""
    return "&".join(
        f"{name}={REDACTED}" if has_value else name
        for name, has_value, _value in (parameter.partition("=") for parameter in query.split("&"))
    )


def span_details(scope: Mapping[str, Any], route: str | None) -> tuple[str, dict[str, str]]:
    """FastAPIInstrumentor's naming: the span is `METHOD template` with `http.route`, or the method alone."""
    method = sanitize_method(str(scope.get("method", "")).strip())
    if method == "_OTHER":
        method = "HTTP"
    if route is None:
        return method, {}
    return (f"{method} {route}" if method else route), {HTTP_ROUTE: route}


class FastApiSpanDetails:
    """The server span's name and `http.route` for FastAPI, as FastAPIInstrumentor finds them, found faster.

    The instrumentation tries every route in turn with Starlette's `Route.matches`, which converts the path
    parameters and builds a scope for the route at each match (14 us a request over this app's 26 routes). The
    route it settles on depends only on each route's compiled path pattern and methods: the first that matches
    the path and allows the method, else the last that matches the path. For Starlette routes and FastAPI's path
    operations (which match as Starlette routes do), each as it is or as `iter_route_contexts` yields it.
    """

    def __init__(self, routes: Sequence[Route | RouteContext]) -> None:
        self._routes = [(route.path_regex, route.methods, route.path) for route in routes]

    def __call__(self, scope: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        return span_details(scope, self.route(scope))

    def route(self, scope: Mapping[str, Any]) -> str | None:
        """The template of the route for the scope's path and method; None if no route's path matches."""
        if scope.get("type") != "http":
            return None
        path = _route_path(scope)
        method = scope.get("method")
        partial = None
        for pattern, methods, template in self._routes:
            if pattern.match(path):
                if not methods or method in methods:
                    return template
                partial = template
        return partial


def _route_path(scope: Mapping[str, Any]) -> str:
    """The path below the app's mount point, as Starlette routes it: ASGI's `path` without its `root_path`."""
    path, root_path = str(scope.get("path", "")), str(scope.get("root_path", ""))
    return path.removeprefix(root_path) if root_path and path.startswith(root_path) else path


def warn_unless_stable_http_semconv() -> None:
    """Warn unless the instrumentations follow the stable HTTP conventions; call it once they have read them."""
    # They read the variable once per process, from the environment.
    opted_in = {mode.strip() for mode in os.environ.get(SEMCONV_OPT_IN, "").split(",")}
    if not opted_in & _STABLE_HTTP_MODES:
        _log.warning(
            "HTTP instrumentation follows the old semantic conventions, without http.server.request.duration: "
            "%s does not include http; set %s=http in the environment",
            SEMCONV_OPT_IN,
            SEMCONV_OPT_IN,
        )
