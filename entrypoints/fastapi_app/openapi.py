"""What FastAPI's OpenAPI document cannot derive by itself here: the msgspec Structs the API reads and writes.

FastAPI documents the pydantic models and the parameters it validates. This API's bodies and queries are msgspec
Structs that dependencies decode (`dependencies.py`), so each path operation documents them itself, as FastAPI's
docs do for a body read by hand: its answers in `responses=` and its query or body in `openapi_extra=`, each
pointing at a schema under `components/schemas`, which `add_msgspec_schemas` fills from the Structs.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.routing import APIRoute

from entrypoints.http import dto
from entrypoints.http.problems import PROBLEM_DESCRIPTIONS, PROBLEM_MEDIA_TYPE

Responses = dict[int | str, dict[str, Any]]
JSON_MEDIA_TYPE = "application/json"
_REF_TEMPLATE = "#/components/schemas/{name}"
_DOCUMENTED: tuple[type[msgspec.Struct], ...] = (
    dto.ResourceCreate,
    dto.ResourceUpdate,
    dto.ResourceOut,
    dto.ResourcePage,
    dto.ResourceList,
    dto.CascadeDeleted,
    dto.Health,
    dto.Problem,
)


def operation_id(route: APIRoute) -> str:
    """A path operation's operationId: the name of its function (`create_resource`), as the contract names it."""
    return route.name


def success(status: int, struct: type[msgspec.Struct]) -> Responses:
    """A success answer with a `struct` body, described by the Struct's docstring."""
    description = (struct.__doc__ or struct.__name__).strip()
    return {status: {"description": description, "content": {JSON_MEDIA_TYPE: {"schema": _ref(struct)}}}}


NO_CONTENT: Responses = {204: {"description": "No content"}}


def problems(*statuses: int) -> Responses:
    """The problem documents an operation may answer with, each an `application/problem+json` Problem."""
    return {
        status: {
            "description": PROBLEM_DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _ref(dto.Problem)}},
        }
        for status in statuses
    }


def json_body(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """`openapi_extra` for a JSON body that a dependency reads and decodes as `struct`."""
    return {"requestBody": {"required": True, "content": {JSON_MEDIA_TYPE: {"schema": _ref(struct)}}}}


def query_parameters(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """`openapi_extra` for the query parameters that a dependency decodes as `struct`: one per field."""
    schema = _struct_schema(struct)
    required = set(schema.get("required", ()))
    parameters = [
        {"name": name, "in": "query", "required": name in required, "schema": property_schema}
        for name, property_schema in schema["properties"].items()
    ]
    return {"parameters": parameters}


def add_msgspec_schemas(app: FastAPI) -> None:
    """Extend `app.openapi()` with the Structs' schemas, as FastAPI's "Extending OpenAPI" recipe does."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {}).update(_component_schemas())
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _ref(struct: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": _REF_TEMPLATE.format(name=struct.__name__)}


def _struct_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    _, components = msgspec.json.schema_components([struct], ref_template=_REF_TEMPLATE)
    schema: dict[str, Any] = components[struct.__name__]
    return schema


@cache
def _component_schemas() -> Mapping[str, Any]:
    _, components = msgspec.json.schema_components(_DOCUMENTED, ref_template=_REF_TEMPLATE)
    return components
