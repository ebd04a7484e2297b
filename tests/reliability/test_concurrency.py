"""Concurrent writers against real server processes: the stored graph stays acyclic with no dangling edge, no
acknowledged write is lost, and the metrics agree with the rows.

The first four tests each aim one kind of race at one or two processes for a few seconds. The last two run every
kind of mutation at once for longer: clients add edges, replace dependency lists (removing edges), create
resources on top of live ones and cascade-delete, spread over two server processes on one PostgreSQL database
(FastAPI and Litestar), and over one process on SQLite; there each server also serves its metrics for Prometheus,
so `resource.count` is checked against the rows. The load and the graph checks are in concurrent_load.py. Run
with `-s` for the figures.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import UUID

import httpx

from .concurrent_load import (
    CASCADE_LOAD_ALLOWED,
    CREATE_RACE_ALLOWED,
    Graph,
    Load,
    add_edges,
    assert_edge_load_did_both,
    assert_no_unexpected,
    assert_quiet,
    assert_races_had_one_winner,
    assert_sound,
    claim_names,
    clients_of,
    create,
    create_resources,
    deadline,
    delete,
    postgres_graph,
    postgres_stored_count,
    run_edge_load,
    seeded_rngs,
    served_graph,
    serving,
    set_dependencies,
    sqlite_graph,
    sqlite_stored_count,
)
from .servers import ServiceProcess, free_port, prometheus_samples, service_environment

LOAD_SECONDS = 12.0
SEED_RESOURCES = 40
EDGE_ADDERS = 10
DEPENDENCY_SETTERS = 4
CREATORS = 4
DELETERS = 2
DELETE_PAUSE_S = 0.5
REQUEST_TIMEOUT_S = 30.0
COUNT_INTERVAL_S = 1
COUNT_SETTLE_S = 10.0


@asynccontextmanager
async def _services(frameworks: Sequence[str], database_url: str, directory: Path) -> AsyncIterator[dict[int, str]]:
    """Ready services on `database_url`, each serving its metrics for Prometheus; yields {metrics port: base URL}."""
    services: dict[int, ServiceProcess] = {}
    try:
        for framework in frameworks:  # one at a time: two imports at once can outlast the start timeout here
            port = free_port()
            env = {
                "OTEL_METRICS_EXPORTER": "prometheus",
                "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
                "RESOURCE_COUNT_INTERVAL_SECONDS": str(COUNT_INTERVAL_S),
                "LOG_LEVEL": "warning",
            }
            service = ServiceProcess(framework, directory / framework, service_environment(database_url, env))
            services[port] = service
            await asyncio.to_thread(service.start)
        yield {port: service.base_url for port, service in services.items()}
        for service in services.values():
            assert "database is locked" not in service.stdout() + service.stderr(), service.output()
            assert "Traceback" not in service.stderr(), service.output()
    finally:
        for service in services.values():
            service.kill()


async def _mutate(base_urls: Sequence[str], seed: int) -> Load:
    """Seed resources, then every kind of mutation at once from many clients until LOAD_SECONDS have passed."""
    clients = [httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S) for url in base_urls]
    try:
        load = Load(clients, CASCADE_LOAD_ALLOWED, deadline=0.0)
        live = await create_resources(load, SEED_RESOURCES, random.Random(seed), max_dependencies=2)
        rngs = iter(random.Random(seed * 1_000 + index) for index in range(1_000))
        load.deadline = deadline(LOAD_SECONDS)
        await asyncio.gather(
            *(add_edges(load, live, next(rngs)) for _ in range(EDGE_ADDERS)),
            *(set_dependencies(load, live, next(rngs)) for _ in range(DEPENDENCY_SETTERS)),
            *(create(load, live, next(rngs)) for _ in range(CREATORS)),
            *(delete(load, live, next(rngs), DELETE_PAUSE_S) for _ in range(DELETERS)),
        )
        return load
    finally:
        for client in clients:
            await client.aclose()


async def _reported_counts(metrics_ports: Sequence[int], stored: int) -> list[float]:
    """Each server's `resource_count`, once all report `stored` or COUNT_SETTLE_S have passed."""
    give_up = time.monotonic() + COUNT_SETTLE_S
    while True:
        counts = [
            value
            for port in metrics_ports
            for _labels, value in await asyncio.to_thread(prometheus_samples, port, "resource_count")
        ]
        if counts == [stored] * len(metrics_ports) or time.monotonic() > give_up:
            return counts
        await asyncio.sleep(COUNT_INTERVAL_S / 2)


