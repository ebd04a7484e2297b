"""Fixtures shared by every test layer: fresh databases (SQLite and PostgreSQL) and units of work.

Every test that needs the PostgreSQL server is marked `postgres`: by the hook below when it uses the server's
fixtures, by the fixtures' own parameters when it takes a database of each kind. Outside CI those tests skip when
the server does not answer; under CI they fail.
"""

from __future__ import annotations

import asyncio
import functools
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
# A host that drops packets would hold the run for asyncpg's default of 60 s before the skip or the failure.
CONNECT_TIMEOUT_S = 10.0
POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)

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
    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=CONNECT_TIMEOUT_S)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _admin(statement: str, url: str = POSTGRES_URL) -> None:
    """Run one statement on the server; in a thread of its own, since a test's event loop may be running."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, _execute(url, statement)).result()


def _under_ci() -> bool:
    """Whether this run is CI's (`CI` set, as GitHub Actions and `.ci/run` set it, and not false)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@functools.cache
def _postgres_not_answering() -> str | None:
    """Why the server at TEST_POSTGRES_URL cannot be used, asked once a session; None when it answers."""
    try:
        _admin("SELECT 1")
    except (OSError, asyncpg.PostgresError) as exc:
        shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        return (
            f"PostgreSQL at {shown} is not answering ({exc}); start it or set TEST_POSTGRES_URL (under CI this fails)"
        )
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `postgres` every test whose fixtures reach the server, before `-m` selects."""
    for item in items:
        if "postgres_database" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Outside CI, skip a `postgres` test when the server does not answer; under CI it runs, and fails."""
    if item.get_closest_marker("postgres") is not None and not _under_ci():
        reason = _postgres_not_answering()
        if reason is not None:
            pytest.skip(reason)


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


@pytest.fixture(params=["sqlite", POSTGRES])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each supported kind."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(params=["memory", "sqlite", POSTGRES])
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
