"""Suite `writes`: what keeping the resource count costs PostgreSQL's writers, and what reading the count costs.

Three ways of keeping the count, each on a database of its own made by the project's migrations: `none` (the
count's triggers disabled: no per-write upkeep, the floor), `one_row` (the triggers update one row, as revision
0002's did) and `sharded` (the head's triggers: the row of the transaction's id). Three measurements:

- `inserts`: pgbench, a plain `INSERT INTO resources` per transaction on 1 and 16 clients (pgbench on CPU 1);
  the ratio to `none` pairs the runs of one repetition, the databases alternated in a rotating order.
- `http`: creates over HTTP (`resource-service serve`, Litestar, observability off, on CPU 0) with one and two
  workers under `wrk -c16` on CPU 1, `one_row` and `sharded` (the two servers of one number of workers up at
  once and alternated); meanwhile `pg_stat_activity` is sampled every
  10 ms for the backends of that database waiting on a lock (`wait_event_type = 'Lock'`).
- `count_reads`: one read of the count, at 10^3 and 10^6 stored resources (smoke: 10^2 and 10^4), on both
  stores: `count(*)`, the sum of the kept rows (what the project reads), and PostgreSQL's planner estimate.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Literal
from uuid import uuid4

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqla import SqlaResourceRepository, create_engine, upgrade_schema

from .graph import EPOCH, POSTGRES_URL, STORES, Store, database
from .measure import FULL_REPETITIONS, Row, Spread, target
from .raw import ResourceRecord, open_raw
from .throughput import (
    CONSOLE_SCRIPT,
    CREATE_SCRIPT,
    LOAD_CPU,
    SERVER_CPU,
    Load,
    free_port,
    load_figures,
    parse_wrk,
    service_environment,
)

Upkeep = Literal["none", "one_row", "sharded"]
UPKEEPS: Final[tuple[Upkeep, ...]] = ("none", "one_row", "sharded")
HTTP_UPKEEPS: Final[tuple[Upkeep, ...]] = ("one_row", "sharded")
CLIENTS: Final = (1, 16)
WORKERS: Final = (1, 2)
HTTP_CONNECTIONS: Final = 16
FULL_SECONDS: Final = 5
SMOKE_SECONDS: Final = 1
FULL_SIZES: Final = (1_000, 1_000_000)
SMOKE_SIZES: Final = (100, 10_000)
FULL_READS: Final = 20
SMOKE_READS: Final = 3
SAMPLE_EVERY_S: Final = 0.01
# A shared machine under load starts a server slowly.
READY_TIMEOUT_S: Final = 180
# The targets.
INSERTS_LIMIT: Final = 0.8
WAITING_LIMIT: Final = 0.5
INSERT: Final = (
    "INSERT INTO resources (id, name, description, created_at, updated_at) "
    "VALUES (gen_random_uuid(), gen_random_uuid()::text, '', now(), now());\n"
)
DISABLE_UPKEEP: Final = (
    "ALTER TABLE resources DISABLE TRIGGER resource_count_insert",
    "ALTER TABLE resources DISABLE TRIGGER resource_count_delete",
)
# Revision 0002's upkeep on the head's table: every transaction updates the same row.
ONE_ROW_UPKEEP: Final = tuple(
    f"""CREATE OR REPLACE FUNCTION resource_count_{change}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE resource_count_shards SET stored = stored {sign} (SELECT count(*) FROM {table}) WHERE shard = 0;
    RETURN NULL; END $$"""
    for change, sign, table in (("inserted", "+", "inserted"), ("deleted", "-", "deleted"))
)
WAITING: Final = """
SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) FILTER (WHERE state = 'active')
FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()
"""
COUNT_READS: Final[dict[str, str]] = {
    "count(*)": "SELECT count(*) FROM resources",
    "planner estimate": "SELECT reltuples::bigint FROM pg_class WHERE relname = 'resources'",
}


def available() -> bool:
    """pgbench (Debian: postgresql-contrib) and wrk are installed."""
    return all(shutil.which(tool) for tool in ("pgbench", "wrk", "taskset"))


def _dsn(database: str | None = None) -> str:
    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    return (url if database is None else url.set(database=database)).render_as_string(hide_password=False)


async def _execute(dsn: str, *statements: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _migrated(name: str) -> None:
    engine = create_engine(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
    try:
        await upgrade_schema(engine)
    finally:
        await engine.dispose()


@contextmanager
def upkeep_databases() -> Iterator[dict[Upkeep, str]]:
    """A migrated database per way of keeping the count, named by it; dropped at the end."""
    names: dict[Upkeep, str] = {upkeep: f"resource_service_writes_{upkeep}_{uuid4().hex[:8]}" for upkeep in UPKEEPS}
    changes: dict[Upkeep, tuple[str, ...]] = {"none": DISABLE_UPKEEP, "one_row": ONE_ROW_UPKEEP, "sharded": ()}
    try:
        for upkeep, name in names.items():
            asyncio.run(_execute(_dsn(), f'CREATE DATABASE "{name}"'))
            asyncio.run(_migrated(name))
            asyncio.run(_execute(_dsn(name), *changes[upkeep]))
        yield names
    finally:
        for name in names.values():
            asyncio.run(_execute(_dsn(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _rotated(count: int, repetition: int) -> list[int]:
    shift = repetition % count
    return [*range(shift, count), *range(shift)]


def pgbench_tps(database: str, clients: int, seconds: int, script: Path) -> float:
    """Transactions per second of `script` on `clients` connections (pgbench, on the load generator's CPU)."""
    url = make_url(POSTGRES_URL)
    command = ["taskset", "-c", LOAD_CPU, "pgbench", "-n", "-M", "prepared", "-f", str(script)]
    command += ["-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds)]
    command += ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres", database]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    if found is None:
        raise AssertionError(f"unexpected pgbench output:\n{output}")
    return float(found.group(1))


def measure_inserts(names: dict[Upkeep, str], repetitions: int, seconds: int) -> dict[tuple[int, Upkeep], list[float]]:
    """pgbench's inserts per second, by clients and upkeep, one per repetition."""
    tps: dict[tuple[int, Upkeep], list[float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "insert.sql"
        script.write_text(INSERT)
        for clients in CLIENTS:
            for upkeep in UPKEEPS:
                pgbench_tps(names[upkeep], clients, 1, script)  # warm up
            for repetition in range(repetitions):
                for index in _rotated(len(UPKEEPS), repetition):
                    upkeep = UPKEEPS[index]
                    tps.setdefault((clients, upkeep), []).append(pgbench_tps(names[upkeep], clients, seconds, script))
    return tps


@dataclass
class LockSampler:
    """Samples, in a thread of its own, how many backends of one database wait on a lock and how many are active."""

    database: str
    waiting: list[int] = field(default_factory=list)
    active: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> LockSampler:
        self._thread = threading.Thread(target=asyncio.run, args=(self._sample(),))
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    async def _sample(self) -> None:
        connection = await asyncpg.connect(_dsn(self.database))
        try:
            while not self._stop.is_set():
                waiting, active = await connection.fetchrow(WAITING, self.database)
                self.waiting.append(int(waiting))
                self.active.append(int(active))
                await asyncio.sleep(SAMPLE_EVERY_S)
        finally:
            await connection.close()


@dataclass(frozen=True)
class HttpRun:
    """One wrk run of creates and the lock waits sampled during it."""

    load: Load
    mean_waiting: float
    mean_active: float


def _serve(database: str, workers: int, directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = ["taskset", "-c", SERVER_CPU, str(CONSOLE_SCRIPT), "serve", "--framework", "litestar"]
    command += ["--workers", str(workers), "--port", str(port)]
    url = make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)
    env = service_environment(url, {"OTEL_SDK_DISABLED": "true"})
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "stdout.log").open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=1.0).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    _stop(process)
    log = (directory / "stdout.log").read_text()[-2000:]
    raise AssertionError(f"the server on {database} was not ready in {READY_TIMEOUT_S} s:\n{log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wrk_creates(base_url: str, seconds: int, script: Path, run_id: str) -> str:
    command = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{HTTP_CONNECTIONS}", f"-d{seconds}s", "--latency"]
    command += ["-s", str(script), f"{base_url}/resources", "--", run_id]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def http_creates(database: str, base_url: str, seconds: int, script: Path, run_id: str) -> HttpRun:
    """Creates under wrk on the server at `base_url`, with the lock waits on its database sampled meanwhile."""
    with LockSampler(database) as sampler:
        output = _wrk_creates(base_url, seconds, script, run_id)
    return HttpRun(parse_wrk(output), _mean(sampler.waiting), _mean(sampler.active))


def _mean(samples: list[int]) -> float:
    return sum(samples) / len(samples) if samples else 0.0


HttpRuns = dict[tuple[Upkeep, int], list[HttpRun]]


def measure_http(names: dict[Upkeep, str], repetitions: int, seconds: int, directory: Path) -> HttpRuns:
    """Creates over HTTP by upkeep and workers; per number of workers, the servers alternated in a rotating order."""
    script = directory / "create.lua"
    script.write_text(CREATE_SCRIPT)
    runs: HttpRuns = {}
    for workers in WORKERS:
        servers: dict[Upkeep, tuple[subprocess.Popen[bytes], str]] = {}
        try:
            for upkeep in HTTP_UPKEEPS:
                servers[upkeep] = _serve(names[upkeep], workers, directory / f"{upkeep}-{workers}")
            for upkeep, (_, base_url) in servers.items():
                _wrk_creates(base_url, 1, script, f"warm-{upkeep}-{workers}")
            for repetition in range(repetitions):
                for index in _rotated(len(HTTP_UPKEEPS), repetition):
                    upkeep = HTTP_UPKEEPS[index]
                    run_id = f"r{repetition}-{upkeep}-{workers}"
                    run = http_creates(names[upkeep], servers[upkeep][1], seconds, script, run_id)
                    runs.setdefault((upkeep, workers), []).append(run)
        finally:
            for process, _ in servers.values():
                _stop(process)
    return runs


def _stored(count: int) -> list[ResourceRecord]:
    records: list[ResourceRecord] = []
    for index in range(count):
        created = EPOCH + timedelta(milliseconds=index)
        records.append((uuid4(), f"stored-{index:07d}", "", created, created))
    return records


async def _ms_per_read(engine: AsyncEngine, statement: str | None, reads: int) -> list[float]:
    """Milliseconds of each of `reads` reads: `statement`, or the project's own count (`None`)."""
    milliseconds = []
    async with engine.connect() as connection:
        for _ in range(reads):
            started = time.perf_counter()
            if statement is None:
                await SqlaResourceRepository(connection).count()
            else:
                await connection.execute(text(statement))
            milliseconds.append((time.perf_counter() - started) * 1000)
    return milliseconds


async def measure_count_reads(store: Store, sizes: tuple[int, ...], reads: int) -> list[Row]:
    """The ways of reading the count, at each number of stored resources."""
    methods: dict[str, str | None] = {"kept rows, summed": None, "count(*)": COUNT_READS["count(*)"]}
    if store == "postgres":
        methods["planner estimate"] = COUNT_READS["planner estimate"]
    rows: list[Row] = []
    async with database(store) as engine:
        for size in sizes:
            raw = await open_raw(engine.url)
            try:
                await raw.load(_stored(size), [])
            finally:
                await raw.close()
            for method, statement in methods.items():
                await _ms_per_read(engine, statement, 1)  # the statement prepared, the pages cached
                ms = Spread.of(await _ms_per_read(engine, statement, reads)).as_json()
                rows.append({"store": store, "stored": size, "method": method, "ms_per_read": ms})
    return rows


def _insert_rows(tps: dict[tuple[int, Upkeep], list[float]]) -> tuple[list[Row], list[Row]]:
    rows = [
        {"clients": clients, "upkeep": upkeep, "inserts_per_s": Spread.of(runs).as_json()}
        for (clients, upkeep), runs in tps.items()
    ]
    ratios = [
        {
            "clients": clients,
            "ratio": f"{upkeep}/none",
            "value": Spread.of(
                [kept / floor for kept, floor in zip(tps[(clients, upkeep)], tps[(clients, "none")], strict=True)]
            ).as_json(),
        }
        for clients in CLIENTS
        for upkeep in UPKEEPS
        if upkeep != "none"
    ]
    return rows, ratios


def _http_rows(runs: HttpRuns) -> list[Row]:
    return [
        {
            "upkeep": upkeep,
            "workers": workers,
            **load_figures([run.load for run in measured]),
            "backends_waiting_on_lock": Spread.of([run.mean_waiting for run in measured]).as_json(),
            "backends_active": Spread.of([run.mean_active for run in measured]).as_json(),
        }
        for (upkeep, workers), measured in runs.items()
    ]


def _targets(ratios: list[Row], http: list[Row]) -> list[Row]:
    sharded_16 = next(row for row in ratios if row["clients"] == max(CLIENTS) and row["ratio"] == "sharded/none")
    two_workers = next(row for row in http if row["upkeep"] == "sharded" and row["workers"] == max(WORKERS))
    return [
        target(
            f"{max(CLIENTS)} concurrent inserts with the kept count at least {INSERTS_LIMIT}x those without",
            sharded_16["value"]["median"],
            INSERTS_LIMIT,
            at_most=False,
            unit="x",
        ),
        target(
            f"backends waiting on a lock during creates from {max(WORKERS)} workers, on average, below",
            two_workers["backends_waiting_on_lock"]["median"],
            WAITING_LIMIT,
            unit="backends",
        ),
    ]


def run(*, smoke: bool) -> dict[str, Any]:
    """Inserts under pgbench, creates over HTTP with the lock waits, reads of the count: rows, ratios, targets."""
    # Smoke: one repetition of each run, to keep the plain test run short (it runs every suite at smoke size).
    repetitions, seconds = (1, SMOKE_SECONDS) if smoke else (FULL_REPETITIONS, FULL_SECONDS)
    sizes, reads = (SMOKE_SIZES, SMOKE_READS) if smoke else (FULL_SIZES, FULL_READS)
    with upkeep_databases() as names, tempfile.TemporaryDirectory() as directory:
        inserts, ratios = _insert_rows(measure_inserts(names, repetitions, seconds))
        http = _http_rows(measure_http(names, repetitions, seconds, Path(directory)))
    count_reads = [row for store in STORES for row in asyncio.run(measure_count_reads(store, sizes, reads))]
    return {
        "seconds_per_run": seconds,
        "inserts": inserts,
        "insert_ratios": ratios,
        "http": http,
        "count_reads": count_reads,
        "targets": _targets(ratios, http),
    }
