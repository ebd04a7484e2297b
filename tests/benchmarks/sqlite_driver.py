"""The one-hop SQLite driver side by side with the plain ways: is reaching past the libraries' APIs still worth it?

`python -m tests.benchmarks.sqlite_driver alternate ROUNDS CALLS` times `ResourceService` calls on SQLite through
three drivers, alternated within each round, and prints each one's CPU and wall time per call against the one-hop
driver's, paired per round (median and min-max):

- `one_hop`: the project's (`adapters/sqla/sqlite_driver.py`, with `adapters/_compat/`);
- `public_api`: the same driver on aiosqlite's public calls only (BEGIN, execute and fetchall a hand-off each);
- `plain`: SQLAlchemy's own aiosqlite adapter, BEGIN from its documented `begin` event.

`python -m tests.benchmarks.sqlite_driver once DRIVER OPERATION CALLS` makes CALLS calls of one operation, for
`valgrind --tool=callgrind`: two runs of different CALLS, the difference of their instructions divided by that of
CALLS, is the cost of one call. Not a suite of `python -m tests.benchmarks`: docs/performance.md, section 6, has
its figures.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Final
from uuid import uuid4

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters._compat.sqlalchemy import StatementOutcome
from adapters.sqla import SqlaUnitOfWork, create_engine, upgrade_schema
from adapters.sqla.engine import (
    POOL_SIZE,
    SQLITE_IMMEDIATE,
    SQLITE_NO_BEGIN,
    _begin_sqlite_transaction,
    _configure_sqlite_connection,
)
from adapters.sqla.sqlite_driver import OneHopConnection, OneHopDbapi
from core.instrumentation import Instrumentation, NoTelemetry
from core.model import PageRequest, ResourceDraft
from core.service import ResourceService

Operation = Callable[[], Awaitable[object]]
OPERATIONS: Final = ("get", "list", "create", "create_with_dependencies")
WARM_UP_CALLS: Final = 50


class PublicApiConnection(OneHopConnection):
    """The one-hop driver on aiosqlite's public calls only: BEGIN, execute and fetchall a hand-off each."""

    __slots__ = ()

    async def _run_alone(
        self, driver_connection: aiosqlite.Connection, statement: partial[StatementOutcome]
    ) -> StatementOutcome:
        begin, operation, parameters, many = (
            statement.keywords[k] for k in ("begin", "operation", "parameters", "many")
        )
        async with self.statement_lock:
            if begin is not None:
                await driver_connection.execute(begin)
            if many:
                cursor = await driver_connection.executemany(operation, parameters)
            else:
                cursor = await driver_connection.execute(operation, () if parameters is None else parameters)
            rows = list(await cursor.fetchall()) if cursor.description else []
            return cursor.description, cursor.rowcount, cursor.lastrowid, rows


class PublicApiDbapi(OneHopDbapi):
    connection_class = PublicApiConnection


def _begin(connection: Connection) -> None:
    """SQLAlchemy's documented way to emit BEGIN on pysqlite and aiosqlite, with the project's options."""
    options = connection.get_execution_options()
    if not options.get(SQLITE_NO_BEGIN, False):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(SQLITE_IMMEDIATE, False) else "BEGIN")


def _plain_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, hide_parameters=True, pool_size=POOL_SIZE, max_overflow=0)
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin)
    return engine


def _public_api_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(
        url, module=PublicApiDbapi(aiosqlite, sqlite3), hide_parameters=True, pool_size=POOL_SIZE, max_overflow=0
    )
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
    return engine


ENGINES: Final[dict[str, Callable[[str], AsyncEngine]]] = {
    "one_hop": create_engine,
    "public_api": _public_api_engine,
    "plain": _plain_engine,
}


async def _operations(engine: AsyncEngine) -> dict[str, Operation]:
    """A service over `engine` with a resource of two dependencies among 60 others, and the operations timed."""
    await upgrade_schema(engine)
    service = ResourceService(SqlaUnitOfWork(engine), Instrumentation(NoTelemetry()))
    db = await service.create(ResourceDraft("db"))
    cache = await service.create(ResourceDraft("cache"))
    api = await service.create(ResourceDraft("api", dependencies=(db.id, cache.id)))
    for index in range(60):
        await service.create(ResourceDraft(f"filler-{index}"))
    return {
        "get": lambda: service.get(api.id),
        "list": lambda: service.list_page(PageRequest(50, 0)),
        "create": lambda: service.create(ResourceDraft(f"r-{uuid4()}")),
        "create_with_dependencies": lambda: service.create(ResourceDraft(f"r-{uuid4()}", dependencies=(db.id,))),
    }


async def _per_call_us(operation: Operation, calls: int) -> tuple[float, float]:
    """CPU (every thread's) and wall microseconds per call."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await operation()
    return (time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6


def _report(name: str, metric: str, samples: dict[str, list[float]]) -> str:
    one_hop = samples["one_hop"]
    line = f"{name:24} {metric:4}  one_hop {statistics.median(one_hop):7.1f} µs"
    for other in ("public_api", "plain"):
        ratios = [value / base for value, base in zip(samples[other], one_hop, strict=True)]
        line += (
            f" | {other} {statistics.median(samples[other]):7.1f} µs,"
            f" {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        )
    return line


async def alternate(rounds: int, calls: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        engines = {kind: build(f"sqlite+aiosqlite:///{directory}/{kind}.db") for kind, build in ENGINES.items()}
        operations = {kind: await _operations(engine) for kind, engine in engines.items()}
        kinds = list(ENGINES)
        for name in OPERATIONS:
            cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
            wall: dict[str, list[float]] = {kind: [] for kind in kinds}
            for kind in kinds:
                await _per_call_us(operations[kind][name], WARM_UP_CALLS)  # the pool filled, statements compiled
            for round_ in range(rounds):
                for kind in kinds[round_ % 3 :] + kinds[: round_ % 3]:
                    cpu_us, wall_us = await _per_call_us(operations[kind][name], calls)
                    cpu[kind].append(cpu_us)
                    wall[kind].append(wall_us)
            print(_report(name, "cpu", cpu), _report(name, "wall", wall), sep="\n", flush=True)
        for engine in engines.values():
            await engine.dispose()


async def once(kind: str, name: str, calls: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = ENGINES[kind](f"sqlite+aiosqlite:///{Path(directory) / 'once.db'}")
        operation = (await _operations(engine))[name]
        await _per_call_us(operation, WARM_UP_CALLS)
        await _per_call_us(operation, calls)
        await engine.dispose()


if __name__ == "__main__":
    if sys.argv[1] == "alternate":
        asyncio.run(alternate(int(sys.argv[2]), int(sys.argv[3])))
    else:
        asyncio.run(once(sys.argv[2], sys.argv[3], int(sys.argv[4])))
