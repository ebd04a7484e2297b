"""Fixtures shared by every test layer: fresh databases (SQLite and PostgreSQL) and units of work."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url

from adapters.memory_repository import InMemoryUnitOfWork
from adapters.sqla import SqlaUnitOfWork, create_engine, create_schema
from ports.unit_of_work import UnitOfWork

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")

settings.register_profile("default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, dropped at the end."""
    name = f"resource_service_test_{uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is needed (set TEST_POSTGRES_URL): {exc}")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
async def postgres_url(postgres_database: str) -> str:
    """The URL of an empty PostgreSQL database."""
    connection = await asyncpg.connect(_asyncpg_dsn(postgres_database))
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()
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
async def unit_of_work(request: pytest.FixtureRequest) -> AsyncIterator[UnitOfWork]:
    """An empty store behind each implementation of the port, so one test checks they agree."""
    if request.param == "memory":
        yield InMemoryUnitOfWork()
        return
    engine = create_engine(request.getfixturevalue(f"{request.param}_url"))
    await create_schema(engine)
    yield SqlaUnitOfWork(engine)
    await engine.dispose()
