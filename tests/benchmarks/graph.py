"""Suite 3: how graph operations scale on SQLite and PostgreSQL.

Fixtures are written straight into the tables (executemany on SQLite, COPY on PostgreSQL); only the operation
under test goes through the ResourceService (no-op observability). Time is wall time: the database's work is
part of the operation. PostgreSQL gets a database of its own, created for the run and dropped after it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from uuid import UUID, uuid4

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqla import SqlaUnitOfWork, create_engine, upgrade_schema
from core.errors import CircularDependency
from core.instrumentation import Instrumentation, NoTelemetry
from core.model import PageRequest, ResourceChanges
from core.service import ResourceService

from .measure import FULL_REPETITIONS, SMOKE_REPETITIONS, Row, Spread, ratio, target
from .raw import ResourceRecord, open_raw

Store = Literal["sqlite", "postgres"]
STORES: Final[tuple[Store, ...]] = ("sqlite", "postgres")
Operation = Literal["cycle_check", "cascade_delete", "search"]
POSTGRES_URL: Final = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
GROWTH_LIMIT: Final = 12.0
EPOCH: Final = datetime(2024, 1, 1, tzinfo=UTC)
SEARCH_TEXT: Final = "alpha"
FULL_SIZES: Final[dict[Operation, tuple[int, ...]]] = {
    "cycle_check": (100, 1_000, 10_000),
    "cascade_delete": (1_000, 10_000, 100_000),
    "search": (10_000, 100_000),
}
SMOKE_SIZES: Final[dict[Operation, tuple[int, ...]]] = {
    "cycle_check": (10, 100),
    "cascade_delete": (10, 100),
    "search": (100, 1_000),
}


@dataclass(frozen=True, slots=True)
class Fixture:
    """Resource rows and edge rows, ready for the tables."""

    ids: list[UUID]
    edges: list[tuple[UUID, UUID, int]]
    descriptions: Sequence[str] = ()

    def resource_rows(self) -> list[ResourceRecord]:
        rows: list[ResourceRecord] = []
        for index, resource_id in enumerate(self.ids):
            created = EPOCH + timedelta(milliseconds=index)
            description = self.descriptions[index] if self.descriptions else ""
            rows.append((resource_id, f"node-{index:06d}", description, created, created))
        return rows


def chain(size: int) -> Fixture:
    """Each resource depends on the one before it."""
    ids = [uuid4() for _ in range(size)]
    return Fixture(ids, [(ids[index], ids[index - 1], 0) for index in range(1, size)])


def dag(size: int) -> Fixture:
    """A tree of branching 3 under the first resource, where each child also depends on its parent's neighbour."""
    ids = [uuid4() for _ in range(size)]
    edges = []
    for index in range(1, size):
        parent = (index - 1) // 3
        edges.append((ids[index], ids[parent], 0))
        if parent > 0:
            edges.append((ids[index], ids[parent - 1], 1))
    return Fixture(ids, edges)


def searchable(size: int) -> Fixture:
    """Unconnected resources; one in ten has the searched word in its description."""
    descriptions = [f"{SEARCH_TEXT} {index}" if index % 10 == 0 else f"plain {index}" for index in range(size)]
    return Fixture([uuid4() for _ in range(size)], [], descriptions)


async def load(engine: AsyncEngine, fixture: Fixture) -> None:
    """Empty the tables, then write `fixture` into them directly, on the raw driver (`raw.py`)."""
    raw = await open_raw(engine.url)
    try:
        await raw.load(fixture.resource_rows(), fixture.edges)
    finally:
        await raw.close()


