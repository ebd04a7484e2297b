"""The composition root: the one place that picks adapters and builds the service for every entrypoint."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqla import SqlaUnitOfWork, create_engine, create_schema
from core.service import ResourceService
from entrypoints.http.api import ApiContext
from entrypoints.settings import Settings
from ports.unit_of_work import UnitOfWork


def service_version() -> str:
    """The installed package's version."""
    try:
        return version("resource-service")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything an app needs, and what to do when it starts and stops."""

    settings: Settings
    api: ApiContext
    engine: AsyncEngine | None = None

    async def start(self) -> None:
        """Create missing tables."""
        if self.engine is not None:
            await create_schema(self.engine)

    async def stop(self) -> None:
        """Close database connections."""
        if self.engine is not None:
            await self.engine.dispose()


def bootstrap(settings: Settings | None = None, unit_of_work: UnitOfWork | None = None) -> Runtime:
    """Build the runtime from settings (the environment by default); tests may pass their own unit of work."""
    settings = settings or Settings.from_env()
    engine = None
    if unit_of_work is None:
        engine = create_engine(settings.database_url)
        unit_of_work = SqlaUnitOfWork(engine)
    return Runtime(settings, ApiContext(ResourceService(unit_of_work), unit_of_work), engine)
