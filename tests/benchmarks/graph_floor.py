"""Suite `graph_floor`: the cycle check and the cascade delete of a long chain against one recursive CTE.

A chain of resources (each depends on the one before) is written straight into the tables (`raw.py`). The
project closes it into a ring (`update` of the first to depend on the last, refused with CircularDependency
naming all N + 1 steps) and deletes its root with `delete_cascade` (all N go), through the ResourceService with
no-op observability. The floor does the same on one raw connection (aiosqlite or asyncpg): the walk in one
recursive CTE, the cycle rebuilt from its rows; the cascade's walk and deletes in one statement, in one
transaction. Repetitions interleave the two in a rotating order, and the chain is reloaded before each cascade;
each ratio project / floor pairs the runs of a repetition. Wall time: the database's work is the operation's.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqla import SqlaUnitOfWork
from core.instrumentation import Instrumentation, NoTelemetry
from core.service import ResourceService

from .graph import STORES, Fixture, Store, chain, close_the_ring, database
from .measure import SMOKE_REPETITIONS, Row, Spread, target
from .raw import RawDatabase, open_raw

Operation = Literal["cycle_check", "cascade_delete"]
Implementation = Literal["project", "floor"]
IMPLEMENTATIONS: Final[tuple[Implementation, ...]] = ("project", "floor")
FULL_SIZE: Final = 4_000
SMOKE_SIZE: Final = 100
# Each run takes tens of milliseconds: more repetitions than the other suites' for the same minutes.
FULL_REPETITIONS: Final = 9
# The target: the project's graph operation at most this many times the floor's.
LIMIT: Final = 3.0
Step = Callable[[], Awaitable[None]]


async def _timed(step: Step) -> float:
    started = time.perf_counter()
    await step()
    return time.perf_counter() - started


def _cycle_steps(service: ResourceService, raw: RawDatabase, fixture: Fixture) -> dict[Implementation, Step]:
    """Closing the chain into a ring, each way; both must find the whole cycle."""
    first, last, size = fixture.ids[0], fixture.ids[-1], len(fixture.ids)

    async def project() -> None:
        await close_the_ring(service, first, last, size)

    async def floor() -> None:
        came_from = await raw.walk(last)
        path = [first]
        while path[-1] != last:
            path.append(came_from[path[-1]])
        cycle = [first, *reversed(path)]
        assert len(cycle) == size + 1, f"the floor's cycle has {len(cycle)} steps, expected {size + 1}"

    return {"project": project, "floor": floor}


def _cascade_steps(service: ResourceService, raw: RawDatabase, fixture: Fixture) -> dict[Implementation, Step]:
    """Deleting the chain's root with everything depending on it, each way; both must delete the whole chain."""
    root, size = fixture.ids[0], len(fixture.ids)

    async def project() -> None:
        deleted = await service.delete_cascade(root)
        assert len(deleted.deleted) == size, f"deleted {len(deleted.deleted)}, expected {size}"

    async def floor() -> None:
        deleted = await raw.delete_cascade(root)
        assert len(deleted) == size, f"the floor deleted {len(deleted)}, expected {size}"

    return {"project": project, "floor": floor}


async def _interleaved(
    steps: dict[Implementation, Step], repetitions: int, reload: Step | None
) -> dict[Implementation, list[float]]:
    """Each implementation once per repetition, the order rotating, after an untimed warm-up run of each.

    `reload` (untimed) runs before every run.
    """
    seconds: dict[Implementation, list[float]] = {implementation: [] for implementation in IMPLEMENTATIONS}
    for repetition in range(-1, repetitions):
        order = IMPLEMENTATIONS if repetition % 2 == 0 else IMPLEMENTATIONS[::-1]
        for implementation in order:
            if reload is not None:
                await reload()
            elapsed = await _timed(steps[implementation])
            if repetition >= 0:
                seconds[implementation].append(elapsed)
    return seconds


async def _measure_store(engine: AsyncEngine, size: int, repetitions: int) -> dict[Operation, Any]:
    service = ResourceService(SqlaUnitOfWork(engine), Instrumentation(NoTelemetry()))
    raw = await open_raw(engine.url)
    try:
        fixture = chain(size)
        resources, edges = fixture.resource_rows(), fixture.edges

        async def reload() -> None:
            await raw.load(resources, edges)

        await reload()
        cycle = await _interleaved(_cycle_steps(service, raw, fixture), repetitions, None)
        cascade = await _interleaved(_cascade_steps(service, raw, fixture), repetitions, reload)
    finally:
        await raw.close()
    return {"cycle_check": cycle, "cascade_delete": cascade}


async def run(*, smoke: bool) -> dict[str, Any]:
    """Both operations on both stores, the project beside the floor: rows, paired ratios, targets."""
    size, repetitions = (SMOKE_SIZE, SMOKE_REPETITIONS) if smoke else (FULL_SIZE, FULL_REPETITIONS)
    measured: dict[tuple[Store, Operation], dict[Implementation, list[float]]] = {}
    for store in STORES:
        async with database(store) as engine:
            for operation, seconds in (await _measure_store(engine, size, repetitions)).items():
                measured[(store, operation)] = seconds
    rows: list[Row] = [
        {
            "store": store,
            "operation": operation,
            "size": size,
            "implementation": implementation,
            "ms_per_operation": Spread.of([second * 1000 for second in runs]).as_json(),
        }
        for (store, operation), by_implementation in measured.items()
        for implementation, runs in by_implementation.items()
    ]
    ratios: list[Row] = [
        {
            "store": store,
            "operation": operation,
            "size": size,
            "ratio": "project/floor",
            "value": Spread.of(
                [ours / floor for ours, floor in zip(runs["project"], runs["floor"], strict=True)]
            ).as_json(),
        }
        for (store, operation), runs in measured.items()
    ]
    targets = [
        target(
            f"project at most {LIMIT}x one recursive CTE: {row['store']} {row['operation']} of a {size}-long chain",
            row["value"]["median"],
            LIMIT,
            unit="x",
        )
        for row in ratios
    ]
    return {"rows": rows, "ratios": ratios, "targets": targets}
