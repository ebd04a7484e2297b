"""SQLAlchemy: the adapter classes of its aiosqlite dialect, as `adapters/sqla/sqlite_driver.py` extends them.

SQLAlchemy's public way to bring a driver is its DBAPI module (`create_async_engine(..., module=...)`); the
classes its aiosqlite dialect wraps aiosqlite in (`sqlalchemy.dialects.sqlite.aiosqlite`) are not documented,
and every cursor of an asyncio dialect must answer a private hook. What the one-hop driver relies on, all here:

- `AsyncAdapt_aiosqlite_dbapi`, `AsyncAdapt_aiosqlite_connection` and `AsyncAdapt_aiosqlite_cursor`, subclassed;
- a connection's `_execute_mutex` (the lock SQLAlchemy's own cursors hold while a statement runs) and
  `_handle_exception` (aiosqlite's errors raised as the dialect expects them: a closed connection as
  `OperationalError`, which it counts as a disconnect);
- a cursor's `_adapt_connection` and `_rows` slots (its inherited `fetch*` methods read the rows there), and
  `_async_soft_close`, which SQLAlchemy's asyncio results await before they hand a cursor to synchronous code.

Why it is worth it: SQLAlchemy's own adapter (four hand-offs a statement, three a BEGIN) took 1.27-1.96x the CPU
time of the one-hop driver per service call, 1.70-1.84x for a get (`tests/benchmarks/sqlite_driver.py`,
docs/performance.md, section 6).
Canary: tests/integration/test_compat_sqlalchemy.py. Bounded in pyproject.toml: sqlalchemy<2.2.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, NoReturn

from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_cursor, AsyncIODBAPIConnection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

Description = tuple[tuple[Any, ...], ...] | None
# What a statement leaves on its cursor: description, rowcount, lastrowid and every row.
StatementOutcome = tuple[Description, int, int | None, list[Any]]


class HeldResultCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor of the aiosqlite dialect that holds the whole outcome of its connection's `run_statement`."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")
    _adapt_connection: StatementConnection

    def __init__(self, connection: StatementConnection) -> None:
        # No aiosqlite cursor behind it: SQLAlchemy's own opens one per statement, a hand-off of its own.
        self._adapt_connection = connection
        self._rows = deque()
        self._arraysize = 1
        self._store((None, -1, None, []))

    @property
    def description(self) -> Description:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._store(self._adapt_connection.run_statement(operation, parameters, many=False))

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._store(self._adapt_connection.run_statement(operation, seq_of_parameters, many=True))

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        """Nothing is open on the connection's thread: the statement's outcome is held already."""

    def _store(self, outcome: StatementOutcome) -> None:
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = deque(rows)


class StatementConnection(AsyncAdapt_aiosqlite_connection):
    """A connection of the aiosqlite dialect whose subclass runs each statement its own way, in `run_statement`."""

    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_dbapi_cursor:
        # Server-side cursors (stream()) too: every statement goes through `run_statement`, its rows held.
        return HeldResultCursor(self)

    def run_statement(self, operation: str, parameters: Any, *, many: bool) -> StatementOutcome:
        """Run one statement (with `executemany` when `many`) and return all it left on its cursor."""
        raise NotImplementedError

    @property
    def statement_lock(self) -> asyncio.Lock:
        """The lock SQLAlchemy's own cursors of this connection hold while one of their statements runs."""
        return self._execute_mutex

    def raise_as_dbapi_error(self, error: Exception) -> NoReturn:
        """Raise a driver error as SQLAlchemy's aiosqlite dialect does, so that it sees disconnects."""
        self._handle_exception(error)


class StatementDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module of the aiosqlite dialect, handing out connections of `connection_class`."""

    connection_class: type[StatementConnection]

    def connect(self, *arg: Any, **kw: Any) -> StatementConnection:
        driver_connection: AsyncIODBAPIConnection = super().connect(*arg, **kw).driver_connection
        return self.connection_class(self, driver_connection)
