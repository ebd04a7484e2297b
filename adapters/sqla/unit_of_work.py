"""SqlaUnitOfWork: one connection and transaction per service operation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqla.engine import GRAPH_LOCK_KEY, SQLITE_IMMEDIATE, SQLITE_NO_BEGIN
from adapters.sqla.pool_metrics import PoolMetrics
from adapters.sqla.repository import SqlaResourceRepository
from core.errors import StorageError, StorageUnavailable
from core.model import PageRequest, Resource
from core.semantic_conventions import Database
from ports.repository import AutocommitRepository, ResourceRepository
from ports.saturation_metrics import SaturationMetricsPort
from ports.unit_of_work import UnitOfWork

# SQLSTATE prefixes of a server that cannot serve for now: connection exceptions (08), insufficient resources
# (53: too many connections, out of memory, disk full), and starting or shutting down (57P). PostgreSQL answers
# "the database system is starting up" (57P03) as a plain DBAPIError while it recovers from a crash.
UNAVAILABLE_SQLSTATES = ("08", "53", "57P")
_TAKE_WRITERS_LOCK = select(func.pg_advisory_xact_lock(GRAPH_LOCK_KEY))
POSTGRES_DEFAULT_PORT = 5432


def storage_error(exc: BaseException) -> StorageError:
    """The domain error for a driver failure: unavailable when retrying later may help."""
    unreachable = isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | OSError | TimeoutError)
    if unreachable or (isinstance(exc, DBAPIError) and (exc.connection_invalidated or _server_unavailable(exc))):
        return StorageUnavailable("the database is unavailable")
    return StorageError("the database failed to complete the operation")


def database_of(url: URL) -> Database:
    """The database as the client conventions name it: `sqlite` and its file, or `postgresql`, its name and server."""
    if url.get_backend_name() == "sqlite":
        return Database("sqlite", url.database or None)
    return Database("postgresql", url.database, url.host, url.port or POSTGRES_DEFAULT_PORT)


def _server_unavailable(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(UNAVAILABLE_SQLSTATES)


class SqlaUnitOfWork(UnitOfWork):
    """Transactions on an async engine; writers hold a lock that spans processes.

    PostgreSQL writers take a transaction-scoped advisory lock; SQLite writers start with
    BEGIN IMMEDIATE (and queue on an asyncio lock first, so one process never waits on
    SQLite's busy timeout). Readers on PostgreSQL use REPEATABLE READ so that a page and its
    total come from the same snapshot.
    """

    def __init__(self, engine: AsyncEngine, saturation_metrics: SaturationMetricsPort | None = None) -> None:
        self._engine = engine
        database = database_of(engine.url)
        # None: observability off, and the pool is not measured at all.
        self._pool_metrics = None if saturation_metrics is None else PoolMetrics(engine, database, saturation_metrics)
        self._is_postgres = database.system == "postgresql"
        # The same pool, with the options each kind of transaction begins with.
        self._readers = (
            engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            if self._is_postgres
            else engine
        )
        # One statement reads one snapshot, or makes one complete change, on both databases: no BEGIN and COMMIT
        # round trips around it.
        self._autocommit = engine.execution_options(
            **({"isolation_level": "AUTOCOMMIT"} if self._is_postgres else {SQLITE_NO_BEGIN: True})
        )
        self._writers = engine if self._is_postgres else engine.execution_options(**{SQLITE_IMMEDIATE: True})
        self._local_writer = asyncio.Lock()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ResourceRepository]:
        async with self._transaction(self._readers) as connection:
            yield SqlaResourceRepository(connection)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[ResourceRepository]:
        async with (
            nullcontext() if self._is_postgres else self._local_writer,
            self._transaction(self._writers) as connection,
        ):
            if self._is_postgres:
                await connection.execute(_TAKE_WRITERS_LOCK)
            yield SqlaResourceRepository(connection)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AutocommitRepository]:
        async with self._transaction(self._autocommit) as connection:
            yield _SqlaAutocommitRepository(connection, None if self._is_postgres else self._local_writer)

    async def ping(self) -> None:
        try:
            async with self._connect(self._engine) as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise storage_error(exc) from exc

    @asynccontextmanager
    async def _transaction(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._connect(engine) as connection, connection.begin():
                yield connection
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise storage_error(exc) from exc

    def _connect(self, engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]:
        return engine.connect() if self._pool_metrics is None else self._pool_metrics.connect(engine)


class _SqlaAutocommitRepository(AutocommitRepository):
    """The repository on a connection without a transaction: each statement commits on its own.

    It holds a full repository and passes on only the one-statement calls, so nothing else is reachable on it. On
    SQLite an `add` queues on the process's writers lock first, as a write transaction does, so that it never waits
    on SQLite's busy timeout.
    """

    def __init__(self, connection: AsyncConnection, local_writer: asyncio.Lock | None) -> None:
        self._statements = SqlaResourceRepository(connection)
        self._local_writer = local_writer

    async def get(self, resource_id: UUID) -> Resource | None:
        return await self._statements.get(resource_id)

    async def add(self, resource: Resource) -> None:
        if resource.dependencies:
            raise ValueError("a resource with dependencies is added in a write transaction")
        async with nullcontext() if self._local_writer is None else self._local_writer:
            await self._statements.add(resource)

    async def count(self) -> int:
        return await self._statements.count()

    async def list_page(self, page: PageRequest) -> tuple[list[Resource], int]:
        return await self._statements.list_page(page)

    async def search(self, text: str, page: PageRequest) -> tuple[list[Resource], int]:
        return await self._statements.search(text, page)
