"""The FastAPI and the Litestar app answer one scripted sequence of requests identically, and document it alike."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import httpx

from adapters.sqla import create_engine
from adapters.sqla.schema import run_alembic

from .apps import Framework, serving
from .support import JSON, MAX_BODY_BYTES, MISSING_ID, OPERATIONS, encoded, json_body

UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TIME_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
RECORDED_HEADERS = ("content-type", "location", "allow")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and what the app answered, as text."""

    request: str
    status: int
    headers: dict[str, str]
    body: str


Send = Callable[..., Awaitable[httpx.Response]]


class Recorder:
    """Sends requests and keeps a transcript of the exchanges."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self.exchanges: list[Exchange] = []

    async def send(
        self, method: str, path: str, body: object = None, *, raw: bytes | None = None, content_type: str = ""
    ) -> httpx.Response:
        content = encoded(body) if body is not None else raw
        headers = {"content-type": content_type or "application/json"} if content is not None else {}
        response = await self._client.request(method, path, content=content, headers=headers)
        recorded = {name: response.headers[name] for name in RECORDED_HEADERS if name in response.headers}
        self.exchanges.append(Exchange(f"{method} {path}", response.status_code, recorded, response.text))
        return response


async def created_id(send: Send, body: JSON) -> str:
    resource_id: str = (await send("POST", "/resources", body)).json()["id"]
    return resource_id


async def get_and_head(send: Send, path: str) -> None:
    await send("GET", path)
    await send("HEAD", path)


async def script(send: Send) -> None:
    await get_and_head(send, "/health/live")
    await get_and_head(send, "/health/ready")
    alpha = await created_id(send, {"name": " alpha ", "description": "first\tone"})
    beta = await created_id(send, {"name": "beta", "dependencies": [alpha]})
    gamma = await created_id(send, {"name": "Gamma", "description": "100%", "dependencies": [beta, alpha]})
    await get_and_head(send, f"/resources/{alpha}")
    await get_and_head(send, "/resources?limit=2&offset=1")
    await get_and_head(send, "/resources/search?q=GAMMA")
    await get_and_head(send, f"/resources/{gamma}/dependencies?transitive=true")
    await send("PATCH", f"/resources/{alpha}", {"description": "changed"})
    await send("PATCH", f"/resources/{alpha}", {"name": "renamed", "dependencies": [gamma]})
    await send("PATCH", f"/resources/{beta}", {"dependencies": [beta]})
    await send("POST", "/resources", {"name": "beta"})
    await send("POST", "/resources", {"name": "delta", "dependencies": [alpha, MISSING_ID]})
    await send("POST", "/resources", {"name": 5, "description": 6, "extra": True})
    await send("POST", "/resources", raw=b'{"name": ')
    await send("POST", "/resources", raw=b"[" * 100_000)
    await send("POST", "/resources", raw=b" " * (MAX_BODY_BYTES + 1))
    await send("POST", "/resources", {"name": "plain"}, content_type="text/plain")
    await get_and_head(send, "/resources?limit=0&offset=-1")
    await get_and_head(send, "/resources/not-a-uuid")
    await get_and_head(send, f"/resources/{MISSING_ID}")
    await get_and_head(send, "/nope")
    await send("PUT", "/resources")
    await send("PATCH", "/resources/search")
    await send("OPTIONS", f"/resources/{alpha}")
    await send("OPTIONS", "/health/live")
    await get_and_head(send, "/resources/")
    await send("DELETE", f"/resources/{alpha}")
    await send("DELETE", f"/resources/{gamma}")
    await send("DELETE", f"/resources/{alpha}?cascade=true")
    await send("GET", "/resources")


SCRIPT_STATUSES = [200, 200, 200, 200, 201, 201, 201, 200, 200, 200, 200, 200, 200, 200, 200]
SCRIPT_STATUSES += [200, 409, 409, 409, 422, 422, 400, 400, 413, 415]
SCRIPT_STATUSES += [422, 422, 422, 422, 404, 404, 404, 404, 405, 405, 204, 204, 200, 200, 409, 204, 200, 200]


class Placeholders:
    """Replaces each distinct match of a pattern by `<kind-n>`, n counting first appearances."""

    def __init__(self, kind: str, pattern: re.Pattern[str]) -> None:
        self._kind = kind
        self._pattern = pattern
        self._seen: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        return self._pattern.sub(self._placeholder, text)

    def _placeholder(self, match: re.Match[str]) -> str:
        value = match.group().lower()
        return self._seen.setdefault(value, f"<{self._kind}-{len(self._seen) + 1}>")


def normalized(exchanges: list[Exchange]) -> list[Exchange]:
    """The transcript with ids and timestamps replaced by placeholders numbered in order of appearance."""
    ids, times = Placeholders("id", UUID_PATTERN), Placeholders("time", TIME_PATTERN)

    def clean(text: str) -> str:
        return times(ids(text))

    return [
        Exchange(clean(e.request), e.status, {name: clean(value) for name, value in e.headers.items()}, clean(e.body))
        for e in exchanges
    ]


async def drop_tables(database_url: str) -> None:
    """Undo every revision: the next app to start finds a database without a schema, as the first one did."""
    engine = create_engine(database_url)
    try:
        await run_alembic(engine, lambda commands: commands.downgrade("base"))
    finally:
        await engine.dispose()


async def transcript(framework: Framework, database_url: str) -> list[Exchange]:
    """The normalized transcript of the script against `framework`'s app on an empty database."""
    await drop_tables(database_url)
    async with serving(framework, database_url) as client:
        recorder = Recorder(client)
        await script(recorder.send)
    return normalized(recorder.exchanges)


