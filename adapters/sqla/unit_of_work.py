"""SqlaUnitOfWork: one SQLAlchemy session and transaction per service operation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.sqla.engine import GRAPH_LOCK_KEY, SQLITE_IMMEDIATE
from adapters.sqla.repository import SqlaResourceRepository
from core.errors import StorageError, StorageUnavailable
from ports.repository import ResourceRepository
from ports.unit_of_work import UnitOfWork

# SQLSTATE prefixes of a server that cannot serve for now: connection exceptions (08), insufficient resources
# (53: too many connections, out of memory, disk full), and starting or shutting down (57P). PostgreSQL answers
# "the database system is starting up" (57P03) as a plain DBAPIError while it recovers from a crash.
UNAVAILABLE_SQLSTATES = ("08", "53", "57P")


def storage_error(exc: BaseException) -> StorageError:
    """The domain error for a driver failure: unavailable when retrying later may help."""
    unreachable = isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | OSError | TimeoutError)
    if unreachable or (isinstance(exc, DBAPIError) and (exc.connection_invalidated or _server_unavailable(exc))):
        return StorageUnavailable("the database is unavailable")
    return StorageError("the database failed to complete the operation")


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

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
        self._database_system = str(engine.dialect.name)
        self._is_postgres = self._database_system == "postgresql"
        self._local_writer = asyncio.Lock()

    @property
    def database_system(self) -> str:
        return self._database_system

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ResourceRepository]:
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True} if self._is_postgres else {}
        async with self._transaction(options) as session:
            yield SqlaResourceRepository(session)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[ResourceRepository]:
        options = {} if self._is_postgres else {SQLITE_IMMEDIATE: True}
        async with nullcontext() if self._is_postgres else self._local_writer, self._transaction(options) as session:
            if self._is_postgres:
                await session.execute(select(func.pg_advisory_xact_lock(GRAPH_LOCK_KEY)))
            yield SqlaResourceRepository(session)

    async def ping(self) -> None:
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise storage_error(exc) from exc

    @asynccontextmanager
    async def _transaction(self, options: dict[str, Any]) -> AsyncIterator[AsyncSession]:
        try:
            async with self._sessions() as session, session.begin():
                await session.connection(execution_options=options)
                yield session
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise storage_error(exc) from exc
