"""The SQL adapter's use of its drivers: hand-offs to aiosqlite's thread per operation, connections the server closed.

The number of hand-offs is what the SQLite path costs beyond SQLite's own work (each is a round trip between the
event loop and the connection's thread): these tests keep it from growing back unnoticed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import uuid4

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqla import SqlaUnitOfWork, create_engine, upgrade_schema
from adapters.sqla.engine import POOL_SIZE
from adapters.sqla.tables import dependency_edges
from core.errors import DuplicateName
from core.instrumentation import Instrumentation, NoTelemetry
from core.model import PageRequest, ResourceChanges, ResourceDraft
from core.service import ResourceService


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    await upgrade_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def hand_offs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list counting the calls made on aiosqlite connections' threads."""
    counted = [0]
    run_on_thread = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        counted[0] += 1
        return await run_on_thread(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return counted


async def _counted(hand_offs: list[int], operation: Callable[[], Awaitable[object]]) -> int:
    await operation()  # connections opened and statements compiled: the steady state is what is counted
    hand_offs[0] = 0
    await operation()
    return hand_offs[0]


async def test_each_operation_costs_the_fewest_hand_offs_to_sqlite(
    sqlite_engine: AsyncEngine, hand_offs: list[int]
) -> None:
    service = ResourceService(SqlaUnitOfWork(sqlite_engine), Instrumentation(NoTelemetry()))
    db = await service.create(ResourceDraft("db"))
    cache = await service.create(ResourceDraft("cache"))
    api = await service.create(ResourceDraft("api", dependencies=(db.id, cache.id)))

    def create() -> Awaitable[object]:
        return service.create(ResourceDraft(f"r-{uuid4()}"))

    def create_with_dependencies() -> Awaitable[object]:
        return service.create(ResourceDraft(f"r-{uuid4()}", dependencies=(db.id,)))

    orders = [(cache.id, db.id), (db.id, cache.id)]

    def update() -> Awaitable[object]:
        orders.reverse()  # a change each time, so that it is written
        return service.update(api.id, ResourceChanges(dependencies=orders[0]))

    async def delete() -> None:
        await service.delete((await service.create(ResourceDraft(f"d-{uuid4()}"))).id)

    counts = {
        # The one statement, which is its own snapshot: no BEGIN, no COMMIT.
        "get": await _counted(hand_offs, lambda: service.get(api.id)),
        "list": await _counted(hand_offs, lambda: service.list_page(PageRequest(50, 0))),
        "search": await _counted(hand_offs, lambda: service.search("a", PageRequest(10, 0))),
        # INSERT, which is a whole change on its own (the unique index refuses a taken name). With observability
        # off nothing reports the count, so it is not read.
        "create": await _counted(hand_offs, create),
        # BEGIN IMMEDIATE with the check that the dependencies exist, INSERT, the edges, COMMIT.
        "create_with_dependencies": await _counted(hand_offs, create_with_dependencies),
        # get, the edges' targets exist, no path back, UPDATE, edges deleted and inserted, COMMIT (and BEGIN).
        "update": await _counted(hand_offs, update),
    }
    delete_and_its_create = await _counted(hand_offs, delete)

    assert counts == {"get": 1, "list": 1, "search": 1, "create": 1, "create_with_dependencies": 4, "update": 7}
    # get, direct dependents, DELETE, COMMIT.
    assert delete_and_its_create - counts["create"] == 4


async def test_a_failed_write_rolls_back_and_the_connection_serves_the_next_one(sqlite_engine: AsyncEngine) -> None:
    service = ResourceService(SqlaUnitOfWork(sqlite_engine), Instrumentation(NoTelemetry()))
    await service.create(ResourceDraft("db"))
    with pytest.raises(DuplicateName):
        await service.create(ResourceDraft("db"))
    async with sqlite_engine.connect() as connection:
        assert (await connection.exec_driver_sql("SELECT count(*) FROM resources")).scalar_one() == 1
    await service.create(ResourceDraft("cache"))
    assert (await service.list_page(PageRequest(50, 0))).total == 2


async def test_a_transaction_without_statements_sends_nothing_to_sqlite(
    sqlite_engine: AsyncEngine, hand_offs: list[int]
) -> None:
    async def begin_and_commit() -> None:
        async with sqlite_engine.begin():
            pass

    assert await _counted(hand_offs, begin_and_commit) == 0


async def test_a_postgresql_connection_the_server_closed_is_replaced_at_checkout(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        await upgrade_schema(engine)
        service = ResourceService(SqlaUnitOfWork(engine), Instrumentation(NoTelemetry()))
        await service.create(ResourceDraft("before"))
        killer = create_engine(postgres_url)
        async with killer.connect() as connection:  # what a server restart does to every connection
            terminated = await connection.scalar(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        await killer.dispose()
        assert terminated == 1
        await asyncio.sleep(0.2)  # the loop reads the server's goodbye on the idle pooled connections
        assert (await service.create(ResourceDraft("after"))).name == "after"
        assert (await service.list_page(PageRequest(50, 0))).total == 2
    finally:
        await engine.dispose()


async def test_a_commit_sqlite_refuses_leaves_no_transaction_open_on_the_connection(sqlite_engine: AsyncEngine) -> None:
    """A deferred foreign key fails at COMMIT, after which SQLite keeps the transaction: it must be rolled back."""
    service = ResourceService(SqlaUnitOfWork(sqlite_engine), Instrumentation(NoTelemetry()))
    db = await service.create(ResourceDraft("db"))
    dangling = {"resource_id": db.id, "dependency_id": uuid4(), "position": 0}
    with pytest.raises(sa.exc.IntegrityError):
        async with sqlite_engine.begin() as connection:
            await connection.execute(sa.insert(dependency_edges), dangling)

    async def the_same_edge_twice() -> None:
        async with sqlite_engine.begin() as connection:
            await connection.execute(sa.insert(dependency_edges), dangling)
            await connection.execute(sa.insert(dependency_edges), dangling)

    with pytest.raises(sa.exc.IntegrityError):  # and a statement SQLite refuses inside the transaction
        await the_same_edge_twice()
    for _ in range(3):  # whichever pooled connection comes next can begin, and nothing was written
        assert (await service.get(db.id)).dependencies == ()
        await service.create(ResourceDraft(f"r-{uuid4()}"))


async def test_busy_bursts_reuse_the_pools_connections_instead_of_opening_new_ones(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade_schema(engine)
    opened = [0]

    def count_connect(*_: object) -> None:
        opened[0] += 1

    sa.event.listen(engine.sync_engine, "connect", count_connect)
    service = ResourceService(SqlaUnitOfWork(engine), Instrumentation(NoTelemetry()))
    try:
        resource = await service.create(ResourceDraft("read in bursts"))
        for _ in range(3):
            # More readers at once than the pool holds: the rest wait for a connection rather than open one.
            await asyncio.gather(*(service.get(resource.id) for _ in range(3 * POOL_SIZE)))
    finally:
        await engine.dispose()
    assert 0 < opened[0] <= POOL_SIZE


async def test_autocommit_reads_see_one_state_while_writers_commit(database_url: str) -> None:
    """Reads run without a transaction around their one statement: a page agrees with its total, a resource
    with its dependencies, however the writers' commits fall between them."""
    engine = create_engine(database_url)
    await upgrade_schema(engine)
    service = ResourceService(SqlaUnitOfWork(engine), Instrumentation(NoTelemetry()))
    first, second = await service.create(ResourceDraft("first")), await service.create(ResourceDraft("second"))
    watched = await service.create(ResourceDraft("watched", dependencies=(first.id,)))
    states = {(first.id,), (first.id, second.id)}
    writing = True

    async def write() -> None:
        for index in range(60):
            await service.create(ResourceDraft(f"w-{index}"))
            await service.update(watched.id, ResourceChanges(dependencies=sorted(states, key=len)[index % 2]))

    async def read() -> int:
        reads = 0
        while writing:
            page = await service.list_page(PageRequest(500, 0))
            assert len(page.items) == page.total
            assert (await service.get(watched.id)).dependencies in states
            reads += 1
        return reads

    try:
        readers = [asyncio.create_task(read()) for _ in range(4)]
        await write()
        writing = False
        assert sum(await asyncio.gather(*readers)) > 0
    finally:
        await engine.dispose()
