"""The connection pool's metrics on real SQLite and PostgreSQL pools: connections by state, the bound, the callers
waiting, the waits, the uses and the timeouts, as the unit of work borrows and returns connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.telemetry import InMemorySaturationMetrics
from adapters.otel.saturation import OtelSaturationMetrics
from adapters.sqla import SqlaUnitOfWork, create_engine, upgrade_schema
from adapters.sqla.engine import POOL_SIZE
from core.errors import StorageUnavailable
from core.semantic_conventions import (
    ATTR_POOL_NAME,
    CONNECTION_POOL_METRICS,
    CONNECTION_TIMEOUTS,
    CONNECTION_USE_TIME,
    CONNECTION_WAIT_TIME,
)
from ports.saturation_metrics import ConnectionPoolState

# The pool timeout of the timeout test: long enough for each of the pool's connections to open on a busy machine.
SHORT_TIMEOUT_S = 1.0


async def _engine(database_url: str, **options: float) -> AsyncEngine:
    engine = create_engine(database_url, **options)
    await upgrade_schema(engine)
    return engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await _engine(database_url)
    yield engine
    await engine.dispose()


async def _until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "the pool never reached the state awaited"
        await asyncio.sleep(0.01)


async def _hold_readers(unit_of_work: SqlaUnitOfWork, count: int, release: asyncio.Event) -> None:
    async def reader() -> None:
        async with unit_of_work.read():
            await release.wait()

    await asyncio.gather(*(reader() for _ in range(count)))


@pytest.mark.parametrize("borrowers", [1, POOL_SIZE, POOL_SIZE + 3])
async def test_the_pool_reports_its_connections_waiters_waits_and_uses(engine: AsyncEngine, borrowers: int) -> None:
    metrics = InMemorySaturationMetrics()
    unit_of_work = SqlaUnitOfWork(engine, metrics)
    (name,) = metrics.pool_states()
    release = asyncio.Event()
    holding = asyncio.create_task(_hold_readers(unit_of_work, borrowers, release))
    in_use = min(borrowers, POOL_SIZE)
    await _until(lambda: metrics.pool_states()[name].used == in_use)
    await _until(lambda: metrics.pool_states()[name].pending_requests == borrowers - in_use)
    assert metrics.pool_states()[name] == ConnectionPoolState(
        idle=0, used=in_use, max=POOL_SIZE, pending_requests=borrowers - in_use
    )
    release.set()
    await holding
    after = metrics.pool_states()[name]
    assert (after.used, after.pending_requests, after.max) == (0, 0, POOL_SIZE)
    assert 1 <= after.idle <= POOL_SIZE
    assert len(metrics.of(CONNECTION_WAIT_TIME)) == borrowers
    assert len(metrics.of(CONNECTION_USE_TIME)) == borrowers
    assert all(point.attributes == {ATTR_POOL_NAME: name} for point in metrics.points)
    assert not metrics.of(CONNECTION_TIMEOUTS)


async def test_a_caller_that_waits_past_the_pool_timeout_is_counted_and_refused(database_url: str) -> None:
    engine = await _engine(database_url, connect_timeout=SHORT_TIMEOUT_S)
    try:
        await _wait_past_the_timeout(engine)
    finally:
        await engine.dispose()


async def _wait_past_the_timeout(engine: AsyncEngine) -> None:
    metrics = InMemorySaturationMetrics()
    unit_of_work = SqlaUnitOfWork(engine, metrics)
    (name,) = metrics.pool_states()
    release = asyncio.Event()
    holding = asyncio.create_task(_hold_readers(unit_of_work, POOL_SIZE, release))
    await _until(lambda: metrics.pool_states()[name].used == POOL_SIZE)
    with pytest.raises(StorageUnavailable):
        async with unit_of_work.read():
            pass
    assert len(metrics.of(CONNECTION_TIMEOUTS)) == 1
    assert metrics.pool_states()[name].pending_requests == 0
    release.set()
    await holding
    assert len(metrics.of(CONNECTION_WAIT_TIME)) == POOL_SIZE


async def test_the_pool_is_named_by_its_database(engine: AsyncEngine) -> None:
    metrics = InMemorySaturationMetrics()
    SqlaUnitOfWork(engine, metrics)
    url = engine.url
    expected = url.database if url.get_backend_name() == "sqlite" else f"{url.host}:{url.port or 5432}/{url.database}"
    assert list(metrics.pool_states()) == [expected]


async def test_without_saturation_metrics_the_pool_has_no_listener(engine: AsyncEngine) -> None:
    unit_of_work = SqlaUnitOfWork(engine)
    pool = engine.sync_engine.pool
    before = (len(pool.dispatch.checkout), len(pool.dispatch.checkin))
    async with unit_of_work.read():
        pass
    assert (len(pool.dispatch.checkout), len(pool.dispatch.checkin)) == before
    SqlaUnitOfWork(engine, InMemorySaturationMetrics())
    assert (len(pool.dispatch.checkout), len(pool.dispatch.checkin)) == (before[0] + 1, before[1] + 1)


async def test_the_opentelemetry_adapter_reads_every_pool_metric_from_a_real_pool(engine: AsyncEngine) -> None:
    reader = InMemoryMetricReader()
    unit_of_work = SqlaUnitOfWork(engine, OtelSaturationMetrics(MeterProvider(metric_readers=[reader])))
    async with unit_of_work.read():
        # The use of the connection still held is recorded when it is returned: every other metric is there already.
        assert _names(reader) == set(CONNECTION_POOL_METRICS) - {CONNECTION_USE_TIME}
    assert _names(reader) == set(CONNECTION_POOL_METRICS)


def _names(reader: InMemoryMetricReader) -> set[str]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name.startswith("db.client.connection.")
    }
