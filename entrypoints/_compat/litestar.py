"""Litestar: the route a request will take, looked up before routing, and the plugin's instrumentation reached.

Litestar's `OpenTelemetryPlugin` puts the ASGI `OpenTelemetryMiddleware` around the app's router
(`Litestar._create_asgi_handler`), so every request, a 404 or 405 too, gets its span before it is routed. The
middleware takes the span's name and the attributes of `http.server.request.duration` from the config's
`scope_span_details_extractor`, called then; Litestar's default extractor names the span `GET /resources/1`,
with that as `http.route`. The public alternative, a `before_send` hook that renames the span from
`scope["path_template"]` once routed, leaves `http.route` off the metric and off a 405. So:

- `route_template` asks the router the app itself routes with: `Litestar.asgi_router.handle_routing` (cached),
  what `ASGIRouter.__call__` calls; `ASGIRouter` lives in `litestar._asgi`, which is not public.
- `wrap_the_plugin_instrumentation` replaces the `OpenTelemetryMiddleware` that the plugin's middleware holds
  (`app.asgi_handler.open_telemetry_middleware`), to run it per request: the middleware keeps the last
  response's Content-Length on itself, shared by every request, and records it for a response that has none
  (a 204), or another request's under concurrency (open upstream:
  https://github.com/open-telemetry/opentelemetry-python-contrib/pull/5081); and the plugin has no way to leave
  the opt-in `client.port` off the span. That `asgi_handler` is the plugin's middleware is not documented, and
  the documented way to change that middleware, the config's `middleware_class`, is ignored by the plugin
  (2.25 always builds `OpenTelemetryInstrumentationMiddleware`).

Canary: tests/unit/test_compat_litestar.py. Bounded in pyproject.toml: litestar<2.26.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Litestar
from litestar.exceptions import HTTPException, MethodNotAllowedException
from litestar.plugins.opentelemetry import OpenTelemetryInstrumentationMiddleware
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware


def route_template(app: Litestar, path: str, method: str | None) -> str | None:
    """The template of the route `app` routes `path` to (normalised, below any mount point); None if none.

    Parameters are plain, `{name}` without the type the route declares, as in Litestar's `path_template`.

    A wrong method (405) still matched a path: its template is the one a method the path serves would take.
    """
    try:
        template: str = app.asgi_router.handle_routing(path=path, method=method)[4]
    except MethodNotAllowedException as exc:
        allowed = (exc.headers or {}).get("allow", "").split(",")[0].strip()
        return route_template(app, path, allowed) if allowed and allowed != method else None
    except HTTPException:
        return None
    return template


def wrap_the_plugin_instrumentation(app: Litestar, wrap: Callable[[OpenTelemetryMiddleware], Any]) -> None:
    """Have the `OpenTelemetryPlugin` of `app` call `wrap(middleware)` in place of its OpenTelemetryMiddleware.

    Once only: an app whose instrumentation is already wrapped is left as it is. TypeError if the app has no
    `OpenTelemetryPlugin` in front of its router.
    """
    handler = app.asgi_handler
    if not isinstance(handler, OpenTelemetryInstrumentationMiddleware):
        raise TypeError(f"expected the OpenTelemetryPlugin's middleware in front of the app, not {handler!r}")
    if isinstance(handler.open_telemetry_middleware, OpenTelemetryMiddleware):
        handler.open_telemetry_middleware = wrap(handler.open_telemetry_middleware)
