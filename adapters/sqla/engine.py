"""Engines for SQLite and PostgreSQL, configured so both behave the same for the repository."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.sqla.sqlite_driver import OneHopConnection, one_hop_dbapi

# Any fixed number: the key of the PostgreSQL advisory lock that serialises writers.
GRAPH_LOCK_KEY = 0x7265736F75726365
SQLITE_IMMEDIATE = "sqlite_immediate"
# A connection whose block is one statement: SQLite runs it without BEGIN, consistent as one statement always is.
SQLITE_NO_BEGIN = "sqlite_no_begin"
# How long one attempt to reach the database may take: the most a request waits on a database that is away.
CONNECT_TIMEOUT_S = 5.0
# Connections kept open per process, and no more: SQLAlchemy's default (5, plus 10 "overflow" connections opened
# when busy and closed when returned) opened and closed a connection for nearly every request under sixteen
# concurrent clients (an asyncpg connection is a TCP and SSL negotiation, an aiosqlite one a new thread): 18 % of
# the event loop's busy time in a PostgreSQL GET profile. Measured side by side, GET under `wrk -c16`: 2.1-2.5x
# the requests/s on PostgreSQL, 1.2-1.35x on SQLite. A request beyond ten waits for a connection (as with an
# asyncpg pool of ten) up to the connect timeout.
POOL_SIZE = 10
_POOL = {"pool_size": POOL_SIZE, "max_overflow": 0}


def create_engine(url: str, *, connect_timeout: float = CONNECT_TIMEOUT_S) -> AsyncEngine:
    """An async engine for `url`: `sqlite+aiosqlite://...` or `postgresql+asyncpg://...`."""
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            module=one_hop_dbapi(),
            connect_args={"timeout": connect_timeout},
            hide_parameters=True,
            # An in-memory database lives in its one connection (SQLAlchemy's StaticPool): no pool to size.
            **({} if _in_memory(url) else {"pool_timeout": connect_timeout, **_POOL}),
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
        return engine
    engine = create_async_engine(
        url,
        # Driver errors end up in spans and logs: keep user data (bound parameters) out of their text.
        hide_parameters=True,
        pool_timeout=connect_timeout,
        **_POOL,
        connect_args={"timeout": connect_timeout},
    )
    event.listen(engine.sync_engine, "checkout", _discard_closed_connection)
    return engine


def _in_memory(url: str) -> bool:
    parsed = make_url(url)
    return parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"


def _discard_closed_connection(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    # Instead of pool_pre_ping, which costs three round trips per checkout with asyncpg (BEGIN, a ping, ROLLBACK):
    # a server that stopped or restarted closed its sockets, which asyncpg has seen, and the pool connects anew.
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")


def _configure_sqlite_connection(dbapi_connection: Any, _record: object) -> None:
    # Let SQLAlchemy, not the driver, emit BEGIN, so writers can ask for BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.close()
    # SQLite's own lower() folds ASCII only; PostgreSQL's folds all of Unicode, and so does this.
    dbapi_connection.create_function("lower", 1, str.lower, deterministic=True)


def _begin_sqlite_transaction(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get(SQLITE_NO_BEGIN, False):
        return
    immediate = options.get(SQLITE_IMMEDIATE, False)
    driver_connection = connection.connection.dbapi_connection
    assert isinstance(driver_connection, OneHopConnection)
    driver_connection.begin_with_next_statement("BEGIN IMMEDIATE" if immediate else "BEGIN")
