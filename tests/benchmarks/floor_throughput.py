"""Suite `floor`: the project against the floor (`floor.py`), over HTTP, observability off, SQLite and PostgreSQL.

Each framework's `resource-service serve` and the floor app run side by side under uvicorn, one process each,
pinned to CPU 0, with wrk (`-t1 -c16`) pinned to CPU 1. Every server has a database of its own, a copy of one
database per kind made by the project's migrations and seeded through its service: a resource with two
dependencies (what `get` reads), and resources each depending on the one before, one in ten with the searched
text in its description (what `list` and `search` page through). Before any load, each framework must answer
every read exactly as the floor does, byte for byte. Operations run one after another, `create` last so that
the reads see the databases as seeded; repetitions interleave the servers in a rotating order; each ratio
project / floor pairs runs of the same repetition.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from uuid import uuid4

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from adapters.sqla import SqlaUnitOfWork, create_engine, upgrade_schema
from core.instrumentation import Instrumentation, NoTelemetry
from core.model import Resource, ResourceDraft
from core.service import ResourceService

from .measure import FULL_REPETITIONS, Row, Spread, target
from .throughput import (
    CONSOLE_SCRIPT,
    FULL_SECONDS,
    READ_PATHS,
    SEARCH_TEXT,
    SMOKE_SECONDS,
    Load,
    Operation,
    free_port,
    interleaved_loads,
    load_figures,
    service_environment,
    spawn_server,
    stop_process,
)

Kind = Literal["fastapi", "litestar", "floor"]
Database = Literal["sqlite", "postgresql"]
KINDS: Final[tuple[Kind, ...]] = ("floor", "fastapi", "litestar")
DATABASES: Final[tuple[Database, ...]] = ("sqlite", "postgresql")
# `create` last: the reads see the databases as seeded. Smoke runs load one read and the write, after the check of
# every read's answers.
OPERATIONS: Final[tuple[Operation, ...]] = ("get", "list", "search", "create")
SMOKE_OPERATIONS: Final[tuple[Operation, ...]] = ("search", "create")
# Resources that `list` and `search` page through (one in ten matches the search).
FULL_RESOURCES: Final = 1_000
SMOKE_RESOURCES: Final = 100
# The targets: the share of the floor's throughput the project must keep.
TARGETS: Final[dict[Operation, float]] = {"get": 0.5, "list": 0.5, "search": 0.5, "create": 0.4}
PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
POSTGRES_URL: Final = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def uvicorn_command(factory: str, port: int) -> list[str]:
    """An app factory of this package (`module:function`) under uvicorn, as `resource-service serve` runs ours."""
    uvicorn = [sys.executable, "-m", "uvicorn", f"tests.benchmarks.{factory}", "--factory"]
    return [*uvicorn, "--app-dir", str(PROJECT_ROOT), "--port", str(port), "--no-access-log"]


@dataclass
class Server:
    """One server process (a framework's `resource-service serve`, or the floor) over its own database.

    `answers` is shared by the servers of one database: the first of them to be ready (the floor) records its
    answer to each read, and every other one must answer the same bytes.
    """

    kind: Kind
    database: Database
    database_url: str
    directory: Path
    seed_path: str
    answers: dict[str, bytes]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.database}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The floor app under uvicorn, or the framework's `resource-service serve`."""
        if self.kind == "floor":
            return uvicorn_command("floor:create_app", self.port)
        return [str(CONSOLE_SCRIPT), "serve", "--framework", self.kind, "--port", str(self.port)]

    def environment(self) -> dict[str, str]:
        """What the server is started with besides its database: observability off."""
        return {"OTEL_SDK_DISABLED": "true", "FLOOR_DATABASE_URL": self.database_url}

    def start(self, pinned: bool) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        env = service_environment(self.database_url, self.environment())
        self.process = spawn_server(self.command(), env, self.directory, pinned=pinned)

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        # The peers suite starts thirteen servers at once on one CPU, which a shared machine may also be using.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}{self.seed_path}", timeout=1.0).status_code == 200:
                    self._check_answers()
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} was not ready in {timeout_s} s")

    def _check_answers(self) -> None:
        for path in (self.seed_path, *READ_PATHS.values()):
            answer = httpx.get(f"{self.base_url}{path}", timeout=10.0)
            answer.raise_for_status()
            expected = self.answers.setdefault(path, answer.content)
            if answer.content != expected:
                raise AssertionError(
                    f"{self.name} answers {path} otherwise than the floor:\n{answer.content!r}\n{expected!r}"
                )

    def stop(self) -> None:
        stop_process(self.process)