async def test_both_apps_answer_the_script_identically(database_url: str) -> None:
    fastapi = await transcript("fastapi", database_url)
    litestar = await transcript("litestar", database_url)
    assert [exchange.status for exchange in fastapi] == SCRIPT_STATUSES
    assert fastapi == litestar
    heads = [(get, head) for get, head in pairwise(fastapi) if head.request.startswith("HEAD ")]
    assert len(heads) == 11
    for get, head in heads:
        assert head == Exchange(f"HEAD {get.request.removeprefix('GET ')}", get.status, get.headers, "")


def test_normalizing_numbers_ids_and_times_by_first_appearance() -> None:
    first, second = "6df04dd0-13c1-45d5-aed9-84ec4a26c9cf", "00dbf044-6352-4e4b-8bb7-dbc55e5fd4ff"
    exchanges = [
        Exchange(f"GET /resources/{second}", 200, {"location": f"/resources/{first}"}, f'["{first}"]'),
        Exchange("GET /", 200, {}, f'["{second}", "{first.upper()}", "2026-11-27T12:48:49.402569Z"]'),
    ]
    assert normalized(exchanges) == [
        Exchange("GET /resources/<id-1>", 200, {"location": "/resources/<id-2>"}, '["<id-2>"]'),
        Exchange("GET /", 200, {}, '["<id-1>", "<id-2>", "<time-1>"]'),
    ]


async def openapi_document(framework: Framework, database_url: str) -> JSON:
    async with serving(framework, database_url) as client:
        document: JSON = json_body(await client.get("/schema/openapi.json"), 200)
    return document


# What a schema says about the data it allows; titles, descriptions and examples are prose each framework words
# its own way, and where a framework places a schema ($ref or inline) does not change what it allows.
SCHEMA_KEYWORDS = (
    "type", "format", "enum", "const", "default", "required", "minLength", "maxLength", "minimum", "maximum",
    "minItems", "maxItems", "additionalProperties",
)  # fmt: skip


def schema_shape(schema: JSON, components: JSON) -> Any:
    """What `schema` allows, with every $ref resolved and the two spellings of a union made one."""
    if "$ref" in schema:
        return schema_shape(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    options = schema.get("anyOf", schema.get("oneOf"))
    if options is not None:
        shapes = [schema_shape(option, components) for option in options]
        if all(set(shape) == {"type"} for shape in shapes):
            return {"type": sorted({t for shape in shapes for t in shape["type"]})}
        return {"anyOf": sorted(shapes, key=repr)}
    shape: dict[str, Any] = {key: schema[key] for key in SCHEMA_KEYWORDS if key in schema}
    if "type" in shape:
        shape["type"] = sorted([shape["type"]] if isinstance(shape["type"], str) else shape["type"])
    if "required" in shape:
        shape["required"] = sorted(shape["required"])
    if "properties" in schema:
        shape["properties"] = {name: schema_shape(value, components) for name, value in schema["properties"].items()}
    if "items" in schema:
        shape["items"] = schema_shape(schema["items"], components)
    return shape


def described_operations(document: JSON) -> dict[tuple[str, str], JSON]:
    """Each operation as the document describes it: its name, parameters, body and every answer's schema."""
    components: JSON = document.get("components", {}).get("schemas", {})
    described = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {})
            described[method.upper(), path] = {
                "operationId": operation["operationId"],
                "summary": operation.get("summary"),
                "tags": operation.get("tags"),
                "parameters": sorted(
                    (p["name"], p["in"], p.get("required", False), repr(schema_shape(p["schema"], components)))
                    for p in operation.get("parameters", [])
                ),
                "requestBody": {
                    media_type: schema_shape(content["schema"], components)
                    for media_type, content in body.get("content", {}).items()
                },
                "responses": {
                    status: {
                        media_type: schema_shape(content["schema"], components)
                        for media_type, content in response.get("content", {}).items()
                    }
                    for status, response in operation["responses"].items()
                },
            }
    return described


async def test_both_apps_document_the_same_operations_parameters_and_schemas(sqlite_url: str) -> None:
    fastapi = await openapi_document("fastapi", sqlite_url)
    litestar = await openapi_document("litestar", sqlite_url)
    assert (fastapi["openapi"], litestar["openapi"]) == ("3.1.0", "3.1.0")
    described = described_operations(fastapi)
    assert {(method, path): op["operationId"] for (method, path), op in described.items()} == {
        (method, path): operation_id for method, path, operation_id in OPERATIONS
    }
    assert described == described_operations(litestar)


def test_the_description_of_operations_tells_apart_what_a_client_can_send() -> None:
    def document(limit_maximum: int) -> JSON:
        parameter = {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": limit_maximum}}
        operation = {"operationId": "list_resources", "parameters": [parameter], "responses": {}}
        return {"paths": {"/resources": {"get": operation}}}

    assert described_operations(document(500)) == described_operations(document(500))
    assert described_operations(document(500)) != described_operations(document(501))
