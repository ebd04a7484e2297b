"""Fixtures shared by every test layer: fresh databases (SQLite and PostgreSQL) and units of work."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url

from adapters.memory.repository import InMemoryUnitOfWork
from adapters.sqla import SqlaUnitOfWork, create_engine, upgrade_schema
from ports.unit_of_work import UnitOfWork

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")

# What `bootstrap` does before anything instruments (`http_instrumentation.use_stable_http_conventions`), done once
# for the whole test session: OpenTelemetry's instrumentations read the variable once per process, at the first
# instrumentation, and some tests instrument without a runtime (the compat canaries, the process metrics' tests).
# The tests of the service's own opting in, and of a deployment's other choice, run in processes of their own.
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

# Hypothesis's own 100 examples, with a 2 s deadline instead of 200 ms: on a shared two-core machine one example
# of a command sequence took 270 ms once and 6 ms when replayed, and a deadline is about speed, not correctness.
# HYPOTHESIS_PROFILE=thorough runs 1 000 examples without a deadline.
settings.register_profile("project", deadline=2_000)
settings.register_profile("thorough", max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "project"))


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _admin(statement: str, url: str = POSTGRES_URL) -> None:
    """Run one statement on the server; in a thread of its own, since a test's event loop may be running."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, _execute(url, statement)).result()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, dropped at the end."""
    name = f"resource_service_test_{uuid4().hex[:12]}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is needed (set TEST_POSTGRES_URL): {exc}")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    _admin(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The URL of an empty PostgreSQL database."""
    _admin("DROP SCHEMA public CASCADE; CREATE SCHEMA public", postgres_database)
    return postgres_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of an empty SQLite database file."""
    return f"sqlite+aiosqlite:///{tmp_path / 'resources.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each supported kind."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """None for the in-memory store, else the URL of an empty database of each kind."""
    return None if request.param == "memory" else str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def unit_of_work(store_url: str | None) -> AsyncIterator[UnitOfWork]:
    """An empty store behind each implementation of the port, so one test checks they agree."""
    if store_url is None:
        yield InMemoryUnitOfWork()
        return
    engine = create_engine(store_url)
    await upgrade_schema(engine)
    yield SqlaUnitOfWork(engine)
    await engine.dispose()