def _check(load: Load, graph: Graph, counts: list[float], metrics_ports: Sequence[int]) -> None:
    log = load.log
    sent = sum(log.statuses.values())
    server_errors = sum(n for (_method, status), n in log.statuses.items() if status >= 500)
    print(f"\n{sent} requests in {LOAD_SECONDS:g} s, {len(log.unexpected)} unexpected, {server_errors} 5xx")
    print(log.summary())
    print(f"stored: {len(graph.nodes)} resources, {len(graph.edges)} edges; resource_count reported {counts}")

    assert not log.unexpected, f"{len(log.unexpected)} unexpected answer(s):\n" + "\n".join(log.unexpected[:20])
    assert server_errors == 0
    assert_sound(graph)
    deleted = {UUID(resource_id) for cascade in log.cascades for resource_id in cascade}
    assert graph.nodes == {UUID(resource_id) for resource_id in log.created} - deleted, "a write was lost or undone"
    assert counts == [len(graph.nodes)] * len(metrics_ports)
    assert log.statuses[("PATCH", 200)] > 0, log.statuses
    assert log.problems["circular-dependency"] > 0, "no change was refused as circular: the load missed cycles"
    assert any(len(cascade) > 1 for cascade in log.cascades), "no cascade removed a dependent"


async def _run(
    frameworks: Sequence[str], url: str, read_graph: Callable[[str], Awaitable[Graph]], tmp_path: Path, seed: int
) -> None:
    async with _services(frameworks, url, tmp_path) as servers:
        load = await _mutate(list(servers.values()), seed)
        graph = await read_graph(url)
        counts = await _reported_counts(list(servers), len(graph.nodes))
    _check(load, graph, counts, list(servers))


# --- one kind of race at a time, for a few seconds ---------------------------------------------------


async def test_two_processes_on_postgres_never_store_a_cycle(postgres_url: str, tmp_path: Path) -> None:
    async with serving(["fastapi", "litestar"], postgres_url, tmp_path) as servers:
        load = await run_edge_load(servers, seconds=7.0, seed=1)
        graph = await postgres_graph(postgres_url)
        print(load.log.summary())

        assert_no_unexpected(load.log)
        assert_edge_load_did_both(load.log)
        assert_races_had_one_winner(load.log)
        assert_sound(graph)
        assert len(graph.nodes) == 12 + 3 * 3
        assert await postgres_stored_count(postgres_url) == len(graph.nodes)
        async with clients_of(servers) as clients:
            for client in clients:
                assert await served_graph(client) == graph
        assert_quiet(servers)


async def test_one_process_on_sqlite_with_concurrent_writers(sqlite_url: str, tmp_path: Path) -> None:
    async with serving(["litestar"], sqlite_url, tmp_path) as servers:
        load = await run_edge_load(servers, seconds=5.0, seed=2)
        graph = sqlite_graph(sqlite_url)
        print(load.log.summary())

        assert_no_unexpected(load.log)
        assert_edge_load_did_both(load.log)
        assert_races_had_one_winner(load.log)
        assert_sound(graph)
        assert sqlite_stored_count(sqlite_url) == len(graph.nodes)
        async with clients_of(servers) as clients:
            assert await served_graph(clients[0]) == graph
        assert_quiet(servers)


