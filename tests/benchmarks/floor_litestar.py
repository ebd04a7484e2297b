"""The floor on Litestar: `floor.py`'s four routes, stores and JSON bytes, served by Litestar instead of FastAPI.

What the peers suite instruments with Litestar's own OpenTelemetry plugin. Each handler returns the floor's bytes
as they are, with no schema, no DTO and no OpenAPI document; `FLOOR_DATABASE_URL` names the database, as for
the FastAPI floor.

    python -m uvicorn tests.benchmarks.floor_litestar:create_app --factory
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, Request, get, post
from litestar.plugins import PluginProtocol
from litestar.response import Response

from .floor import JSON, ResourceIn, ResourceOut, ResourcePage, Store, like_pattern, open_store, query_number

INVALID = b'{"title":"Invalid input"}'


def create_app(plugins: Sequence[PluginProtocol] = ()) -> Litestar:
    """The Litestar floor over the database FLOOR_DATABASE_URL names, with `plugins` (none: uninstrumented)."""
    stores: dict[str, Store] = {}
    encoder, decoder = msgspec.json.Encoder(), msgspec.json.Decoder(ResourceIn)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        stores["store"] = await open_store(os.environ["FLOOR_DATABASE_URL"])
        yield
        await stores["store"].close()

    def answer(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
        return Response(body, status_code=status, media_type=JSON, headers=headers)

    @get("/health/ready")
    async def ready() -> Response[bytes]:
        return answer(b'{"status":"ok"}')

    async def page(pattern: str | None, query: Mapping[str, str]) -> Response[bytes]:
        limit, offset = query_number(query, "limit", 50, 1, 500), query_number(query, "offset", 0, 0, 2**53)
        if limit is None or offset is None:
            return answer(INVALID, 422)
        items, total = await stores["store"].page(pattern, limit, offset)
        return answer(encoder.encode(ResourcePage(items, total, limit, offset)))

    @get("/resources")
    async def list_page(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await page(None, request.query_params)

    @get("/resources/search")
    async def search(request: Request[Any, Any, Any]) -> Response[bytes]:
        text = request.query_params.get("q", "")
        if not 1 <= len(text) <= 200:
            return answer(INVALID, 422)
        return await page(like_pattern(text), request.query_params)

    @get("/resources/{resource_id:str}")
    async def read(resource_id: str) -> Response[bytes]:
        try:
            key = uuid.UUID(resource_id)
        except ValueError:
            return answer(INVALID, 422)
        found = await stores["store"].get(key)
        if found is None:
            return answer(b'{"title":"Not found"}', 404)
        return answer(encoder.encode(found))

    @post("/resources")
    async def create(body: bytes) -> Response[bytes]:
        try:
            draft = decoder.decode(body)
        except msgspec.ValidationError:
            return answer(INVALID, 422)
        now = datetime.now(UTC)
        resource = ResourceOut(uuid.uuid4(), draft.name.strip(), draft.description, [], now, now)
        if not await stores["store"].create(resource):
            return answer(b'{"title":"Duplicate name"}', 409)
        return answer(encoder.encode(resource), 201, {"location": f"/resources/{resource.id}"})

    return Litestar(
        route_handlers=[ready, list_page, search, read, create],
        lifespan=[lifespan],
        plugins=list(plugins),
        openapi_config=None,
        logging_config=None,
    )
