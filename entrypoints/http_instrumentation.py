"""HTTP auto-instrumentation, the same in both apps: one SERVER span per request and the HTTP server metrics.

Each request gets exactly one SERVER span, named `METHOD /route/{template}` with `http.route` set, or named by
its method alone when no route matches. `/health/*` and the docs page (`/docs`, `/docs/*`) are neither traced
nor measured. An incoming `traceparent` is continued. `http.server.request.duration` is recorded with the stable
HTTP semantic conventions.

FastAPI uses FastAPIInstrumentor. Litestar is wrapped, whole, in the ASGI OpenTelemetryMiddleware on which
FastAPIInstrumentor is built, and names each span from Litestar's own router.

Both instrumentations pick the route before the app routes the request, from the path as it was received.
So a non-canonical path (`/resources/`, `//resources`) gets no route in either app, although both serve it.
One request is named differently: a wrong method at a static path that a template also matches, such as
PUT /resources/search (405). FastAPI's instrumentation takes the last route whose path matches
(`/resources/{id}`); Litestar's router takes the static one (`/resources/search`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, Final, Literal, cast

from fastapi import FastAPI
from litestar import Litestar
from litestar.exceptions import HTTPException, MethodNotAllowedException
from litestar.types import ASGIApp
from litestar.utils import normalize_path
from opentelemetry.instrumentation._semconv import (
    _OpenTelemetrySemanticConventionStability,
    _OpenTelemetryStabilitySignalType,
    _StabilityMode,
)
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import NoOpTracerProvider, TracerProvider
from opentelemetry.util.http import sanitize_method

SEMCONV_OPT_IN: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"

# The instrumentations emit `http.server.request.duration` (seconds) and the stable attribute names only with
# OTEL_SEMCONV_STABILITY_OPT_IN=http (or http/dup). They read the variable once per process, on the first
# instrumentation (FastAPIInstrumentor.instrument_app, an OpenTelemetryMiddleware, or any instrumentor's
# instrument()), never at import. Both app modules import this one, so it is set before they instrument.
# A value the deployment chose, such as http/dup, is kept.
os.environ.setdefault(SEMCONV_OPT_IN, "http")

# A deployment may record request headers on spans (OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST);
# credentials are then recorded as "[REDACTED]" unless the deployment names its own list of fields to redact.
SANITIZE_FIELDS: Final = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"
os.environ.setdefault(SANITIZE_FIELDS, "authorization,proxy-authorization,cookie,set-cookie,.*api[-_]key.*")

# Searched in the full URL the instrumentation builds: scheme://host/path. No comma: the list is comma-separated.
HEALTH_URLS: Final = r"^[^:/?#]+://[^/?#]*/health/"
DOCS_URLS: Final = r"^[^:/?#]+://[^/?#]*/docs(?:/|$)"
GENERIC_EXCLUDED_URLS_ENV: Final = "OTEL_PYTHON_EXCLUDED_URLS"

# The ASGI instrumentation would open an INTERNAL span for every receive and send: noise in every trace.
_EXCLUDED_SPANS: Final[list[Literal["receive", "send"]]] = ["receive", "send"]
_STABLE_HTTP_MODES: Final = (_StabilityMode.HTTP, _StabilityMode.HTTP_DUP)

_log = logging.getLogger(__name__)


def excluded_urls(framework: str, env: Mapping[str, str] = os.environ) -> str:
    """The URL regexes not to trace or measure: `/health/*`, the docs page, and those the environment lists.

    Passing a list to the instrumentation replaces the environment variables it would read, and the ASGI
    middleware reads none, so both apps read them here the same way: `OTEL_PYTHON_<FRAMEWORK>_EXCLUDED_URLS`,
    or if it is unset `OTEL_PYTHON_EXCLUDED_URLS` (comma-separated regexes, searched in the full URL).
    """
    configured = env.get(f"OTEL_PYTHON_{framework.upper()}_EXCLUDED_URLS", env.get(GENERIC_EXCLUDED_URLS_ENV, ""))
    return ",".join([HEALTH_URLS, DOCS_URLS, *(url.strip() for url in configured.split(",") if url.strip())])


def instrument_fastapi(
    app: FastAPI, *, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
) -> None:
    """Instrument `app` in place; a provider left out records nothing.

    An app already instrumented, by an earlier call or by FastAPIInstrumentor().instrument() before the app was
    created, keeps that instrumentation alone, with its providers and options (FastAPIInstrumentor warns).
    """
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider or NoOpTracerProvider(),
        meter_provider=meter_provider or NoOpMeterProvider(),
        excluded_urls=excluded_urls("fastapi"),
        exclude_spans=_EXCLUDED_SPANS,
    )
    _warn_unless_stable_http_semconv()


def instrument_litestar(
    app: Litestar | ASGIApp, *, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
) -> ASGIApp:
    """The Litestar `app` inside the ASGI OpenTelemetry middleware; a provider left out records nothing.

    Not Litestar's OpenTelemetry plugin: its middleware runs after routing, so a request to an unknown path or
    with a wrong method would get no span. Wrapping the whole app sees every request, as FastAPI's does.
    An app already inside the middleware is returned as it is: nested, each would open a span per request.
    """
    if isinstance(app, OpenTelemetryMiddleware):
        return _asgi_app(app)
    if not isinstance(app, Litestar):
        raise TypeError(f"expected a Litestar app, not {type(app).__name__}")
    middleware = OpenTelemetryMiddleware(
        app,
        excluded_urls=excluded_urls("litestar"),
        default_span_details=LitestarSpanDetails(app),
        tracer_provider=tracer_provider or NoOpTracerProvider(),
        meter_provider=meter_provider or NoOpMeterProvider(),
        exclude_spans=_EXCLUDED_SPANS,
    )
    _warn_unless_stable_http_semconv()
    return _asgi_app(middleware)


def _asgi_app(middleware: OpenTelemetryMiddleware) -> ASGIApp:
    # The middleware types the scope as a mutable mapping, Litestar as typed dicts: the same dicts at run time.
    return cast(ASGIApp, middleware)


class LitestarSpanDetails:
    """The server span's name and `http.route`, from the route Litestar's router picks for the request.

    The middleware takes these before it calls the app, and records `http.server.request.duration` with the
    attributes it had then: a span renamed after routing would leave `http.route` off the metric. So the
    route is looked up ahead, in the router's own (cached) table, the way FastAPI's instrumentation looks up
    the Starlette route ahead.
    """

    def __init__(self, app: Litestar) -> None:
        self._router = app.asgi_router

    def __call__(self, scope: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        # The same naming as FastAPIInstrumentor's: `METHOD template`, or the method alone.
        method = sanitize_method(str(scope.get("method", "")).strip())
        if method == "_OTHER":
            method = "HTTP"
        route = self.route(scope)
        if route is None:
            return method, {}
        return (f"{method} {route}" if method else route), {HTTP_ROUTE: route}

    def route(self, scope: Mapping[str, Any]) -> str | None:
        """The template of the route for the scope's path, with plain `{name}` parameters; None if none matches."""
        path = str(scope.get("path", ""))
        if root_path := str(scope.get("root_path", "")):
            path = path.split(root_path, maxsplit=1)[-1]
        # Litestar normalises the path before routing; FastAPI's instrumentation matches it as received.
        if path != normalize_path(path):
            return None
        return self._template(path, scope.get("method"))

    def _template(self, path: str, method: str | None) -> str | None:
        try:
            return self._router.handle_routing(path=path, method=method)[4]
        except MethodNotAllowedException as exc:
            # A 405 still matched a path, and FastAPI's instrumentation names it: ask with a method the path serves.
            allowed = (exc.headers or {}).get("allow", "").split(",")[0].strip()
            return self._template(path, allowed) if allowed and allowed != method else None
        except HTTPException:
            return None


def _warn_unless_stable_http_semconv() -> None:
    # Called once the instrumentation has read the variable.
    mode = _OpenTelemetrySemanticConventionStability._get_opentelemetry_stability_opt_in_mode(
        _OpenTelemetryStabilitySignalType.HTTP
    )
    if mode not in _STABLE_HTTP_MODES:
        _log.warning(
            "HTTP instrumentation follows the old semantic conventions, without http.server.request.duration: "
            "%s does not include http, or was read before %s was imported; set %s=http in the environment",
            SEMCONV_OPT_IN,
            __name__,
            SEMCONV_OPT_IN,
        )