async def _seed(database_url: str, resources: int) -> str:
    """Migrate the database and store what the reads read; the path `get` reads.

    `api`, which depends on `db` and `cache`, for `get`; then `resources` resources each depending on the one
    before, one in ten with the searched text in its description, for `list` and `search`.
    """
    engine = create_engine(database_url)
    try:
        await upgrade_schema(engine)
        service = ResourceService(SqlaUnitOfWork(engine), Instrumentation(NoTelemetry()))
        db = await service.create(ResourceDraft("seed-db"))
        cache = await service.create(ResourceDraft("seed-cache"))
        api = await service.create(ResourceDraft("seed-api", "read by wrk", (db.id, cache.id)))
        previous: Resource = api
        for index in range(resources):
            description = f"{SEARCH_TEXT} item {index}" if index % 10 == 0 else f"item {index}"
            previous = await service.create(ResourceDraft(f"item-{index:05d}", description, (previous.id,)))
    finally:
        await engine.dispose()
    return f"/resources/{api.id}"


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def sqlite_copies(directory: Path, resources: int, names: Sequence[str]) -> tuple[dict[str, str], str]:
    """A seeded SQLite database per named server, copies of one; their URLs by name, and the path `get` reads."""
    paths = {name: directory / f"{name}-sqlite" / "resources.db" for name in names}
    first, *others = paths.values()
    first.parent.mkdir(parents=True)
    seed_path = asyncio.run(_seed(f"sqlite+aiosqlite:///{first}", resources))
    for path in others:
        path.parent.mkdir(parents=True)
        shutil.copyfile(first, path)
    return {name: f"sqlite+aiosqlite:///{path}" for name, path in paths.items()}, seed_path


@contextmanager
def _postgres_copies(resources: int) -> Iterator[tuple[dict[str, str], str]]:
    """A seeded PostgreSQL database of this run's own per server, copies of one, dropped at the end.

    Their URLs by kind, and the path `get` reads.
    """
    names = {kind: f"resource_service_floor_{uuid4().hex[:10]}" for kind in KINDS}
    first, *others = names.values()
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{first}"'))
        seed_path = asyncio.run(_seed(make_url(POSTGRES_URL).set(database=first).render_as_string(False), resources))
        for name in others:
            asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{first}"'))
        yield (
            {
                kind: make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
                for kind, name in names.items()
            },
            seed_path,
        )
    finally:
        for name in names.values():
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


Loads = dict[tuple[Kind, Database, Operation], list[Load]]


def run(*, smoke: bool) -> dict[str, Any]:
    """Both frameworks and the floor, on both databases, every operation: rows, ratios to the floor, targets."""
    repetitions, seconds = (1, SMOKE_SECONDS) if smoke else (FULL_REPETITIONS, FULL_SECONDS)
    operations, resources = (SMOKE_OPERATIONS, SMOKE_RESOURCES) if smoke else (OPERATIONS, FULL_RESOURCES)
    with tempfile.TemporaryDirectory() as temporary, _postgres_copies(resources) as postgres:
        directory = Path(temporary)
        copies: dict[Database, tuple[dict[str, str], str]] = {
            "sqlite": sqlite_copies(directory, resources, KINDS),
            "postgresql": postgres,
        }
        servers = []
        for database, (urls, seed_path) in copies.items():
            answers: dict[str, bytes] = {}
            servers += [
                Server(kind, database, urls[kind], directory / f"{kind}-{database}", seed_path, answers)
                for kind in KINDS
            ]
        by_server = interleaved_loads(servers, operations, repetitions, seconds, smoke=smoke)
    loads: Loads = {
        (server.kind, server.database, operation): runs
        for server, measured in zip(servers, by_server, strict=True)
        for operation, runs in measured.items()
    }
    ratios = _ratios(loads, operations)
    return {
        "seconds_per_run": seconds,
        "resources": resources,
        "rows": _rows(loads),
        "ratios": ratios,
        "targets": [_target(row) for row in ratios],
    }


def _target(ratio: Row) -> Row:
    operation, limit = ratio["operation"], TARGETS[ratio["operation"]]
    name = f"{ratio['ratio']} at least {limit}x: {operation}, {ratio['database']}"
    return target(name, ratio["value"]["median"], limit, at_most=False, unit="x")


def _rows(loads: Loads) -> list[Row]:
    return [
        {"server": kind, "database": database, "operation": operation, **load_figures(runs)}
        for (kind, database, operation), runs in loads.items()
    ]


def _ratios(loads: Loads, operations: tuple[Operation, ...]) -> list[Row]:
    """Each framework's throughput over the floor's, paired within repetitions."""
    return [
        {
            "ratio": f"{kind}/floor",
            "database": database,
            "operation": operation,
            "value": Spread.of(
                [
                    ours.requests_per_s / floor.requests_per_s
                    for ours, floor in zip(
                        loads[(kind, database, operation)], loads[("floor", database, operation)], strict=True
                    )
                ]
            ).as_json(),
        }
        for database in DATABASES
        for operation in operations
        for kind in KINDS
        if kind != "floor"
    ]
