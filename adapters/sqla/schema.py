"""The schema's version: advanced-alchemy's Alembic commands, run on one connection that holds the writers' lock.

Every command that touches the database runs inside one transaction that first takes the lock writers take
(PostgreSQL: the advisory lock; SQLite: BEGIN IMMEDIATE), and Alembic joins that transaction (see
`migrations/env.py`). So processes that start together migrate one after the other: the first upgrades, the
others find the database at head and do nothing.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from advanced_alchemy.alembic.commands import AlembicCommands
from advanced_alchemy.config import AlembicAsyncConfig, SQLAlchemyAsyncConfig
from advanced_alchemy.types import GUID
from alembic.autogenerate.api import AutogenContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import NUMERIC, Column, func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import TypeEngine

from adapters.sqla.engine import GRAPH_LOCK_KEY, SQLITE_IMMEDIATE

SCRIPTS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
# The revision whose schema is the one `create_all` made before migrations existed, and a table it created.
FIRST_REVISION = "0001"
LEGACY_TABLE = "resources"
# Keys of Alembic's `config.attributes`, shared with `migrations/env.py`.
SHARED_CONNECTION = "connection"
VERSION_CHANGED = "version_changed"
T = TypeVar("T")


class SchemaNotCurrentError(Exception):
    """The database is not at the code's head revision: behind it, or at a revision the code does not have."""

    def __init__(self, message: str, *, behind: bool) -> None:
        super().__init__(message)
        self.behind = behind


def alembic_commands(engine: AsyncEngine, scripts: Path = SCRIPTS) -> AlembicCommands:
    """advanced-alchemy's Alembic commands on `engine` with the scripts in `scripts`; they print to sys.stdout."""
    commands = AlembicCommands(
        SQLAlchemyAsyncConfig(
            engine_instance=engine,
            alembic_config=AlembicAsyncConfig(
                # No alembic.ini: every option is set here, none is read from the working directory.
                script_config="",
                script_location=str(scripts),
                version_table_name=VERSION_TABLE,
                compare_type=True,
            ),
        )
    )
    commands.config.stdout = sys.stdout
    return commands


async def run_alembic(engine: AsyncEngine, command: Callable[[AlembicCommands], T], scripts: Path = SCRIPTS) -> T:
    """Run `command` (e.g. `lambda commands: commands.current()`) on a connection that holds the writers' lock."""
    commands = alembic_commands(engine, scripts)
    async with _locked_connection(engine) as connection:
        return await connection.run_sync(partial(_sharing_connection, commands, command))


async def upgrade_schema(engine: AsyncEngine, revision: str = "head", scripts: Path = SCRIPTS) -> None:
    """Upgrade the database to `revision`, first adopting a database that `create_all` made before migrations."""
    await run_alembic(engine, partial(_adopt_and_upgrade, revision=revision), scripts)


async def require_head(engine: AsyncEngine, scripts: Path = SCRIPTS) -> None:
    """Raise `SchemaNotCurrentError` unless the database is at the head revision (waiting for a running upgrade)."""
    await run_alembic(engine, _check_at_head, scripts)


def compare_column_type(
    migration: MigrationContext,
    _inspected_column: Column[Any],
    _metadata_column: Column[Any],
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Alembic's own comparison (None), except that SQLite reflects GUID's BINARY(16) as NUMERIC: no change."""
    if migration.dialect.name == "sqlite" and isinstance(metadata_type, GUID) and isinstance(inspected_type, NUMERIC):
        return False
    return None


def render_advanced_alchemy_type(kind: str, item: object, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write advanced-alchemy's column types (GUID, DateTimeUTC...) into generated revisions with their import."""
    if kind != "type" or not type(item).__module__.startswith("advanced_alchemy.types"):
        return False
    autogen_context.imports.add(f"from advanced_alchemy.types import {type(item).__name__}")
    return repr(item)


def _sharing_connection(
    commands: AlembicCommands, command: Callable[[AlembicCommands], T], connection: Connection
) -> T:
    commands.config.attributes[SHARED_CONNECTION] = connection
    result = command(commands)
    if connection.dialect.name == "sqlite" and commands.config.attributes.get(VERSION_CHANGED):
        _check_foreign_keys(connection)
    return result


def _adopt_and_upgrade(commands: AlembicCommands, revision: str) -> None:
    schema = inspect(commands.config.attributes[SHARED_CONNECTION])
    if schema.has_table(LEGACY_TABLE) and not schema.has_table(VERSION_TABLE):
        commands.stamp(FIRST_REVISION)
    commands.upgrade(revision)


def _check_at_head(commands: AlembicCommands) -> None:
    current = _current_revisions(commands.config.attributes[SHARED_CONNECTION])
    script = ScriptDirectory.from_config(commands.config)
    heads = set(script.get_heads())
    if current == heads:
        return
    head = ", ".join(sorted(heads))
    if not current:
        raise SchemaNotCurrentError(f"the database has no schema revision, the code's head is {head}", behind=True)
    at = ", ".join(sorted(current))
    if current <= {revision.revision for revision in script.walk_revisions()}:
        raise SchemaNotCurrentError(f"the database is at revision {at}, behind the code's head {head}", behind=True)
    raise SchemaNotCurrentError(f"the database is at revision {at}, which this code does not have", behind=False)


def _current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_heads())


def _check_foreign_keys(connection: Connection) -> None:
    orphans = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if orphans:
        raise RuntimeError(f"the migration left {len(orphans)} row(s) whose foreign key points nowhere: rolled back")


@asynccontextmanager
async def _locked_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    sqlite = engine.dialect.name == "sqlite"
    async with engine.connect() as connection:
        if sqlite:
            await connection.run_sync(_set_foreign_keys, False)
        await connection.execution_options(**{SQLITE_IMMEDIATE: True})
        try:
            async with connection.begin():
                if not sqlite:
                    await connection.execute(select(func.pg_advisory_xact_lock(GRAPH_LOCK_KEY)))
                yield connection
        except BaseException:
            if sqlite:
                # Never hand a connection with foreign keys off back to the pool: the next one is opened afresh.
                await connection.invalidate()
            raise
        if sqlite:
            await connection.run_sync(_set_foreign_keys, True)


# SQLite alters a table by copying it and dropping the original, and dropping `resources` would cascade to every
# edge: foreign keys are off while migrations run (they can be switched outside a transaction only), and
# `PRAGMA foreign_key_check` stands in for them before commit, as SQLite's "ALTER TABLE" documentation prescribes.
def _set_foreign_keys(connection: Connection, on: bool) -> None:
    cursor = connection.connection.cursor()
    cursor.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
    cursor.close()
