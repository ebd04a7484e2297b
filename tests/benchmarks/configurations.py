"""The observability configurations compared, each as a runtime and an ASGI app of either framework.

- `bare`: the baseline, an app built without the observability layer: the service's instrumentation is
  replaced by a pass-through (no span, metric, log, timing or repository wrapper) and HTTP is not instrumented.
- `noop`: observability disabled, the way the service ships it: the no-op adapters behind the one
  instrumentation path, HTTP not instrumented.
- `memory`: the in-memory adapters (what the tests assert on), HTTP not instrumented.
- `otel`: everything on: the OpenTelemetry SDK at 100 % sampling, traces, metrics and OTLP logs exported over
  OTLP/HTTP to a sink answering 200, JSON log lines, and the HTTP server instrumentation.
- `otel-native`: FastAPI only, `otel` with FastAPI's native HTTP telemetry in place of FastAPIInstrumentor
  (FASTAPI_HTTP_TELEMETRY=native).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Any, Final, Literal
from uuid import UUID

from adapters.memory.telemetry import in_memory_telemetry
from adapters.otel.providers import ExportSettings
from core.instrumentation import Instrumentation, NoTelemetry, OperationScope, Telemetry
from core.semantic_conventions import ErrorType, Operation
from core.service import ResourceService
from entrypoints import fastapi_app, litestar_app
from entrypoints.bootstrap import Runtime, bootstrap
from entrypoints.settings import HttpSpanSettings, Settings, TelemetrySettings
from entrypoints.telemetry import TelemetryHandle
from ports.repository import ResourceRepository
from ports.unit_of_work import UnitOfWork

Configuration = Literal["bare", "noop", "memory", "otel", "otel-native"]
CONFIGURATIONS: Final[tuple[Configuration, ...]] = ("bare", "noop", "memory", "otel")
Framework = Literal["fastapi", "litestar"]
FRAMEWORKS: Final[tuple[Framework, ...]] = ("fastapi", "litestar")
# What each framework is measured in: FastAPI also with its other way of HTTP telemetry.
CONFIGURATIONS_OF: Final[dict[Framework, tuple[Configuration, ...]]] = {
    "fastapi": (*CONFIGURATIONS, "otel-native"),
    "litestar": CONFIGURATIONS,
}
OTEL_SETTINGS: Final = TelemetrySettings(
    export=ExportSettings(traces_exporter="otlp", metrics_exporter="otlp", logs_exporter="otlp")
)


# Reusable: one serves every validation of the baseline.
_NOTHING: AbstractContextManager[object] = nullcontext()


class PassThroughInstrumentation(Instrumentation):
    """Runs what it wraps and nothing else: what the service would be without its observability layer."""

    def __init__(self) -> None:
        super().__init__(NoTelemetry())

    @asynccontextmanager
    async def operation(
        self, operation: Operation, resource_id: UUID | None = None, *, error_type: ErrorType | None = None
    ) -> AsyncIterator[OperationScope]:
        # The scope the disabled instrumentation shares: every call on it is one empty method.
        yield self._silent_scope

    def record_rejection(self, operation: Operation, error: Exception) -> None:
        pass

    def record_resource_count(self, count: int) -> None:
        pass

    def validation(self) -> AbstractContextManager[object]:
        return _NOTHING

    def traced(self, repository: ResourceRepository) -> ResourceRepository:
        return repository


def runtime_for(configuration: Configuration, framework: Framework, unit_of_work: UnitOfWork) -> Runtime:
    """A runtime over `unit_of_work` observed as `configuration` says (`otel` exports to OTEL_EXPORTER_OTLP_*)."""
    settings = Settings()
    if configuration == "bare":
        instrumentation = PassThroughInstrumentation()
        service = ResourceService(unit_of_work, instrumentation)
        return Runtime(settings, service, instrumentation, unit_of_work, TelemetryHandle(NoTelemetry(), None, 0.0))
    if configuration == "noop":
        return bootstrap(settings, unit_of_work, NoTelemetry(), framework=framework)
    if configuration == "memory":
        telemetry: Telemetry = in_memory_telemetry()[0]
        return bootstrap(settings, unit_of_work, telemetry, framework=framework)
    http_spans = HttpSpanSettings(fastapi_telemetry="native" if configuration == "otel-native" else "instrumentor")
    runtime = bootstrap(Settings(telemetry=OTEL_SETTINGS, http_spans=http_spans), unit_of_work, framework=framework)
    _discard_stdout_log_lines()
    return runtime


def _discard_stdout_log_lines() -> None:
    # The lines are still built and written (to /dev/null): only the benchmark's own output stays readable.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115  # lives as long as the process


def app_for(framework: Framework, runtime: Runtime) -> Any:
    """`framework`'s ASGI app over `runtime`; Any, since the two frameworks type their callables differently."""
    if framework == "fastapi":
        return fastapi_app.create_app(runtime)
    return litestar_app.create_app(runtime)
