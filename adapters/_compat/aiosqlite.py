"""aiosqlite: one function of ours run on a connection's own thread, given its sqlite3 connection.

aiosqlite has no public call for it. `Connection._execute` queues a function on the connection's thread and
`Connection._conn` is the sqlite3 connection there; aiosqlite's own `execute_fetchall` and `execute_insert` are
built the same way, and SQLAlchemy's aiosqlite dialect reaches `_conn` and `_tx` itself. It lets
`adapters/sqla/sqlite_driver.py` run a statement with its BEGIN and all its rows as one hand-off.

Measured with `tests/benchmarks/sqlite_driver.py` (docs/performance.md, section 6; 2026-12-06, a shared
two-CPU machine at load 2-4): `ResourceService` on SQLite through this driver, against the same driver on
aiosqlite's public calls (BEGIN, execute and fetchall a hand-off each), paired medians over alternated rounds,
five runs. The public calls took 1.11-1.16x the CPU time of a get and 1.11-1.19x of a create with dependencies;
list and create within noise (0.96-1.09x, 0.97-1.28x). Instructions per get (callgrind): 1.04-1.10 M here,
1.11-1.27 M on the public calls.
Canary: tests/integration/test_compat_aiosqlite.py. Bounded in pyproject.toml: aiosqlite<0.23.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

import aiosqlite

T = TypeVar("T")


async def run_on_connection_thread(connection: aiosqlite.Connection, function: Callable[[sqlite3.Connection], T]) -> T:
    """`function(sqlite3_connection)` on the connection's thread: one hand-off, whatever the function does there."""
    sqlite3_connection = connection._conn  # raises ValueError("no active connection") once closed, as aiosqlite does
    result: T = await connection._execute(function, sqlite3_connection)  # type: ignore[no-untyped-call]
    return result
