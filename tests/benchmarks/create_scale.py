"""Suite `create_scale`: what a create costs among many stored resources, against among few.

Two databases per store, one with 10^3 resources and one with 10^6 (smoke: 10^2 and 10^4), written straight into
the tables (`raw.py`: executemany on SQLite, COPY on PostgreSQL); the project must see them all. Then batches of
creates through the ResourceService (no-op observability, unique names, no dependencies) on each, the two sizes
interleaved in a rotating order; the ratio large / small pairs the batches of a repetition. Wall time.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Final
from uuid import uuid4

from adapters.sqla import SqlaUnitOfWork
from core.instrumentation import Instrumentation, NoTelemetry
from core.model import PageRequest, ResourceDraft
from core.service import ResourceService

from .graph import EPOCH, STORES, Store, database
from .measure import FULL_REPETITIONS, SMOKE_REPETITIONS, Row, Spread, target
from .raw import ResourceRecord, open_raw

FULL_SIZES: Final = (1_000, 1_000_000)
SMOKE_SIZES: Final = (100, 10_000)
FULL_CREATES: Final = 20
SMOKE_CREATES: Final = 5
# The target: a create among the larger number of resources at most this many times one among the smaller.
LIMIT: Final = 1.5


def _resources(count: int) -> list[ResourceRecord]:
    """Unconnected resources, created a millisecond apart, long before the creates measured."""
    records: list[ResourceRecord] = []
    for index in range(count):
        created = EPOCH + timedelta(milliseconds=index)
        records.append((uuid4(), f"stored-{index:07d}", f"stored resource {index}", created, created))
    return records


async def _seconds_per_create(service: ResourceService, creates: int, batch: str) -> float:
    started = time.perf_counter()
    for index in range(creates):
        await service.create(ResourceDraft(f"{batch}-{index}", "measured"))
    return (time.perf_counter() - started) / creates


async def _measure_store(store: Store, sizes: tuple[int, int], creates: int, repetitions: int) -> list[list[float]]:
    """Seconds per create at each size, by size then repetition."""
    async with database(store) as small, database(store) as large:
        services = []
        for engine, size in zip((small, large), sizes, strict=True):
            raw = await open_raw(engine.url)
            try:
                await raw.load(_resources(size), [])
            finally:
                await raw.close()
            service = ResourceService(SqlaUnitOfWork(engine), Instrumentation(NoTelemetry()))
            stored = (await service.list_page(PageRequest(limit=1))).total
            assert stored == size, f"the project sees {stored} resources, {size} were stored"
            services.append(service)
        seconds: list[list[float]] = [[] for _ in sizes]
        for repetition in range(repetitions):
            order = (0, 1) if repetition % 2 == 0 else (1, 0)
            for index in order:
                seconds[index].append(await _seconds_per_create(services[index], creates, f"r{repetition}-{index}"))
    return seconds


async def run(*, smoke: bool) -> dict[str, Any]:
    """Creates among each number of stored resources, on both stores: rows, paired ratios, targets."""
    sizes, creates, repetitions = (
        (SMOKE_SIZES, SMOKE_CREATES, SMOKE_REPETITIONS) if smoke else (FULL_SIZES, FULL_CREATES, FULL_REPETITIONS)
    )
    small, large = sizes
    rows: list[Row] = []
    ratios: list[Row] = []
    for store in STORES:
        at_small, at_large = await _measure_store(store, sizes, creates, repetitions)
        for stored, seconds in zip(sizes, (at_small, at_large), strict=True):
            ms = Spread.of([second * 1000 for second in seconds]).as_json()
            rows.append({"store": store, "stored": stored, "ms_per_create": ms})
        paired = Spread.of([big / little for big, little in zip(at_large, at_small, strict=True)]).as_json()
        ratios.append({"store": store, "ratio": f"create at {large} / at {small}", "value": paired})
    targets = [
        target(
            f"a create among {large} resources at most {LIMIT}x one among {small}: {row['store']}",
            row["value"]["median"],
            LIMIT,
            unit="x",
        )
        for row in ratios
    ]
    return {"creates_per_batch": creates, "rows": rows, "ratios": ratios, "targets": targets}
