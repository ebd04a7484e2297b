"""Suite `floor`: the project against the floor (`floor.py`), over HTTP, observability off, SQLite and PostgreSQL.

Each framework's `resource-service serve` and the floor app run side by side under uvicorn, one process each,
pinned to CPU 0, with wrk (`-t1 -c16`) pinned to CPU 1; every server has a database of its own, made by the
project's migrations and seeded with a resource that has two dependencies (what `get` reads). Repetitions
interleave the servers in a rotating order; each ratio project / floor pairs runs of the same repetition.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from uuid import uuid4

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from adapters.observability import noop_telemetry
from adapters.sqla import SqlaUnitOfWork, create_engine, upgrade_schema
from core.model import ResourceDraft
from core.service import ResourceService

from .measure import FULL_REPETITIONS, Row, Spread, target
from .throughput import (
    CONSOLE_SCRIPT,
    FULL_SECONDS,
    SMOKE_SECONDS,
    Load,
    Operation,
    free_port,
    interleaved_loads,
    service_environment,
    spawn_server,
    stop_process,
)

Kind = Literal["fastapi", "litestar", "floor"]
Database = Literal["sqlite", "postgresql"]
KINDS: Final[tuple[Kind, ...]] = ("floor", "fastapi", "litestar")
DATABASES: Final[tuple[Database, ...]] = ("sqlite", "postgresql")
OPERATIONS: Final[tuple[Operation, ...]] = ("get", "create")
# The targets: the share of the floor's throughput the project must keep.
TARGETS: Final = {"get": 0.5, "create": 0.4}
PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
POSTGRES_URL: Final = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@dataclass
class Server:
    """One server process (a framework's `resource-service serve`, or the floor) over its own database."""

    kind: Kind
    database: Database
    database_url: str
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    seed_path: str = ""

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.database}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        if self.kind == "floor":
            uvicorn = [sys.executable, "-m", "uvicorn", "tests.benchmarks.floor:create_app", "--factory"]
            return [*uvicorn, "--app-dir", str(PROJECT_ROOT), "--port", str(self.port), "--no-access-log"]
        return [str(CONSOLE_SCRIPT), "serve", "--framework", self.kind, "--port", str(self.port)]

    def start(self, pinned: bool) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.seed_path = asyncio.run(_seed(self.database_url))
        env = service_environment(
            self.database_url, {"OTEL_SDK_DISABLED": "true", "FLOOR_DATABASE_URL": self.database_url}
        )
        self.process = spawn_server(self._command(), env, self.directory, pinned=pinned)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}{self.seed_path}", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.kind} on {self.database} was not ready in {timeout_s} s")

    def stop(self) -> None:
        stop_process(self.process)


async def _seed(database_url: str) -> str:
    """Migrate the database and store `api`, which depends on `db` and `cache`: the path `get` reads."""
    engine = create_engine(database_url)
    try:
        await upgrade_schema(engine)
        service = ResourceService(SqlaUnitOfWork(engine), noop_telemetry())
        db = await service.create(ResourceDraft("seed-db"))
        cache = await service.create(ResourceDraft("seed-cache"))
        api = await service.create(ResourceDraft("seed-api", "read by wrk", (db.id, cache.id)))
    finally:
        await engine.dispose()
    return f"/resources/{api.id}"


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def _postgres_databases(count: int) -> Iterator[list[str]]:
    """`count` empty PostgreSQL databases of this run's own, dropped at the end."""
    names = [f"resource_service_floor_{uuid4().hex[:10]}" for _ in range(count)]
    for name in names:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield [make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False) for name in names]
    finally:
        for name in names:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


Loads = dict[tuple[Kind, Database, Operation], list[Load]]


def run(*, smoke: bool) -> dict[str, Any]:
    """Both frameworks and the floor, on both databases, `get` and `create`: rows, ratios to the floor, targets."""
    repetitions, seconds = (1, SMOKE_SECONDS) if smoke else (FULL_REPETITIONS, FULL_SECONDS)
    with tempfile.TemporaryDirectory() as directory, _postgres_databases(len(KINDS)) as postgres_urls:
        urls = {
            ("sqlite", kind): f"sqlite+aiosqlite:///{Path(directory) / kind / 'resources.db'}" for kind in KINDS
        } | {("postgresql", kind): url for kind, url in zip(KINDS, postgres_urls, strict=True)}
        servers = [
            Server(kind, database, urls[(database, kind)], Path(directory) / kind)
            for database in DATABASES
            for kind in KINDS
        ]
        by_server = interleaved_loads(servers, OPERATIONS, repetitions, seconds, smoke=smoke)
    loads: Loads = {
        (server.kind, server.database, operation): runs
        for server, measured in zip(servers, by_server, strict=True)
        for operation, runs in measured.items()
    }
    ratios = _ratios(loads)
    return {
        "seconds_per_run": seconds,
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
        {
            "server": kind,
            "database": database,
            "operation": operation,
            "requests_per_s": Spread.of([load.requests_per_s for load in runs]).as_json(),
            "p50_ms": Spread.of([load.p50_ms for load in runs]).as_json(),
            "p99_ms": Spread.of([load.p99_ms for load in runs]).as_json(),
            "failed_requests": sum(load.failed for load in runs),
        }
        for (kind, database, operation), runs in loads.items()
    ]


def _ratios(loads: Loads) -> list[Row]:
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
        for operation in OPERATIONS
        for kind in KINDS
        if kind != "floor"
    ]
