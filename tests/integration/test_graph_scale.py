"""A 10 000-long dependency chain: cycle detection, traversal and cascading delete without recursion limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from core.errors import CircularDependency
from core.instrumentation import Instrumentation, NoTelemetry
from core.model import PageRequest, Resource, ResourceChanges
from core.service import ResourceService
from ports.unit_of_work import UnitOfWork

# Real server processes or large graphs: run once per tox run, by the py311 env (see tox.ini).
pytestmark = pytest.mark.slow

CHAIN_LENGTH = 10_000
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _chain(length: int) -> list[Resource]:
    """Resources where each one depends on the one created just before it; the first depends on nothing."""
    ids = [uuid4() for _ in range(length)]
    return [
        Resource(
            id=resource_id,
            name=f"node-{index:05d}",
            description="",
            dependencies=(ids[index - 1],) if index else (),
            created_at=EPOCH + timedelta(seconds=index),
            updated_at=EPOCH + timedelta(seconds=index),
        )
        for index, resource_id in enumerate(ids)
    ]


async def _store(unit_of_work: UnitOfWork, resources: list[Resource]) -> None:
    async with unit_of_work.write() as repo:
        for resource in resources:
            await repo.add(resource)


@contextmanager
def _timed(step: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = time.perf_counter() - started


def _ids(resources: list[Resource]) -> list[UUID]:
    return [resource.id for resource in resources]


async def test_a_10000_long_chain(unit_of_work: UnitOfWork) -> None:
    timings: dict[str, float] = {}
    chain = _chain(CHAIN_LENGTH)
    ids = _ids(chain)
    first, last = ids[0], ids[-1]
    service = ResourceService(unit_of_work, Instrumentation(NoTelemetry()))
    with _timed("store", timings):
        await _store(unit_of_work, chain)

    # Closing the chain into a ring: the cycle runs first -> last -> ... -> first, every resource once.
    with _timed("refuse cycle", timings), pytest.raises(CircularDependency) as refused:
        await service.update(first, ResourceChanges(dependencies=(last,)))
    cycle = refused.value.cycle
    assert len(cycle) == CHAIN_LENGTH + 1
    assert cycle[0] == cycle[-1] == first
    assert cycle == [first, *reversed(ids)]
    assert (await service.get(first)).dependencies == ()

    with _timed("transitive dependencies", timings):
        dependencies = await service.dependencies(last, transitive=True)
    assert len(dependencies) == CHAIN_LENGTH - 1
    assert _ids(dependencies) == ids[:-1]
    assert _ids(await service.dependencies(last, transitive=False)) == [ids[-2]]

    with _timed("cascade delete", timings):
        result = await service.delete_cascade(first)
    assert len(result.deleted) == CHAIN_LENGTH
    assert result.deleted == ids
    assert (await service.list_page(PageRequest(limit=1))).total == 0

    print("timings:", ", ".join(f"{step} {seconds:.2f} s" for step, seconds in timings.items()))
