"""Concurrent writers against real server processes, and the stored graph read back and checked.

`serving` starts `resource-service serve` subprocesses; a `Load` hammers them with concurrent httpx clients and
logs every answer; `postgres_graph`, `sqlite_graph` and `served_graph` read the graph back for `assert_sound`
(acyclic, no dangling edge). The tests are in test_concurrency.py.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from integration.otlp_receiver import free_port
from sqlalchemy.engine import make_url

SERVE_COMMAND = Path(sys.executable).with_name("resource-service")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 20.0
PAGE_LIMIT = 500

Json = dict[str, Any]
Edge = tuple[UUID, UUID]
Allowed = Mapping[str, frozenset[int]]

EDGE_LOAD_ALLOWED: Allowed = {
    "GET": frozenset({200}),
    "PATCH": frozenset({200, 409, 422}),
    "POST": frozenset({201}),  # only while setting up
}
CASCADE_LOAD_ALLOWED: Allowed = {
    "GET": frozenset({200, 404}),
    "PATCH": frozenset({200, 404, 409, 422}),
    "POST": frozenset({201, 422}),
    "DELETE": frozenset({200, 404}),
}
CREATE_RACE_ALLOWED: Allowed = {**CASCADE_LOAD_ALLOWED, "POST": frozenset({201, 409, 422})}


# --- server processes ---------------------------------------------------------------------------------


@dataclass
class Server:
    """One `resource-service serve` subprocess and the file its stderr goes to."""

    framework: str
    port: int
    process: asyncio.subprocess.Process
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""


def _open_for_writing(path: Path) -> IO[bytes]:
    return path.open("wb")


async def _start_server(framework: str, database_url: str, log_dir: Path) -> Server:
    port = free_port()
    stderr_path = log_dir / f"{framework}-{port}.stderr"
    command = [str(SERVE_COMMAND), "serve", "--framework", framework, "--host", "127.0.0.1", "--port", str(port)]
    with _open_for_writing(stderr_path) as stderr:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,  # uvicorn's access log
            stderr=stderr,
            env={**os.environ, "DATABASE_URL": database_url},
        )
    return Server(framework, port, process, stderr_path)


async def _wait_ready(server: Server) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        while True:
            assert server.process.returncode is None, f"{server.framework} exited with {server.process.returncode}"
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert loop.time() < deadline, f"{server.framework} was not ready within {READY_TIMEOUT} s"
            await asyncio.sleep(0.1)


async def _stop_server(server: Server) -> None:
    """SIGTERM, then SIGKILL if it is still running after STOP_TIMEOUT seconds."""
    if server.process.returncode is not None:
        return
    try:
        server.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.process.wait(), STOP_TIMEOUT)
    except ProcessLookupError:
        return
    except TimeoutError:
        server.process.kill()
        await server.process.wait()


@asynccontextmanager
async def serving(frameworks: Sequence[str], database_url: str, log_dir: Path) -> AsyncIterator[list[Server]]:
    """Ready servers on `database_url`, always stopped; their stderr is printed when the block fails."""
    servers: list[Server] = []
    failed = False
    try:
        for framework in frameworks:
            servers.append(await _start_server(framework, database_url, log_dir))
        await asyncio.gather(*(_wait_ready(server) for server in servers))
        yield servers
    except BaseException:
        failed = True
        raise
    finally:
        for server in servers:
            await _stop_server(server)
        if failed:
            for server in servers:
                print(f"----- stderr of {server.framework} on port {server.port} -----\n{server.stderr()}")


@asynccontextmanager
async def clients_of(servers: Sequence[Server]) -> AsyncIterator[list[httpx.AsyncClient]]:
    clients = [httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) for server in servers]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()


def assert_quiet(servers: Sequence[Server]) -> None:
    for server in servers:
        log = server.stderr()
        assert "Traceback" not in log, f"{server.framework} logged a traceback:\n{log}"
        assert "database is locked" not in log, f"{server.framework} logged a locked database:\n{log}"


# --- the load ------------------------------------------------------------------------------------------


@dataclass
class Log:
    """What the load was answered, and every answer it should not have got."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    # One (status, problem type) pair per side of each deliberate race.
    races: list[tuple[tuple[int, str], tuple[int, str]]] = field(default_factory=list)
    cascades: list[list[str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def summary(self) -> str:
        statuses = ", ".join(f"{method} {status}: {n}" for (method, status), n in sorted(self.statuses.items()))
        return f"{statuses}; problems {dict(self.problems)}; {len(self.races)} races; {len(self.cascades)} cascades"


def _problem_type(response: httpx.Response) -> str:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return ""
    return str(response.json()["type"]).rsplit(":", 1)[-1]


@dataclass
class Load:
    """Concurrent clients of one or more servers sharing a deadline and a log."""

    clients: list[httpx.AsyncClient]
    allowed: Allowed
    deadline: float
    log: Log = field(default_factory=Log)

    def running(self) -> bool:
        return asyncio.get_running_loop().time() < self.deadline

    async def call(self, server: int, method: str, path: str, body: Json | None = None) -> httpx.Response | None:
        client = self.clients[server % len(self.clients)]
        where = f"{method} {path} on {client.base_url}"
        try:
            response = await client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.log.unexpected.append(f"{where}: {exc!r}")
            return None
        self.log.statuses[(method, response.status_code)] += 1
        problem = _problem_type(response)
        if problem:
            self.log.problems[problem] += 1
        if response.status_code not in self.allowed[method] or "database is locked" in response.text:
            self.log.unexpected.append(f"{where} -> {response.status_code}: {response.text[:500]}")
        return response

    async def get(self, server: int, resource_id: str) -> Json | None:
        response = await self.call(server, "GET", f"/resources/{resource_id}")
        return response.json() if response is not None and response.status_code == 200 else None

    async def patch(self, server: int, resource_id: str, dependencies: list[str]) -> tuple[int, str]:
        response = await self.call(server, "PATCH", f"/resources/{resource_id}", {"dependencies": dependencies})
        return (-1, "") if response is None else (response.status_code, _problem_type(response))

    async def create(self, server: int, dependencies: list[str]) -> str | None:
        body = {"name": f"resource-{uuid4().hex}", "dependencies": dependencies}
        response = await self.call(server, "POST", "/resources", body)
        if response is None or response.status_code != 201:
            return None
        resource_id = str(response.json()["id"])
        self.log.created.append(resource_id)
        return resource_id

    async def delete_cascade(self, server: int, resource_id: str) -> list[str]:
        response = await self.call(server, "DELETE", f"/resources/{resource_id}?cascade=true")
        if response is None or response.status_code != 200:
            return []
        deleted = [str(deleted) for deleted in response.json()["deleted"]]
        self.log.cascades.append(deleted)
        return deleted


async def add_edges(load: Load, ids: list[str], rng: random.Random) -> None:
    """Read x, then add one more dependency y to what x depends on; alternate servers between the two."""
    server = rng.randrange(2)
    while load.running():
        if len(ids) < 2:
            await asyncio.sleep(0.01)
            continue
        x, y = rng.sample(ids, 2)
        current = await load.get(server, x)
        server += 1
        if current is None or y in current["dependencies"]:
            continue
        await load.patch(server, x, [*current["dependencies"], y])
        server += 1


async def set_dependencies(load: Load, ids: list[str], rng: random.Random) -> None:
    """Replace what x depends on with a random set of up to three other resources."""
    server = rng.randrange(2)
    while load.running():
        if not ids:
            await asyncio.sleep(0.01)
            continue
        x = rng.choice(ids)
        others = [other for other in ids if other != x]
        await load.patch(server, x, rng.sample(others, min(len(others), rng.randint(0, 3))))
        server += 1


async def _race(load: Load, pool: list[str], rng: random.Random) -> None:
    """Two changes that are fine alone but close a cycle together, sent at once to different servers.

    Only this task writes to `pool`, and it resets every resource in it to no dependencies after each
    race, so exactly one side of each race must win and the other must be refused as circular.
    """
    while load.running():
        a, b, c = rng.sample(pool, 3)
        first, second = rng.sample([0, 1], 2)
        if rng.random() < 0.5:  # a <-> b
            claims = ((a, [b]), (b, [a]))
        else:  # a -> b already; b -> c and c -> a race to close a -> b -> c -> a
            if (await load.patch(first, a, [b]))[0] != 200:
                continue
            claims = ((b, [c]), (c, [a]))
        outcome = await asyncio.gather(load.patch(first, *claims[0]), load.patch(second, *claims[1]))
        load.log.races.append((outcome[0], outcome[1]))
        for resource_id in pool:
            await load.patch(first, resource_id, [])


async def create_resources(load: Load, count: int, rng: random.Random, *, max_dependencies: int = 0) -> list[str]:
    """`count` resources created one after another, each depending on up to `max_dependencies` earlier ones."""
    ids: list[str] = []
    for index in range(count):
        dependencies = rng.sample(ids, min(len(ids), rng.randint(0, max_dependencies)))
        resource_id = await load.create(index, dependencies)
        assert resource_id is not None, load.log.unexpected
        ids.append(resource_id)
    return ids


async def create(load: Load, live: list[str], rng: random.Random) -> None:
    """Create resources depending on up to two live ones, which a cascade may be deleting meanwhile."""
    server = rng.randrange(2)
    while load.running():
        resource_id = await load.create(server, rng.sample(live, min(len(live), rng.randint(0, 2))))
        if resource_id is not None:
            live.append(resource_id)
        server += 1


async def delete(load: Load, live: list[str], rng: random.Random, pause: float) -> None:
    """Delete a live resource with cascade, then forget what was deleted (other tasks may still be using it)."""
    server = rng.randrange(2)
    while load.running():
        if live:
            for resource_id in await load.delete_cascade(server, rng.choice(live)):
                if resource_id in live:
                    live.remove(resource_id)
        server += 1
        await asyncio.sleep(pause)


async def claim_names(load: Load, outcomes: list[list[tuple[int, str]]]) -> None:
    """One new name sent to both servers at once, again and again: the unique index must let exactly one have it."""
    while load.running():
        body = {"name": f"contested-{uuid4().hex}"}
        answers = await asyncio.gather(*(load.call(server, "POST", "/resources", body) for server in (0, 1)))
        outcomes.append(sorted((-1, "") if a is None else (a.status_code, _problem_type(a)) for a in answers))
        load.log.created += [str(a.json()["id"]) for a in answers if a is not None and a.status_code == 201]


def deadline(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


# --- the stored graph ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Graph:
    """Resource ids and dependency edges (resource, dependency) as stored."""

    nodes: frozenset[UUID]
    edges: frozenset[Edge]


def _uuid(value: object) -> UUID:
    if isinstance(value, bytes):
        return UUID(bytes=value)
    return UUID(str(value))


def _graph(nodes: Iterable[object], edges: Iterable[tuple[object, object]]) -> Graph:
    return Graph(frozenset(map(_uuid, nodes)), frozenset((_uuid(s), _uuid(t)) for s, t in edges))


async def postgres_graph(url: str) -> Graph:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        nodes = await connection.fetch("SELECT id FROM resources")
        edges = await connection.fetch("SELECT resource_id, dependency_id FROM resource_dependencies")
    finally:
        await connection.close()
    return _graph((row["id"] for row in nodes), ((row["resource_id"], row["dependency_id"]) for row in edges))


async def postgres_stored_count(url: str) -> int:
    """The resource count the service reports, as the database keeps it (the sum over `resource_count_shards`)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT sum(stored) FROM resource_count_shards"))
    finally:
        await connection.close()


def sqlite_stored_count(url: str) -> int:
    connection = sqlite3.connect(str(make_url(url).database))
    try:
        return int(connection.execute("SELECT sum(stored) FROM resource_count_shards").fetchone()[0])
    finally:
        connection.close()


def sqlite_graph(url: str) -> Graph:
    connection = sqlite3.connect(str(make_url(url).database))
    try:
        nodes = [row[0] for row in connection.execute("SELECT id FROM resources")]
        edges = [
            (row[0], row[1])
            for row in connection.execute("SELECT resource_id, dependency_id FROM resource_dependencies")
        ]
    finally:
        connection.close()
    return _graph(nodes, edges)


async def served_graph(client: httpx.AsyncClient) -> Graph:
    """The whole graph as one server lists it."""
    items: list[Json] = []
    while True:
        response = await client.get("/resources", params={"limit": PAGE_LIMIT, "offset": len(items)})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return _graph((item["id"] for item in items), ((i["id"], d) for i in items for d in i["dependencies"]))


def _nodes_on_or_after_a_cycle(graph: Graph) -> set[UUID]:
    """Kahn's algorithm, iteratively: the nodes left once every node without incoming edges is peeled off."""
    incoming: Counter[UUID] = Counter(target for _, target in graph.edges)
    successors: dict[UUID, list[UUID]] = {}
    for source, target in graph.edges:
        successors.setdefault(source, []).append(target)
    nodes = graph.nodes | {node for edge in graph.edges for node in edge}
    ready = deque(node for node in nodes if incoming[node] == 0)
    while ready:
        node = ready.popleft()
        for successor in successors.get(node, ()):
            incoming[successor] -= 1
            if incoming[successor] == 0:
                ready.append(successor)
    return {node for node in nodes if incoming[node] > 0}


def assert_sound(graph: Graph) -> None:
    """No cycle, and both ends of every edge are stored resources."""
    dangling = {edge for edge in graph.edges if edge[0] not in graph.nodes or edge[1] not in graph.nodes}
    assert not dangling, f"{len(dangling)} edge(s) with a missing end: {sorted(dangling)[:10]}"
    stuck = _nodes_on_or_after_a_cycle(graph)
    assert not stuck, f"the stored graph has a cycle through some of {len(stuck)} resource(s)"


def assert_no_unexpected(log: Log) -> None:
    assert not log.unexpected, f"{len(log.unexpected)} unexpected answer(s):\n" + "\n".join(log.unexpected[:20])


def assert_races_had_one_winner(log: Log) -> None:
    assert log.races, "no deliberate race ran"
    for race in log.races:
        assert sorted(race) == [(200, ""), (409, "circular-dependency")], f"race answered {race}"


def assert_edge_load_did_both(log: Log) -> None:
    """The load both succeeded and was refused, so the checks above had something to check."""
    assert log.statuses[("PATCH", 200)] > 0, log.statuses
    assert log.problems["circular-dependency"] > 0, log.problems


def seeded_rngs(seed: int, count: int) -> list[random.Random]:
    return [random.Random(seed * 1_000 + index) for index in range(count)]


async def run_edge_load(servers: list[Server], seconds: float, seed: int) -> Load:
    """12 shared resources under adders and setters, plus three racers with three resources each."""
    async with clients_of(servers) as clients:
        load = Load(clients, EDGE_LOAD_ALLOWED, deadline=0.0)
        setup = random.Random(seed)
        ids = await create_resources(load, 12, setup)
        pools = [await create_resources(load, 3, setup) for _ in range(3)]
        rngs = seeded_rngs(seed, 16)
        load.deadline = deadline(seconds)
        await asyncio.gather(
            *(add_edges(load, ids, rng) for rng in rngs[:10]),
            *(set_dependencies(load, ids, rng) for rng in rngs[10:13]),
            *(_race(load, pool, rng) for pool, rng in zip(pools, rngs[13:], strict=True)),
        )
        return load
