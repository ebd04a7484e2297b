"""aiosqlite under SQLAlchemy in one hand-off to the connection's thread per statement.

aiosqlite runs every call on a thread of the connection's own and hands the answer back to the event loop.
SQLAlchemy's adapter makes four such calls per statement (open a cursor, execute, fetch the rows, close it),
and three more for the BEGIN of each transaction. Here a statement with all its rows is one call, the BEGIN
rides along with the transaction's first statement, and COMMIT or ROLLBACK go to the thread only when a
statement did: a GET (one statement) costs two hand-offs instead of nine. Profiled under load before this, the
event loop's thread was busy only 57% of the time, waiting on these hand-offs for the rest. What this needs
beyond aiosqlite's and SQLAlchemy's public APIs, and the measurement that keeps it, is in `adapters._compat`.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncIODBAPIConnection

from adapters._compat.aiosqlite import run_on_connection_thread
from adapters._compat.sqlalchemy import StatementConnection, StatementDbapi, StatementOutcome


def _run(
    connection: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool
) -> StatementOutcome:
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


class OneHopConnection(StatementConnection):
    """SQLAlchemy's aiosqlite connection running each statement in one call, a BEGIN deferred to the first one."""

    __slots__ = ("_begin", "_in_transaction")

    def __init__(self, dbapi: Any, connection: AsyncIODBAPIConnection) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None
        self._in_transaction = False

    def begin_with_next_statement(self, begin: str) -> None:
        """Open a transaction with `begin` (BEGIN, BEGIN IMMEDIATE) together with the next statement."""
        self._begin = begin

    def run_statement(self, operation: str, parameters: Any, *, many: bool) -> StatementOutcome:
        begin, self._begin = self._begin, None
        self._in_transaction |= begin is not None
        statement = partial(_run, begin=begin, operation=operation, parameters=parameters, many=many)
        try:
            return self.run_async(lambda driver_connection: self._run_alone(driver_connection, statement))
        except Exception as error:
            self.raise_as_dbapi_error(error)

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

    async def _run_alone(
        self, driver_connection: aiosqlite.Connection, statement: partial[StatementOutcome]
    ) -> StatementOutcome:
        async with self.statement_lock:
            return await run_on_connection_thread(driver_connection, statement)


class OneHopDbapi(StatementDbapi):
    """The DBAPI module SQLAlchemy's aiosqlite dialect uses, handing out `OneHopConnection`s."""

    connection_class = OneHopConnection


def one_hop_dbapi() -> OneHopDbapi:
    """The module to pass as `create_async_engine(..., module=...)` for `sqlite+aiosqlite` URLs."""
    return OneHopDbapi(aiosqlite, sqlite3)
