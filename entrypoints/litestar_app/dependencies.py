"""What the app injects into its handlers: the runtime's service and unit of work."""

from __future__ import annotations

from litestar.di import Provide

from core.service import ResourceService
from entrypoints.bootstrap import Runtime
from ports.unit_of_work import UnitOfWork


def runtime_dependencies(runtime: Runtime) -> dict[str, Provide]:
    """The app-level dependencies, each asked for by its name (`service: NamedDependency[ResourceService]`)."""

    def service() -> ResourceService:
        return runtime.service

    def unit_of_work() -> UnitOfWork:
        return runtime.unit_of_work

    return {
        "service": Provide(service, use_cache=True, sync_to_thread=False),
        "unit_of_work": Provide(unit_of_work, use_cache=True, sync_to_thread=False),
    }
