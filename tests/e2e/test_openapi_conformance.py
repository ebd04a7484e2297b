"""Responses match the schema /schema/openapi.json gives for their path, method, status and media type.

jsonschema is not installed, so `violations` checks the subset of JSON Schema the document uses: $ref, anyOf,
type, format uuid, required, properties (and no undocumented ones) and items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from .support import JSON, MAX_BODY_BYTES, MISSING_ID, create, encoded, json_body

REF_PREFIX = "#/components/schemas/"
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def has_type(value: Any, json_type: str) -> bool:
    if isinstance(value, bool) and json_type in ("integer", "number"):
        return False
    return isinstance(value, JSON_TYPES[json_type])


def is_uuid(value: str) -> bool:
    try:
        return str(UUID(value)) == value
    except ValueError:
        return False


def violations(value: Any, schema: JSON, components: JSON, where: str = "$") -> list[str]:
    """How `value` breaks `schema`; empty when it conforms."""
    if "$ref" in schema:
        return violations(value, components[schema["$ref"].removeprefix(REF_PREFIX)], components, where)
    if "anyOf" in schema:
        if all(violations(value, option, components, where) for option in schema["anyOf"]):
            return [f"{where}: matches no option of anyOf"]
        return []
    types = schema.get("type")
    if types is not None and not any(has_type(value, t) for t in ([types] if isinstance(types, str) else types)):
        return [f"{where}: {type(value).__name__} is not {types}"]
    if schema.get("format") == "uuid" and isinstance(value, str) and not is_uuid(value):
        return [f"{where}: {value!r} is not a canonical uuid"]
    if isinstance(value, dict):
        return _object_violations(value, schema, components, where)
    if isinstance(value, list) and "items" in schema:
        return [
            v for i, item in enumerate(value) for v in violations(item, schema["items"], components, f"{where}[{i}]")
        ]
    return []


def _object_violations(value: dict[str, Any], schema: JSON, components: JSON, where: str) -> list[str]:
    properties: JSON = schema.get("properties", {})
    found = [f"{where}: missing required {key!r}" for key in schema.get("required", []) if key not in value]
    for key, item in value.items():
        if key in properties:
            found += violations(item, properties[key], components, f"{where}.{key}")
        else:
            found.append(f"{where}: undocumented property {key!r}")
    return found


def test_the_schema_check_finds_what_breaks_a_schema() -> None:
    components = {
        "Thing": {
            "type": "object",
            "properties": {"id": {"type": "string", "format": "uuid"}, "n": {"type": "integer"}},
            "required": ["id", "n"],
        },
        "Things": {"type": "array", "items": {"anyOf": [{"$ref": "#/components/schemas/Thing"}, {"type": "null"}]}},
    }
    schema = {"$ref": "#/components/schemas/Things"}
    good = {"id": str(UUID(int=1)), "n": 1}
    assert violations([good, None], schema, components) == []
    assert violations([{"id": "x", "n": True, "extra": 1}, {}], schema, components) == [
        "$[0]: matches no option of anyOf",
        "$[1]: matches no option of anyOf",
    ]
    assert violations({"id": "X", "n": 1.5, "extra": 1}, components["Thing"], components) == [
        "$.id: 'X' is not a canonical uuid",
        "$.n: float is not integer",
        "$: undocumented property 'extra'",
    ]
    assert violations({}, components["Thing"], components) == ["$: missing required 'id'", "$: missing required 'n'"]


@dataclass(frozen=True, slots=True)
class Sample:
    """A response to check against the document's entry for its route (`path` as the document spells it)."""

    label: str
    path: str
    response: httpx.Response

    @property
    def method(self) -> str:
        return self.response.request.method.lower()


def mismatches(sample: Sample, document: JSON) -> list[str]:
    """How `sample` differs from what the document promises for its path, method and status."""
    responses: JSON = document["paths"][sample.path][sample.method]["responses"]
    documented = responses.get(str(sample.response.status_code))
    if documented is None:
        return [f"status {sample.response.status_code} is not documented"]
    if not sample.response.content:
        return [] if "content" not in documented else ["no body, but the document promises one"]
    media_type = sample.response.headers["content-type"]
    if media_type not in documented.get("content", {}):
        return [f"{media_type} is not documented"]
    schema = documented["content"][media_type]["schema"]
    return violations(sample.response.json(), schema, document["components"]["schemas"])


async def post(client: httpx.AsyncClient, body: bytes, content_type: str = "application/json") -> httpx.Response:
    return await client.post("/resources", content=body, headers={"content-type": content_type})


async def samples(client: httpx.AsyncClient) -> list[Sample]:
    """One response of every success shape and every problem kind."""
    base = await create(client, "base")
    item = "/resources/{id}"
    created = await post(client, encoded({"name": "top", "dependencies": [base["id"]]}))
    top = f"/resources/{created.json()['id']}"
    base_path = f"/resources/{base['id']}"
    return [
        Sample("created resource", "/resources", created),
        Sample("resource", item, await client.get(top)),
        Sample("changed resource", item, await client.patch(top, json={"description": "changed"})),
        Sample("page", "/resources", await client.get("/resources")),
        Sample("search page", "/resources/search", await client.get("/resources/search", params={"q": "TOP"})),
        Sample("list", "/resources/{id}/dependencies", await client.get(f"{top}/dependencies?transitive=true")),
        Sample("live", "/health/live", await client.get("/health/live")),
        Sample("ready", "/health/ready", await client.get("/health/ready")),
        Sample("has-dependents", item, await client.delete(base_path)),
        Sample("circular-dependency", item, await client.patch(base_path, json={"dependencies": [base["id"]]})),
        Sample("duplicate-name", "/resources", await post(client, encoded({"name": "top"}))),
        Sample("validation-error", "/resources", await post(client, encoded({"name": 5, "extra": 1}))),
        Sample(
            "unknown-dependencies",
            "/resources",
            await post(client, encoded({"name": "x", "dependencies": [MISSING_ID]})),
        ),
        Sample("resource-not-found", item, await client.get(f"/resources/{MISSING_ID}")),
        Sample("malformed-body", "/resources", await post(client, b"{")),
        Sample("payload-too-large", "/resources", await post(client, b" " * (MAX_BODY_BYTES + 1))),
        Sample("unsupported-media-type", "/resources", await post(client, b"{}", "text/plain")),
        Sample("cascade result", item, await client.delete(base_path, params={"cascade": "true"})),
        Sample("no content", item, await client.delete(f"/resources/{(await create(client, 'leaf'))['id']}")),
    ]


EXPECTED_STATUSES = {
    "created resource": 201,
    "resource": 200,
    "changed resource": 200,
    "page": 200,
    "search page": 200,
    "list": 200,
    "live": 200,
    "ready": 200,
    "has-dependents": 409,
    "circular-dependency": 409,
    "duplicate-name": 409,
    "validation-error": 422,
    "unknown-dependencies": 422,
    "resource-not-found": 404,
    "malformed-body": 400,
    "payload-too-large": 413,
    "unsupported-media-type": 415,
    "cascade result": 200,
    "no content": 204,
}


async def test_responses_conform_to_the_openapi_document(client: httpx.AsyncClient) -> None:
    document: JSON = json_body(await client.get("/schema/openapi.json"), 200)
    checked = await samples(client)
    assert {s.label: s.response.status_code for s in checked} == EXPECTED_STATUSES
    assert {s.label: mismatches(s, document) for s in checked} == {s.label: [] for s in checked}
