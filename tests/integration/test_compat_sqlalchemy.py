"""Canary for `adapters/_compat/sqlalchemy.py`: SQLAlchemy's aiosqlite adapter is still what the driver extends.

A failure here means the SQLAlchemy release under test changed what that module relies on: read its docstring
before raising the bound on SQLAlchemy in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection, AsyncAdapt_dbapi_cursor
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters._compat.sqlalchemy import HeldResultCursor, StatementConnection
from adapters.sqla import create_engine

CHANGED = f"SQLAlchemy {sa.__version__} changed under adapters/_compat/sqlalchemy.py"


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


async def _adapted_connection(engine: AsyncEngine) -> StatementConnection:
    async with engine.connect() as connection:
        adapted = (await connection.get_raw_connection()).dbapi_connection
    assert isinstance(adapted, StatementConnection)
    return adapted


def test_the_cursor_slots_it_fills_are_still_the_adapters() -> None:
    slots = set(AsyncAdapt_dbapi_cursor.__slots__)
    assert {"_adapt_connection", "_rows"} <= slots, f"{CHANGED}: the adapter's cursor slots are {sorted(slots)}"
    assert hasattr(AsyncAdapt_dbapi_cursor, "_async_soft_close"), f"{CHANGED}: no cursor hook _async_soft_close"


def test_the_connection_members_it_uses_are_still_there() -> None:
    assert "_execute_mutex" in AsyncAdapt_dbapi_connection.__slots__, f"{CHANGED}: no connection._execute_mutex"
    assert callable(getattr(AsyncAdapt_dbapi_connection, "_handle_exception", None)), (
        f"{CHANGED}: no connection._handle_exception"
    )


async def test_the_statement_lock_is_the_adapters_asyncio_lock(engine: AsyncEngine) -> None:
    lock = (await _adapted_connection(engine)).statement_lock
    assert isinstance(lock, asyncio.Lock), f"{CHANGED}: _execute_mutex is a {type(lock)}"


async def test_asyncio_results_still_call_the_cursors_soft_close_hook(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If SQLAlchemy stopped calling it, a new hook in its place would run against a cursor it does not know."""
    calls = []

    async def soft_close(self: HeldResultCursor) -> None:
        calls.append(self)

    monkeypatch.setattr(HeldResultCursor, "_async_soft_close", soft_close)
    async with engine.connect() as connection:
        assert (await connection.execute(sa.text("SELECT 42"))).scalar_one() == 42
    assert len(calls) == 1, f"{CHANGED}: AsyncConnection.execute called _async_soft_close {len(calls)} times"


async def test_driver_errors_are_raised_as_the_dialect_expects_them(engine: AsyncEngine) -> None:
    """aiosqlite's error for a closed connection becomes sqlite3's OperationalError, which the dialect counts as a
    disconnect (the pool then replaces the connection)."""
    adapted = await _adapted_connection(engine)
    with pytest.raises(sqlite3.OperationalError, match="no active connection"):
        adapted.raise_as_dbapi_error(ValueError("no active connection"))
    error = sqlite3.OperationalError("no active connection")
    disconnect = engine.dialect.is_disconnect(error, None, None)  # type: ignore[arg-type]  # typed as its Protocol
    assert disconnect, f"{CHANGED}: a closed connection is no disconnect"
