"""Both apps over a fresh runtime, driven in process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Literal

import httpx
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from core.instrumentation import NoTelemetry
from entrypoints import fastapi_app, litestar_app
from entrypoints.bootstrap import Runtime, bootstrap
from entrypoints.settings import HttpSpanSettings, Settings

Framework = Literal["fastapi", "litestar"]
FRAMEWORKS: tuple[Framework, ...] = ("fastapi", "litestar")
# A framework and its way of tracing HTTP: FastAPI's can be FastAPI's own telemetry (FASTAPI_HTTP_TELEMETRY=native).
Instrumented = Literal["fastapi", "fastapi-native", "litestar"]
INSTRUMENTED: tuple[Instrumented, ...] = ("fastapi", "fastapi-native", "litestar")
BASE_URL = "http://testserver"


def asgi_app(
    framework: Framework,
    runtime: Runtime,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Any:
    """`framework`'s app, its HTTP instrumented with the given providers (by default the runtime's); Any, since
    Litestar types its ASGI callable more narrowly than httpx accepts."""
    if framework == "fastapi":
        return fastapi_app.create_app(runtime, tracer_provider=tracer_provider, meter_provider=meter_provider)
    return litestar_app.create_app(runtime, tracer_provider=tracer_provider, meter_provider=meter_provider)


def instrumented_with(instrumented: Instrumented, http_spans: HttpSpanSettings) -> tuple[Framework, HttpSpanSettings]:
    """The framework of `instrumented`, and `http_spans` with its way of tracing HTTP."""
    if instrumented == "fastapi-native":
        return "fastapi", replace(http_spans, fastapi_telemetry="native")
    return instrumented, http_spans


def _framework_header_check(framework: Framework) -> Callable[[httpx.Response], Awaitable[None]]:
    async def check(response: httpx.Response) -> None:
        actual = response.headers.get("x-framework")
        if actual != framework:
            request = response.request
            raise AssertionError(
                f"{request.method} {request.url.raw_path.decode()} answered {response.status_code} "
                f"with x-framework={actual!r}, expected {framework!r}"
            )

    return check


@asynccontextmanager
async def serving(
    framework: Framework, database_url: str, *, check_framework_header: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `framework`'s app on `database_url`; by default every response must name `framework`."""
    runtime = bootstrap(Settings(database_url=database_url), telemetry=NoTelemetry())
    await runtime.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=asgi_app(framework, runtime)),
            base_url=BASE_URL,
            event_hooks={"response": [_framework_header_check(framework)] if check_framework_header else []},
        ) as client:
            yield client
    finally:
        await runtime.stop()
