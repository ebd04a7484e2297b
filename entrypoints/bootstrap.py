"""The composition root: the one place that picks adapters and builds the service for every entrypoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqla import (
    SchemaNotCurrentError,
    SqlaUnitOfWork,
    create_engine,
    database_of,
    require_head,
    upgrade_schema,
)
from core.errors import StorageError
from core.instrumentation import Instrumentation, Telemetry
from core.semantic_conventions import IN_MEMORY
from core.service import ResourceService
from entrypoints.event_loop_delay import measure_event_loop_delay
from entrypoints.http.admission import AdmissionGate
from entrypoints.http_instrumentation import use_stable_http_conventions
from entrypoints.settings import Settings
from entrypoints.telemetry import TelemetryHandle, build_telemetry
from ports.unit_of_work import UnitOfWork

_log = logging.getLogger(__name__)


def service_version() -> str:
    """The installed package's version."""
    try:
        return version("resource-service")
    except PackageNotFoundError:
        return "0+unknown"


class DatabaseNotMigrated(Exception):
    """The database is not at the code's schema revision and start-up may not migrate it; says what to do."""


async def prepare_database(engine: AsyncEngine, *, migrate: bool) -> None:
    """Upgrade the database to the head revision; or, when start-up may not migrate, refuse one that is not there."""
    if migrate:
        await upgrade_schema(engine)
        return
    try:
        await require_head(engine)
    except SchemaNotCurrentError as exc:
        if exc.behind:
            advice = "run `resource-service db upgrade` first, or start with DATABASE_MIGRATE_ON_START=true"
        else:
            advice = "serve it with the release that migrated it, or downgrade it with that release first"
        raise DatabaseNotMigrated(f"{exc}: {advice}") from None


async def check_database_migrated(database_url: str) -> None:
    """Raise `DatabaseNotMigrated` unless the database at `database_url` is at the head revision."""
    engine = create_engine(database_url)
    try:
        await prepare_database(engine, migrate=False)
    finally:
        await engine.dispose()


@dataclass(slots=True)
class Runtime:
    """Everything an app needs, and what to do when it starts and stops."""

    settings: Settings
    service: ResourceService
    # What the HTTP edge records through too: refusals before the service ran, failures logged once.
    instrumentation: Instrumentation
    unit_of_work: UnitOfWork
    telemetry_handle: TelemetryHandle
    engine: AsyncEngine | None = None
    # The bound on the requests this process serves at once; None when ADMISSION_MAX_CONCURRENCY=0.
    admission: AdmissionGate | None = None
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """Migrate the database (or check it is migrated), keep the `resource.count` gauge in step with it, and
        measure the event loop's delay (with the saturation metrics on)."""
        if self.engine is not None:
            await prepare_database(self.engine, migrate=self.settings.migrate_on_start)
        self._background.append(asyncio.create_task(self._report_resource_count()))
        saturation_metrics = self.telemetry_handle.saturation_metrics
        if saturation_metrics is not None:
            self._background.append(asyncio.create_task(measure_event_loop_delay(saturation_metrics)))

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """The ASGI lifespan either app hands its framework: start, serve, stop."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop background work, close database connections, flush telemetry within its time budget."""
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background.clear()
        if self.engine is not None:
            await self.engine.dispose()
        await asyncio.to_thread(self.telemetry_handle.shutdown)

    async def _report_resource_count(self) -> None:
        # Every process reads the count from the store, so all report the same, true value.
        while True:
            try:
                await self.service.refresh_resource_count()
            except StorageError:
                pass  # the database is away: the gauge keeps its last value, readiness reports the outage
            except Exception:
                _log.exception("reading the resource count failed; trying again next interval")
            await asyncio.sleep(self.settings.resource_count_interval_s)


def bootstrap(
    settings: Settings | None = None,
    unit_of_work: UnitOfWork | None = None,
    telemetry: Telemetry | None = None,
    *,
    framework: str = "fastapi",
) -> Runtime:
    """Build the runtime from settings (the environment by default); tests may pass their own adapters.

    A unit of work passed in is taken for an in-memory store: its repository calls are no database client calls.
    """
    settings = settings or Settings.from_env()
    # Before anything instruments: the first instrumentor of the process (the process metrics' among them) fixes
    # which HTTP conventions every instrumentation follows.
    use_stable_http_conventions()
    telemetry_handle = _telemetry_handle(settings, telemetry, framework)
    engine, database = None, IN_MEMORY
    if unit_of_work is None:
        engine = create_engine(settings.database_url)
        unit_of_work = SqlaUnitOfWork(engine, telemetry_handle.saturation_metrics)
        database = database_of(engine.url)
    instrumentation = Instrumentation(telemetry_handle.telemetry, database=database)
    service = ResourceService(unit_of_work, instrumentation)
    admission = _admission_gate(settings, telemetry_handle)
    return Runtime(settings, service, instrumentation, unit_of_work, telemetry_handle, engine, admission)


def _admission_gate(settings: Settings, telemetry_handle: TelemetryHandle) -> AdmissionGate | None:
    if not settings.admission.bounded:
        return None
    metrics = telemetry_handle.telemetry.metrics
    gate = AdmissionGate(settings.admission, on_shed=metrics.record_shed)
    metrics.observe_admission(gate)
    return gate


def _telemetry_handle(settings: Settings, telemetry: Telemetry | None, framework: str) -> TelemetryHandle:
    """The telemetry given (`NoTelemetry()` for off, with no logging configured: the caller owns it), else built
    per `settings.telemetry` (see docs/architecture.md, "Turning observability off")."""
    if telemetry is not None:
        return TelemetryHandle(telemetry)
    return build_telemetry(settings.telemetry, service_version=service_version(), framework=framework)
