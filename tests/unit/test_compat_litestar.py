"""Canary for `entrypoints/_compat/litestar.py`: what the Litestar app's instrumentation relies on in Litestar.

A failure here means the Litestar release under test changed what that module relies on: read its docstring
before raising the bound on litestar in pyproject.toml.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import httpx
from litestar import Litestar, get, post
from litestar.plugins.opentelemetry import (
    OpenTelemetryConfig,
    OpenTelemetryInstrumentationMiddleware,
    OpenTelemetryPlugin,
)
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider
from starlette.types import Receive, Scope, Send

from entrypoints._compat.litestar import route_template, wrap_the_plugin_instrumentation

CHANGED = f"litestar {version('litestar')} changed under entrypoints/_compat/litestar.py"


@get("/items/{item_id:int}")
async def get_item(item_id: int) -> int:
    return item_id


@post("/items/{item_id:int}")
async def post_item(item_id: int) -> int:
    return item_id


@get("/items/static")
async def static_item() -> str:
    return "static"


def _app() -> Litestar:
    config = OpenTelemetryConfig(tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider())
    return Litestar([get_item, post_item, static_item], plugins=[OpenTelemetryPlugin(config)])


def test_the_router_gives_the_template_of_the_route_it_picks() -> None:
    app = _app()

    assert route_template(app, "/items/1", "GET") == "/items/{item_id}", CHANGED
    assert route_template(app, "/items/static", "GET") == "/items/static", CHANGED


def test_a_wrong_method_gets_the_template_of_the_path_and_an_unknown_path_none() -> None:
    app = _app()

    assert route_template(app, "/items/1", "DELETE") == "/items/{item_id}", CHANGED
    assert route_template(app, "/nowhere", "GET") is None, CHANGED


async def test_the_plugin_s_middleware_runs_the_open_telemetry_middleware_it_holds() -> None:
    app = _app()
    assert isinstance(app.asgi_handler, OpenTelemetryInstrumentationMiddleware), f"{CHANGED}: asgi_handler"
    assert isinstance(app.asgi_handler.open_telemetry_middleware, OpenTelemetryMiddleware), CHANGED
    seen: list[OpenTelemetryMiddleware] = []

    def recording(middleware: OpenTelemetryMiddleware) -> Any:
        async def call(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(middleware)
            await middleware(scope, receive, send)

        return call

    wrap_the_plugin_instrumentation(app, recording)
    asgi_app: Any = app  # Litestar types its ASGI callable more narrowly than httpx accepts
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi_app), base_url="http://testserver") as client:
        response = await client.get("/items/1")

    assert response.status_code == 200
    assert len(seen) == 1, f"{CHANGED}: the plugin's middleware no longer calls open_telemetry_middleware"


def test_the_plugin_still_ignores_the_config_s_middleware_class() -> None:
    class Custom(OpenTelemetryInstrumentationMiddleware):
        pass

    config = OpenTelemetryConfig(
        tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider(), middleware_class=Custom
    )
    app = Litestar([get_item], plugins=[OpenTelemetryPlugin(config)])

    assert type(app.asgi_handler) is OpenTelemetryInstrumentationMiddleware, (
        f"litestar {version('litestar')} builds the config's middleware_class: run each request through it"
        " instead of wrap_the_plugin_instrumentation"
    )