async def test_cascading_deletes_racing_edge_additions_leave_no_dangling_edge(
    postgres_url: str, tmp_path: Path
) -> None:
    async with serving(["fastapi", "litestar"], postgres_url, tmp_path) as servers, clients_of(servers) as clients:
        load = Load(clients, CASCADE_LOAD_ALLOWED, deadline=0.0)
        live = await create_resources(load, 30, random.Random(3), max_dependencies=2)
        rngs = seeded_rngs(3, 16)
        load.deadline = deadline(5.0)
        await asyncio.gather(
            *(add_edges(load, live, rng) for rng in rngs[:8]),
            *(set_dependencies(load, live, rng) for rng in rngs[8:10]),
            *(create(load, live, rng) for rng in rngs[10:14]),
            *(delete(load, live, rng, pause=0.2) for rng in rngs[14:]),
        )
        graph = await postgres_graph(postgres_url)
        print(load.log.summary())

        assert_no_unexpected(load.log)
        assert_sound(graph)
        deleted = {UUID(resource_id) for cascade in load.log.cascades for resource_id in cascade}
        assert graph.nodes == {UUID(resource_id) for resource_id in load.log.created} - deleted
        # Creates and cascades from two processes: the count their triggers kept is the count of what is left.
        assert await postgres_stored_count(postgres_url) == len(graph.nodes)
        assert load.log.statuses[("PATCH", 200)] > 0, load.log.statuses
        assert any(len(cascade) > 1 for cascade in load.log.cascades), "no cascade removed a dependent"
        for client in clients:
            assert await served_graph(client) == graph
        assert_quiet(servers)


async def test_creates_racing_cascades_and_each_other_lose_no_write_and_share_no_name(
    postgres_url: str, tmp_path: Path
) -> None:
    """Creates without dependencies take no writers' lock on PostgreSQL: race them with cascades and each other.

    Two processes; creates with zero to two dependencies on live resources (which cascades are deleting), and the
    same new name posted to both processes at once. Every acknowledged create must be stored unless a cascade
    deleted it, the graph must stay sound, the kept count must match the rows, and each contested name must go to
    exactly one create, the other refused as a duplicate.
    """
    async with serving(["fastapi", "litestar"], postgres_url, tmp_path) as servers, clients_of(servers) as clients:
        load = Load(clients, CREATE_RACE_ALLOWED, deadline=0.0)
        live = await create_resources(load, 20, random.Random(4), max_dependencies=2)
        contests: list[list[tuple[int, str]]] = []
        rngs = seeded_rngs(4, 10)
        load.deadline = deadline(5.0)
        await asyncio.gather(
            *(create(load, live, rng) for rng in rngs[:6]),
            *(delete(load, live, rng, pause=0.05) for rng in rngs[6:8]),
            *(claim_names(load, contests) for _ in range(2)),
        )
        graph = await postgres_graph(postgres_url)
        print(load.log.summary(), f"; {len(contests)} contested names")

        assert_no_unexpected(load.log)
        assert_sound(graph)
        deleted = {UUID(resource_id) for cascade in load.log.cascades for resource_id in cascade}
        assert graph.nodes == {UUID(resource_id) for resource_id in load.log.created} - deleted
        assert await postgres_stored_count(postgres_url) == len(graph.nodes)
        assert contests, "no name was contested"
        for outcome in contests:
            assert outcome == [(201, ""), (409, "duplicate-name")], f"a contested name was answered {outcome}"
        assert any(len(cascade) > 1 for cascade in load.log.cascades), "no cascade removed a dependent"
        assert_quiet(servers)


# --- every kind of mutation at once, for longer ------------------------------------------------------


async def test_two_processes_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    await _run(["fastapi", "litestar"], postgres_url, postgres_graph, tmp_path, seed=71)


async def test_one_process_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    async def read_graph(url: str) -> Graph:
        return await asyncio.to_thread(sqlite_graph, url)

    await _run(["litestar"], sqlite_url, read_graph, tmp_path, seed=72)
