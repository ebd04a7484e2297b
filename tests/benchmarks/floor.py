"""The floor: GET /resources/{id}, POST /resources, GET /resources and GET /resources/search written plainly.

FastAPI straight onto the raw driver (aiosqlite on one connection, or an asyncpg pool), msgspec for every body,
the project's own tables (made by `resource-service db upgrade`) and the same JSON; no ORM, no layers, no
logging, no telemetry. Served by uvicorn exactly as `resource-service serve` serves the project, so that the
ratio project / floor measures the project's own code. `FLOOR_DATABASE_URL` names the database, in the
project's URL form.

    python -m uvicorn tests.benchmarks.floor:create_app --factory
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import aiosqlite
import asyncpg
import msgspec
from fastapi import FastAPI, Request, Response
from fastapi.telemetry import TelemetryConfig

from .raw import connect_sqlite

JSON = "application/json"


class ResourceOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    description: str
    dependencies: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime


class ResourcePage(msgspec.Struct):
    items: list[ResourceOut]
    total: int
    limit: int
    offset: int


class ResourceIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    description: str = ""


class Store(Protocol):
    async def get(self, resource_id: uuid.UUID) -> ResourceOut | None: ...

    async def create(self, resource: ResourceOut) -> bool: ...

    async def page(self, pattern: str | None, limit: int, offset: int) -> tuple[list[ResourceOut], int]: ...

    async def close(self) -> None: ...


class SqliteStore:
    """One aiosqlite connection: the project's pragmas, ids as 16 bytes and times as text, as SQLAlchemy writes them."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        return cls(await connect_sqlite(path))

    async def get(self, resource_id: uuid.UUID) -> ResourceOut | None:
        key = resource_id.bytes
        async with self._connection.execute(
            "SELECT name, description, created_at, updated_at FROM resources WHERE id = ?", (key,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        async with self._connection.execute(
            "SELECT dependency_id FROM resource_dependencies WHERE resource_id = ? ORDER BY position", (key,)
        ) as cursor:
            dependencies = [uuid.UUID(bytes=edge[0]) for edge in await cursor.fetchall()]
        name, description, created, updated = row
        return ResourceOut(resource_id, name, description, dependencies, _utc(created), _utc(updated))

    async def create(self, resource: ResourceOut) -> bool:
        stamp = resource.created_at.replace(tzinfo=None).isoformat(" ")
        try:
            await self._connection.execute(
                "INSERT INTO resources (id, name, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (resource.id.bytes, resource.name, resource.description, stamp, stamp),
            )
        except aiosqlite.IntegrityError:
            return False
        return True

    async def page(self, pattern: str | None, limit: int, offset: int) -> tuple[list[ResourceOut], int]:
        where, matching = ("", ()) if pattern is None else (f" WHERE {_MATCHES.format('?', '?')}", (pattern, pattern))
        async with self._connection.execute(
            f"SELECT id, name, description, created_at, updated_at FROM resources{where}"
            " ORDER BY created_at, id LIMIT ? OFFSET ?",
            (*matching, limit, offset),
        ) as cursor:
            rows = list(await cursor.fetchall())
        async with self._connection.execute(f"SELECT count(*) FROM resources{where}", matching) as cursor:
            total = await cursor.fetchone()
        dependencies: dict[bytes, list[uuid.UUID]] = {row[0]: [] for row in rows}
        if rows:
            async with self._connection.execute(
                "SELECT resource_id, dependency_id FROM resource_dependencies"
                f" WHERE resource_id IN ({', '.join('?' * len(rows))}) ORDER BY resource_id, position",
                list(dependencies),
            ) as cursor:
                for source, target in await cursor.fetchall():
                    dependencies[source].append(uuid.UUID(bytes=target))
        assert total is not None
        items = [
            ResourceOut(uuid.UUID(bytes=key), name, description, dependencies[key], _utc(created), _utc(updated))
            for key, name, description, created, updated in rows
        ]
        return items, total[0]

    async def close(self) -> None:
        await self._connection.close()


class PostgresStore:
    """An asyncpg pool; one statement per request part, each its own implicit transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresStore:
        return cls(await asyncpg.create_pool(dsn, min_size=1, max_size=10))

    async def get(self, resource_id: uuid.UUID) -> ResourceOut | None:
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(
                "SELECT name, description, created_at, updated_at FROM resources WHERE id = $1", resource_id
            )
            if row is None:
                return None
            edges = await connection.fetch(
                "SELECT dependency_id FROM resource_dependencies WHERE resource_id = $1 ORDER BY position",
                resource_id,
            )
        dependencies = [edge[0] for edge in edges]
        return ResourceOut(resource_id, row[0], row[1], dependencies, row[2], row[3])

    async def create(self, resource: ResourceOut) -> bool:
        try:
            await self._pool.execute(
                "INSERT INTO resources (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
                resource.id,
                resource.name,
                resource.description,
                resource.created_at,
            )
        except asyncpg.UniqueViolationError:
            return False
        return True

    async def page(self, pattern: str | None, limit: int, offset: int) -> tuple[list[ResourceOut], int]:
        where, matching = ("", []) if pattern is None else (f" WHERE {_MATCHES.format('$1', '$1')}", [pattern])
        last = len(matching)
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(
                f"SELECT id, name, description, created_at, updated_at FROM resources{where}"
                f" ORDER BY created_at, id LIMIT ${last + 1} OFFSET ${last + 2}",
                *matching,
                limit,
                offset,
            )
            total = await connection.fetchval(f"SELECT count(*) FROM resources{where}", *matching)
            dependencies: dict[uuid.UUID, list[uuid.UUID]] = {row[0]: [] for row in rows}
            if rows:
                edges = await connection.fetch(
                    "SELECT resource_id, dependency_id FROM resource_dependencies"
                    " WHERE resource_id = ANY($1::uuid[]) ORDER BY resource_id, position",
                    list(dependencies),
                )
                for source, target in edges:
                    dependencies[source].append(target)
        items = [ResourceOut(row[0], row[1], row[2], dependencies[row[0]], row[3], row[4]) for row in rows]
        return items, total

    async def close(self) -> None:
        await self._pool.close()


# What the project's search matches: the lower-cased name or description contains the text literally.
_MATCHES = "(lower(name) LIKE {} ESCAPE '\\' OR lower(description) LIKE {} ESCAPE '\\')"


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere, lower-cased."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def open_store(url: str) -> Store:
    """The store for a project-style URL: `sqlite+aiosqlite:///path` or `postgresql+asyncpg://...`."""
    if url.startswith("sqlite+aiosqlite:///"):
        return await SqliteStore.open(url.removeprefix("sqlite+aiosqlite:///"))
    return await PostgresStore.open(url.replace("postgresql+asyncpg://", "postgresql://", 1))


def create_app(telemetry: TelemetryConfig | None = None) -> FastAPI:
    """The floor app over the database FLOOR_DATABASE_URL names; `telemetry` is FastAPI's own, as it takes it.

    Left out, FastAPI's native telemetry is on by its defaults but finds no configured global provider, so it
    stays off (checked once per request).
    """
    stores: dict[str, Store] = {}
    encoder, decoder = msgspec.json.Encoder(), msgspec.json.Decoder(ResourceIn)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stores["store"] = await open_store(os.environ["FLOOR_DATABASE_URL"])
        yield
        await stores["store"].close()

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan, telemetry=telemetry)

    @app.get("/health/ready")
    async def ready() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def page(pattern: str | None, query: Mapping[str, str]) -> Response:
        limit, offset = query_number(query, "limit", 50, 1, 500), query_number(query, "offset", 0, 0, 2**53)
        if limit is None or offset is None:
            return Response(b'{"title":"Invalid input"}', status_code=422, media_type=JSON)
        items, total = await stores["store"].page(pattern, limit, offset)
        return Response(encoder.encode(ResourcePage(items, total, limit, offset)), media_type=JSON)

    @app.get("/resources")
    async def list_page(request: Request) -> Response:
        return await page(None, request.query_params)

    @app.get("/resources/search")
    async def search(request: Request) -> Response:
        text = request.query_params.get("q", "")
        if not 1 <= len(text) <= 200:
            return Response(b'{"title":"Invalid input"}', status_code=422, media_type=JSON)
        return await page(like_pattern(text), request.query_params)

    @app.get("/resources/{resource_id}")
    async def get(resource_id: str) -> Response:
        try:
            key = uuid.UUID(resource_id)
        except ValueError:
            return Response(b'{"title":"Invalid input"}', status_code=422, media_type=JSON)
        found = await stores["store"].get(key)
        if found is None:
            return Response(b'{"title":"Not found"}', status_code=404, media_type=JSON)
        return Response(encoder.encode(found), media_type=JSON)

    @app.post("/resources")
    async def create(request: Request) -> Response:
        try:
            body = decoder.decode(await request.body())
        except msgspec.ValidationError:
            return Response(b'{"title":"Invalid input"}', status_code=422, media_type=JSON)
        now = datetime.now(UTC)
        resource = ResourceOut(uuid.uuid4(), body.name.strip(), body.description, [], now, now)
        if not await stores["store"].create(resource):
            return Response(b'{"title":"Duplicate name"}', status_code=409, media_type=JSON)
        headers: dict[str, Any] = {"location": f"/resources/{resource.id}"}
        return Response(encoder.encode(resource), status_code=201, headers=headers, media_type=JSON)

    return app


def query_number(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int | None:
    """The integer query parameter `name` within [low, high], its default when absent, None when invalid."""
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        return None
    return value if low <= value <= high else None
