"""The project's tables on the raw drivers, beside the project: bulk loads, and the floors of the graph operations.

A fixture goes straight into the tables (executemany on SQLite, COPY on PostgreSQL, then VACUUM ANALYZE) in the
form the project stores (on SQLite: ids as 16 bytes, times as UTC text), so the project reads it back as its own.
The tables are emptied with DELETE, not TRUNCATE, so that triggers the schema may put on them (a kept count of the
resources, say) see every row go as they see every row come. The
floors are what a graph operation needs at the least: one recursive CTE doing the walk (and for the cascade, the
deletes too, in one transaction), on one connection of aiosqlite or asyncpg.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import aiosqlite
import asyncpg
from sqlalchemy.engine import URL

ResourceRecord = tuple[UUID, str, str, datetime, datetime]
EdgeRecord = tuple[UUID, UUID, int]
_RESOURCE_COLUMNS = ("id", "name", "description", "created_at", "updated_at")
_EDGE_COLUMNS = ("resource_id", "dependency_id", "position")
_INSERT_RESOURCE = "INSERT INTO resources (id, name, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
_INSERT_EDGE = "INSERT INTO resource_dependencies (resource_id, dependency_id, position) VALUES (?, ?, ?)"
# The walk along dependency edges from one resource: each reached resource with the one it was reached from.
_WALK = """
WITH RECURSIVE walk(node, came_from) AS (
    SELECT dependency_id, resource_id FROM resource_dependencies WHERE resource_id = {start}
    UNION
    SELECT edge.dependency_id, edge.resource_id
    FROM resource_dependencies AS edge JOIN walk ON edge.resource_id = walk.node
)
SELECT node, came_from FROM walk
"""
# The resource and everything depending on it, deleted in the same statement (their edges go by ON DELETE CASCADE).
_DELETE_CASCADE = """
WITH RECURSIVE doomed(node) AS (
    SELECT CAST({root} AS {id_type})
    UNION
    SELECT edge.resource_id
    FROM resource_dependencies AS edge JOIN doomed ON edge.dependency_id = doomed.node
)
DELETE FROM resources WHERE id IN (SELECT node FROM doomed) RETURNING id
"""


class RawDatabase(Protocol):
    """One raw connection to a database with the project's schema."""

    async def load(self, resources: Sequence[ResourceRecord], edges: Sequence[EdgeRecord]) -> None:
        """Empty the tables, then write these rows straight into them."""

    async def walk(self, start: UUID) -> dict[UUID, UUID]:
        """Every resource reached from `start` along dependency edges, with the resource it was reached from."""

    async def delete_cascade(self, root: UUID) -> list[UUID]:
        """Delete `root` and everything that depends on it, in one transaction; the ids deleted."""

    async def close(self) -> None: ...


async def connect_sqlite(path: str) -> aiosqlite.Connection:
    """One aiosqlite connection in autocommit mode with the pragmas the project sets on its own."""
    connection = await aiosqlite.connect(path, isolation_level=None)
    for pragma in ("foreign_keys = ON", "journal_mode = WAL", "busy_timeout = 5000"):
        await connection.execute(f"PRAGMA {pragma}")
    return connection


class RawSqlite:
    """One aiosqlite connection with the project's pragmas, in autocommit mode: transactions are explicit."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    @classmethod
    async def open(cls, path: str) -> RawSqlite:
        return cls(await connect_sqlite(path))

    async def load(self, resources: Sequence[ResourceRecord], edges: Sequence[EdgeRecord]) -> None:
        rows = [
            (key.bytes, name, text, _stamp(created), _stamp(updated)) for key, name, text, created, updated in resources
        ]
        await self._connection.execute("BEGIN")
        await self._connection.execute("DELETE FROM resource_dependencies")
        await self._connection.execute("DELETE FROM resources")
        await self._connection.executemany(_INSERT_RESOURCE, rows)
        await self._connection.executemany(_INSERT_EDGE, [(a.bytes, b.bytes, position) for a, b, position in edges])
        await self._connection.execute("COMMIT")

    async def walk(self, start: UUID) -> dict[UUID, UUID]:
        async with self._connection.execute(_WALK.format(start="?"), (start.bytes,)) as cursor:
            return {UUID(bytes=node): UUID(bytes=source) for node, source in await cursor.fetchall()}

    async def delete_cascade(self, root: UUID) -> list[UUID]:
        await self._connection.execute("BEGIN")
        async with self._connection.execute(_DELETE_CASCADE.format(root="?", id_type="BLOB"), (root.bytes,)) as cursor:
            deleted = [UUID(bytes=row[0]) for row in await cursor.fetchall()]
        await self._connection.execute("COMMIT")
        return deleted

    async def close(self) -> None:
        await self._connection.close()


class RawPostgres:
    """One asyncpg connection."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    @classmethod
    async def open(cls, dsn: str) -> RawPostgres:
        return cls(await asyncpg.connect(dsn))

    async def load(self, resources: Sequence[ResourceRecord], edges: Sequence[EdgeRecord]) -> None:
        async with self._connection.transaction():
            await self._connection.execute("DELETE FROM resource_dependencies")
            await self._connection.execute("DELETE FROM resources")
            await self._connection.copy_records_to_table("resources", records=resources, columns=_RESOURCE_COLUMNS)
            await self._connection.copy_records_to_table("resource_dependencies", records=edges, columns=_EDGE_COLUMNS)
        await self._connection.execute("VACUUM ANALYZE resources, resource_dependencies")

    async def walk(self, start: UUID) -> dict[UUID, UUID]:
        return dict(await self._connection.fetch(_WALK.format(start="$1"), start))

    async def delete_cascade(self, root: UUID) -> list[UUID]:
        async with self._connection.transaction():
            rows = await self._connection.fetch(_DELETE_CASCADE.format(root="$1", id_type="uuid"), root)
        return [row[0] for row in rows]

    async def close(self) -> None:
        await self._connection.close()


async def open_raw(url: URL) -> RawDatabase:
    """A raw connection to the database of a project URL (`sqlite+aiosqlite` or `postgresql+asyncpg`)."""
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        return await RawSqlite.open(url.database)
    return await RawPostgres.open(url.set(drivername="postgresql").render_as_string(hide_password=False))


def _stamp(moment: datetime) -> str:
    """A time as the project's SQLite column holds it: UTC, without zone, to the microsecond."""
    return moment.replace(tzinfo=None).isoformat(" ", timespec="microseconds")
