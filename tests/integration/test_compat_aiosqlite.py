"""Canary for `adapters/_compat/aiosqlite.py`: aiosqlite still runs a function of ours on a connection's thread.

A failure here means the aiosqlite release under test changed what that module relies on: read its docstring
before raising the bound on aiosqlite in pyproject.toml.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from adapters._compat.aiosqlite import run_on_connection_thread

CHANGED = f"aiosqlite {aiosqlite.__version__} changed under adapters/_compat/aiosqlite.py"


@pytest.fixture
async def connection(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    async with aiosqlite.connect(tmp_path / "canary.db") as opened:
        yield opened


def test_the_private_members_it_calls_are_still_there() -> None:
    assert callable(getattr(aiosqlite.Connection, "_execute", None)), f"{CHANGED}: no Connection._execute"
    assert isinstance(getattr(aiosqlite.Connection, "_conn", None), property), f"{CHANGED}: no Connection._conn"


async def test_the_function_gets_the_sqlite3_connection_on_its_own_thread(connection: aiosqlite.Connection) -> None:
    def on_the_thread(sqlite3_connection: sqlite3.Connection) -> tuple[object, int, int]:
        # sqlite3 refuses a connection used on a thread other than the one that opened it (check_same_thread).
        (answer,) = sqlite3_connection.execute("SELECT 42").fetchone()
        return type(sqlite3_connection), threading.get_ident(), answer

    kind, thread, answer = await run_on_connection_thread(connection, on_the_thread)

    assert kind is sqlite3.Connection, f"{CHANGED}: the function was given a {kind}, not the sqlite3 connection"
    assert thread != threading.get_ident(), f"{CHANGED}: the function ran on the event loop's thread"
    assert answer == 42


async def test_a_call_is_one_hand_off_to_the_thread(
    connection: aiosqlite.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = []
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, *args: object, **kwargs: object) -> object:
        queued.append(args)
        return await original(self, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    await run_on_connection_thread(connection, lambda sqlite3_connection: sqlite3_connection.execute("SELECT 1"))
    assert len(queued) == 1, f"{CHANGED}: one call queued {len(queued)} functions on the thread"


async def test_a_closed_connection_raises_what_sqlalchemys_dialect_translates(tmp_path: Path) -> None:
    """SQLAlchemy's aiosqlite dialect turns ValueError("no active connection") into OperationalError, a disconnect."""
    connection = await aiosqlite.connect(tmp_path / "closed.db")
    await connection.close()
    with pytest.raises(ValueError, match="no active connection"):
        await run_on_connection_thread(connection, lambda sqlite3_connection: None)