async def _timed(step: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await step()
    return time.perf_counter() - started


async def cycle_check_seconds(
    engine: AsyncEngine, service: ResourceService, size: int, repetitions: int
) -> list[float]:
    """Closing a chain into a ring: the check walks the whole chain, then refuses the edge."""
    fixture = chain(size)
    await load(engine, fixture)
    first, last = fixture.ids[0], fixture.ids[-1]

    async def refuse() -> None:
        await close_the_ring(service, first, last, size)

    return [await _timed(refuse) for _ in range(repetitions)]


async def cascade_seconds(engine: AsyncEngine, service: ResourceService, size: int, repetitions: int) -> list[float]:
    """Deleting the resource everything depends on, with the whole DAG; reloaded before each repetition."""
    seconds = []
    for _ in range(repetitions):
        fixture = dag(size)
        await load(engine, fixture)

        async def cascade(root: UUID = fixture.ids[0]) -> None:
            deleted = await service.delete_cascade(root)
            assert len(deleted.deleted) == size, f"deleted {len(deleted.deleted)}, expected {size}"

        seconds.append(await _timed(cascade))
    return seconds


async def search_seconds(engine: AsyncEngine, service: ResourceService, size: int, repetitions: int) -> list[float]:
    """One page of a search that matches one resource in ten, with its total."""
    await load(engine, searchable(size))

    async def search() -> None:
        page = await service.search(SEARCH_TEXT, PageRequest(limit=50))
        assert page.total == (size + 9) // 10, f"found {page.total}"

    return [await _timed(search) for _ in range(repetitions)]


Measure = Callable[[AsyncEngine, ResourceService, int, int], Awaitable[list[float]]]
_OPERATIONS: Final[dict[Operation, Measure]] = {
    "cycle_check": cycle_check_seconds,
    "cascade_delete": cascade_seconds,
    "search": search_seconds,
}


@asynccontextmanager
async def database(store: Store) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database of `store`'s kind with the schema, removed afterwards."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            engine = create_engine(f"sqlite+aiosqlite:///{directory}/graph.db")
            await upgrade_schema(engine)
            try:
                yield engine
            finally:
                await engine.dispose()
        return
    name = f"resource_service_bench_{uuid4().hex[:12]}"
    admin_dsn = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        engine = create_engine(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
        try:
            await upgrade_schema(engine)
            yield engine
        finally:
            await engine.dispose()
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def run(*, smoke: bool, stores: Sequence[Store] = STORES) -> dict[str, Any]:
    """Every operation at every size on every store; rows, growth factors and targets."""
    repetitions, sizes = (SMOKE_REPETITIONS, SMOKE_SIZES) if smoke else (FULL_REPETITIONS, FULL_SIZES)
    rows: list[Row] = []
    for store in stores:
        async with database(store) as engine:
            service = ResourceService(SqlaUnitOfWork(engine), Instrumentation(NoTelemetry()))
            for operation, measure in _OPERATIONS.items():
                for size in sizes[operation]:
                    seconds = await measure(engine, service, size, repetitions)
                    ms = Spread.of([second * 1000 for second in seconds]).as_json()
                    rows.append({"store": store, "operation": operation, "size": size, "ms_per_operation": ms})
    growth = _growth(rows)
    return {"rows": rows, "growth": growth, "targets": _targets(growth)}


def _growth(rows: list[Row]) -> list[Row]:
    """Time at each size over time at the size ten times smaller."""
    medians = {(row["store"], row["operation"], row["size"]): row["ms_per_operation"]["median"] for row in rows}
    return [
        {
            "store": store,
            "operation": operation,
            "from_size": size // 10,
            "to_size": size,
            "growth_per_10x": ratio(median, medians[(store, operation, size // 10)]),
        }
        for (store, operation, size), median in medians.items()
        if (store, operation, size // 10) in medians
    ]


def _targets(growth: list[Row]) -> list[Row]:
    return [
        target(
            f"at most 12x per 10x size: {row['store']} {row['operation']} {row['from_size']}->{row['to_size']}",
            row["growth_per_10x"],
            GROWTH_LIMIT,
            unit="x",
        )
        for row in growth
    ]


async def close_the_ring(service: ResourceService, first: UUID, last: UUID, size: int) -> None:
    """Ask `first` of a chain of `size` to depend on `last`: refused, naming the whole cycle."""
    try:
        await service.update(first, ResourceChanges(dependencies=(last,)))
    except CircularDependency as refused:
        cycle = refused.cycle
    else:
        raise AssertionError("the cycle was not refused")
    assert len(cycle) == size + 1, f"the cycle has {len(cycle)} steps, expected {size + 1}"
