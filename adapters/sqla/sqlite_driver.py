"""aiosqlite under SQLAlchemy in one hand-off to the connection's thread per statement.

aiosqlite runs every call on a thread of the connection's own and hands the answer back to the event loop.
SQLAlchemy's adapter makes four such calls per statement (open a cursor, execute, fetch the rows, close it),
and three more for the BEGIN of each transaction. Here a statement with all its rows is one call, the BEGIN
rides along with the transaction's first statement, and COMMIT or ROLLBACK go to the thread only when a
statement did: a GET (one statement) costs two hand-offs instead of nine. Profiled under load before this, the
event loop's thread was busy only 57% of the time, waiting on these hand-offs for the rest.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection, AsyncAdapt_dbapi_cursor, AsyncIODBAPIConnection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

_Description = tuple[tuple[Any, ...], ...] | None
_Outcome = tuple[_Description, int, int | None, list[Any]]


def _run(connection: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool) -> _Outcome:
    """On the connection's thread: BEGIN if due, the statement, and all its rows."""
    if begin is not None:
        connection.execute(begin)
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A DBAPI cursor whose statement, rows and close are one call on the connection's thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")
    _adapt_connection: OneHopConnection

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # No aiosqlite cursor of its own: `_run` opens and closes a sqlite3 one on the thread.
        assert isinstance(adapt_connection, OneHopConnection)
        self._adapt_connection = adapt_connection
        self._rows: deque[Any] = deque()
        self._description: _Description = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._store(self._adapt_connection.run(operation, parameters, many=False))

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._store(self._adapt_connection.run(operation, seq_of_parameters, many=True))

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = self.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    def fetchall(self) -> Sequence[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        """Nothing to close on the thread: `_run` closed the sqlite3 cursor already."""

    def _store(self, outcome: _Outcome) -> None:
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection with `OneHopCursor`s and a BEGIN deferred to the first statement."""

    __slots__ = ("_begin", "_in_transaction")

    def __init__(self, dbapi: Any, connection: AsyncIODBAPIConnection) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None
        self._in_transaction = False

    def cursor(self, server_side: bool = False) -> AsyncAdapt_dbapi_cursor:
        # Server-side cursors too (stream()): they would skip the deferred BEGIN; the rows are buffered instead.
        return OneHopCursor(self)

    def begin_with_next_statement(self, begin: str) -> None:
        """Open a transaction with `begin` (BEGIN, BEGIN IMMEDIATE) together with the next statement."""
        self._begin = begin

    def run(self, operation: str, parameters: Any, *, many: bool) -> _Outcome:
        begin, self._begin = self._begin, None
        self._in_transaction |= begin is not None
        try:
            outcome: _Outcome = await_(self._run_async(begin, operation, parameters, many))
        except Exception as error:
            self._handle_exception(error)
        return outcome

    def commit(self) -> None:
        self._begin = None
        if self._in_transaction:
            super().commit()
            # Not before: when COMMIT fails (a deferred foreign key), SQLite keeps the transaction to roll back.
            self._in_transaction = False

    def rollback(self) -> None:
        self._begin = None
        if self._in_transaction:
            super().rollback()
            self._in_transaction = False

    async def _run_async(self, begin: str | None, operation: str, parameters: Any, many: bool) -> _Outcome:
        connection = cast(aiosqlite.Connection, self._connection)
        async with self._execute_mutex:
            # aiosqlite's one way to run a function of ours on the connection's thread.
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, begin, operation, parameters, many
            )
            return outcome


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy's aiosqlite dialect uses, handing out `OneHopConnection`s."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        return OneHopConnection(self, super().connect(*arg, **kw)._connection)


def one_hop_dbapi() -> OneHopDbapi:
    """The module to pass as `create_async_engine(..., module=...)` for `sqlite+aiosqlite` URLs."""
    return OneHopDbapi(aiosqlite, sqlite3)
