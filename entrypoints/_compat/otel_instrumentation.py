"""OpenTelemetry's ASGI and FastAPI instrumentations: their middleware run per request, the instrumentor's reached.

Both packages come from opentelemetry-python-contrib, released together. What is relied on past their public API:

- `PerRequestInstrumentation` runs the ASGI `OpenTelemetryMiddleware` for each request as a shallow copy of
  itself (instruments, tracer and hooks shared). The middleware keeps the last response's Content-Length on
  itself (`content_length_header`), shared by every request: a response without one (a 204) records the size
  of the response before it as `http.server.response.body.size`, and concurrent requests can take each
  other's (open upstream: https://github.com/open-telemetry/opentelemetry-python-contrib/pull/5081). The copy
  relies on the middleware keeping all of its state in its instance `__dict__`, and on `app` naming what it
  wraps. Used by both apps: Litestar's plugin builds the same middleware (`entrypoints/_compat/litestar.py`).
- `wrap_the_instrumentor_middleware` reaches the `OpenTelemetryMiddleware` that
  `FastAPIInstrumentor.instrument_app` builds: the instrumentor replaces the app's `build_middleware_stack` with
  one that returns `ServerErrorMiddleware(OpenTelemetryMiddleware(...))`, and offers no handle on that
  middleware. Reached to run it per request (above), and to give it the project's `default_span_details`,
  which finds the route the instrumentor's would without converting every route's parameters (measured: 14 us a
  request over the app's routes; `http_instrumentation.FastApiSpanDetails`).

Canary: tests/unit/test_compat_otel_instrumentation.py. Bounded in pyproject.toml:
opentelemetry-instrumentation-asgi and -fastapi <0.67.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

SpanDetails = Callable[[Mapping[str, Any]], tuple[str, dict[str, str]]]


class PerRequestInstrumentation:
    """The instrumentation's OpenTelemetryMiddleware, run for each request as a copy of its own.

    Unless `client_port`, the copy sees the request's client without its port, which leaves `client.port` off the
    span (opt-in in the conventions; the instrumentation records no port 0); the app still gets the scope as it
    was received.
    """

    def __init__(self, middleware: OpenTelemetryMiddleware, *, client_port: bool) -> None:
        # `app`, as ASGI middleware name what they wrap: FastAPI's native telemetry looks along that chain for the
        # instrumentation's middleware, and stays off when it finds it.
        self.app = middleware
        self._client_port = client_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # What copy.copy does, without its generic protocol (a quarter of the time).
        instrumentation = object.__new__(type(self.app))
        instrumentation.__dict__.update(self.app.__dict__)
        client = scope.get("client")
        if self._client_port or not client:
            await instrumentation(scope, receive, send)
            return
        app = self.app.app

        async def app_given_the_scope_as_received(_seen: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)

        instrumentation.app = app_given_the_scope_as_received
        # A copy, not a ChainMap over the scope: the instrumentation reads the scope some forty times a request,
        # and a ChainMap lookup costs several times a dict's (measured: 22 us against 10 us for its attributes).
        await instrumentation({**scope, "client": (client[0], 0)}, receive, send)


def wrap_the_instrumentor_middleware(
    app: FastAPI,
    *,
    span_details: Callable[[], SpanDetails | None],
    wrap: Callable[[OpenTelemetryMiddleware], ASGIApp],
) -> None:
    """Once `FastAPIInstrumentor.instrument_app(app)` has run: each time the app builds its middleware stack, give
    the instrumentor's middleware `span_details()` (unless None) and put `wrap(middleware)` in its place.

    A stack of another shape than the instrumentor's is left as it is (the canary test says when it changes).
    """
    build_instrumented_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = build_instrumented_stack()
        if isinstance(stack, ServerErrorMiddleware) and isinstance(stack.app, OpenTelemetryMiddleware):
            details = span_details()
            if details is not None:
                stack.app.default_span_details = details
            stack.app = wrap(stack.app)
        return stack

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
