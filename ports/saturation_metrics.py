"""The saturation metrics port: what every request shares, the event loop and the database connection pool."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ConnectionPoolState:
    """One connection pool as it is now: open connections idle and in use, its bound, and who waits for one."""

    idle: int
    used: int
    max: int
    pending_requests: int


class SaturationMetricsPort(Protocol):
    """Records how busy the shared resources are; never raises, never blocks on export.

    Adapters map these calls to the instruments named in `core.semantic_conventions` (`EVENT_LOOP_DELAY` and the
    `db.client.connection.*` metrics). There is no no-op: with observability off nothing measures these at all
    (no probe task, no pool listener), so there is nothing to call one.
    """

    def record_event_loop_delay(self, delay_s: float) -> None:
        """A timer due now ran `delay_s` late: how long the event loop kept ready work waiting."""
        ...

    def record_connection_wait(self, pool_name: str, wait_s: float) -> None:
        """A caller obtained a connection from the pool `pool_name` after `wait_s`, opening it if need be."""
        ...

    def record_connection_timeout(self, pool_name: str) -> None:
        """A caller gave up waiting for a connection from the pool `pool_name`."""
        ...

    def record_connection_use(self, pool_name: str, use_s: float) -> None:
        """A connection went back to the pool `pool_name` after being borrowed for `use_s`."""
        ...

    def observe_connection_pool(self, pool_name: str, read: Callable[[], ConnectionPoolState]) -> None:
        """Report the pool `pool_name` as `read()` finds it, each time metrics are collected."""
        ...
