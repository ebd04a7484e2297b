"""The OpenAPI 3.1 document of the API, built from the route table and the msgspec Structs it names."""

from __future__ import annotations

from typing import Any

import msgspec

from entrypoints.http import dto
from entrypoints.http.problems import PROBLEM_MEDIA_TYPE
from entrypoints.http.routes import JSON_MEDIA_TYPE, ROUTES, ApiResponse, Route

_REF = "#/components/schemas/{name}"
_PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON body",
    404: "No resource has this id",
    409: "Conflict: duplicate name, circular dependency or dependents",
    413: "Request body too large",
    415: "Body is not JSON",
    422: "Invalid input",
    500: "Internal error",
    503: "Database unavailable",
}


def openapi_document(title: str, version: str) -> dict[str, Any]:
    """The whole document; only `title` differs between the apps."""
    structs: set[type[msgspec.Struct]] = {dto.Problem}
    for route in ROUTES:
        structs.update(s for s in (route.body, *route.responses.values()) if s is not None)
    _, components = msgspec.json.schema_components(sorted(structs, key=lambda s: s.__name__), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": components},
    }


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.endpoint.__name__,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": _parameters(route),
        "responses": {
            **{str(status): _response(struct) for status, struct in route.responses.items()},
            **{str(status): _problem_response(status) for status in _problem_statuses(route)},
        },
    }
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": _REF.format(name=route.body.__name__)}}},
        }
    return operation


def _parameters(route: Route) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if "{id}" in route.path:
        parameters.append(
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        )
    if route.query is not None:
        _, query_components = msgspec.json.schema_components([route.query], ref_template=_REF)
        schema = query_components[route.query.__name__]
        required = set(schema.get("required", ()))
        for name, property_schema in schema["properties"].items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": property_schema})
    return parameters


def _problem_statuses(route: Route) -> list[int]:
    statuses = set()
    if route.body is not None:
        statuses |= {400, 413, 415, 422}
    if route.query is not None or "{id}" in route.path:
        statuses.add(422)
    if "{id}" in route.path:
        statuses.add(404)
    if route.method in ("POST", "PATCH", "DELETE"):
        statuses.add(409)
    if route.path != "/health/live":
        statuses |= {500, 503}
    return sorted(statuses)


def _response(struct: type[msgspec.Struct] | None) -> dict[str, Any]:
    if struct is None:
        return {"description": "No content"}
    description = (struct.__doc__ or struct.__name__).strip()
    return {
        "description": description,
        "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": _REF.format(name=struct.__name__)}}},
    }


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": _PROBLEM_DESCRIPTIONS[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(name="Problem")}}},
    }


def openapi_response(title: str, version: str) -> ApiResponse:
    """The document as a response, encoded once."""
    return ApiResponse(200, msgspec.json.encode(openapi_document(title, version)))
