"""PoolMetrics: one engine's connection pool reported to the saturation metrics port.

SQLAlchemy's pool events say when a connection is handed out and given back (`checkout`, `checkin`), not when a
caller starts waiting for one: the unit of work times that itself, around every connection it asks for.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, QueuePool

from core.semantic_conventions import Database
from ports.saturation_metrics import ConnectionPoolState, SaturationMetricsPort

_BORROWED_AT = "resource_service.borrowed_at"


def pool_name(database: Database) -> str:
    """The conventions' name for a pool that has none: `server.address:server.port/db.namespace`; the file on SQLite."""
    if database.server_address is None:
        return database.namespace or ":memory:"
    return f"{database.server_address}:{database.server_port}/{database.namespace}"


class PoolMetrics:
    """Times the waits for a connection and each connection's use, counts timeouts, and reads the pool's state.

    Only a queue pool (the engines of `create_engine`, `max_overflow=0`: its size is its bound) is measured; an
    in-memory SQLite database lives in its one connection, with no pool to saturate.
    """

    def __init__(self, engine: AsyncEngine, database: Database, metrics: SaturationMetricsPort) -> None:
        self.name = pool_name(database)
        self._metrics = metrics
        self._pending = 0
        pool = engine.sync_engine.pool
        self._pool = pool if isinstance(pool, QueuePool) else None
        if self._pool is None:
            return
        event.listen(self._pool, "checkout", self._borrowed)
        event.listen(self._pool, "checkin", self._returned)
        metrics.observe_connection_pool(self.name, self.state)

    def connect(self, engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]:
        """`engine.connect()`, with the wait for its connection measured (engine: this pool's, with its options)."""
        return engine.connect() if self._pool is None else _MeasuredConnect(self, engine.connect())

    def state(self) -> ConnectionPoolState:
        """The pool now: connections open and idle, checked out, its size, and the callers waiting."""
        assert self._pool is not None
        return ConnectionPoolState(
            idle=self._pool.checkedin(),
            used=self._pool.checkedout(),
            max=self._pool.size(),
            pending_requests=self._pending,
        )

    def wait_started(self) -> None:
        self._pending += 1

    def wait_ended(self) -> None:
        self._pending -= 1

    def obtained(self, waited_s: float) -> None:
        self._metrics.record_connection_wait(self.name, waited_s)

    def timed_out(self) -> None:
        self._metrics.record_connection_timeout(self.name)

    def _borrowed(self, _dbapi: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        record.info[_BORROWED_AT] = time.perf_counter()

    def _returned(self, _dbapi: Any, record: ConnectionPoolEntry) -> None:
        borrowed_at = record.info.pop(_BORROWED_AT, None)
        if borrowed_at is not None:
            self._metrics.record_connection_use(self.name, time.perf_counter() - borrowed_at)


class _MeasuredConnect:
    """`async with engine.connect()`, timing the wait for the connection.

    A class rather than a generator around an `AsyncExitStack`: it is entered once per transaction, and the
    generator and the stack cost more than the two clock reads it adds (docs/performance.md, section 6).
    """

    __slots__ = ("_connecting", "_pool")

    def __init__(self, pool: PoolMetrics, connecting: AsyncConnection) -> None:
        self._pool = pool
        self._connecting = connecting

    async def __aenter__(self) -> AsyncConnection:
        pool = self._pool
        started = time.perf_counter()
        pool.wait_started()
        try:
            connection = await self._connecting.__aenter__()
        except PoolTimeoutError:
            pool.timed_out()
            raise
        finally:
            pool.wait_ended()
        # A connection that could not be opened is no wait that ended in one: only the timeout is counted.
        pool.obtained(time.perf_counter() - started)
        return connection

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._connecting.__aexit__(*exc_info)
