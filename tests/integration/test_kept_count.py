"""The kept resource count on PostgreSQL (revision 0003): writers in flight at once update rows of their own.

Its statement triggers update one row of `resource_count_shards` per statement, chosen by the transaction's id:
transactions open at the same time do not queue on one row, and a statement of many rows is one update.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqla import create_engine, upgrade_schema
from adapters.sqla.engine import POOL_SIZE
from adapters.sqla.tables import COUNT_SHARDS, resource_count_shards, resources

WRITERS = POOL_SIZE  # one connection each, as many as a process has
CASCADE = 100_000
NOW = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    await upgrade_schema(engine)
    yield engine
    await engine.dispose()


async def summed_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(sa.select(sa.func.sum(resource_count_shards.c.stored)))).scalar_one())


async def _insert_one(connection: AsyncConnection) -> None:
    row = {"id": uuid4(), "name": f"w-{uuid4().hex}", "description": "", "created_at": NOW, "updated_at": NOW}
    await connection.execute(sa.insert(resources), row)


async def _shard(connection: AsyncConnection) -> int:
    """The count's row this connection's transaction updates (and the id assigned to the transaction now)."""
    xid = (await connection.execute(sa.text("SELECT pg_current_xact_id()::text::bigint"))).scalar_one()
    return int(xid) % COUNT_SHARDS


async def test_writers_in_flight_at_once_insert_without_waiting_for_each_other(engine: AsyncEngine) -> None:
    """Each of ten transactions inserts while the ones before it still hold their uncommitted inserts.

    With one row for the count (revision 0002) the second would wait for the first to commit and run into the
    lock timeout. A transaction whose id falls on a row an open one holds (nearly never) skips its insert.
    """
    taken: set[int] = set()
    async with AsyncExitStack() as open_transactions:
        for _ in range(WRITERS):
            connection = await open_transactions.enter_async_context(engine.connect())
            await open_transactions.enter_async_context(connection.begin())
            await connection.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            shard = await _shard(connection)
            if shard in taken:  # another writer's id, modulo the rows, came first: this one would wait
                continue
            await _insert_one(connection)
            taken.add(shard)
    assert len(taken) > 1
    assert await summed_count(engine) == len(taken)


async def test_every_statement_of_a_transaction_updates_its_one_row(engine: AsyncEngine) -> None:
    """One row a transaction, however many statements: two transactions never wait on each other's rows in turn."""
    async with engine.begin() as connection:
        shard = await _shard(connection)
        for _ in range(3):
            await _insert_one(connection)
        await connection.execute(sa.delete(resources).where(resources.c.name.in_(sa.select(resources.c.name).limit(1))))
    async with engine.connect() as connection:
        changed = await connection.execute(
            sa.select(resource_count_shards.c.shard, resource_count_shards.c.stored).where(
                resource_count_shards.c.stored != 0
            )
        )
        assert [tuple(row) for row in changed] == [(shard, 2)]


async def test_a_statement_of_a_hundred_thousand_rows_updates_the_count_once(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO resources (id, name, description, created_at, updated_at) "
                "SELECT gen_random_uuid(), 'r-' || n, '', now(), now() FROM generate_series(1, :rows) AS n"
            ),
            {"rows": CASCADE},
        )
        await connection.execute(sa.delete(resources).where(resources.c.name.like("r-%")))
        updated = await connection.execute(
            sa.text("SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'resource_count_shards'")
        )
        assert updated.scalar_one() == 2  # one per statement: the INSERT, the DELETE
    assert await summed_count(engine) == 0
