"""What the e2e tests share: expected problem bodies and small request helpers."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import httpx

JSON = dict[str, Any]
JSON_MEDIA_TYPE = "application/json"
PROBLEM_MEDIA_TYPE = "application/problem+json"
MISSING_ID = "00000000-0000-4000-8000-000000000000"
MAX_BODY_BYTES = 1024 * 1024

# The API's operations as the contract names them: (method, path template, operationId). Each app documents
# exactly these in its own OpenAPI document.
OPERATIONS: tuple[tuple[str, str, str], ...] = (
    ("POST", "/resources", "create_resource"),
    ("GET", "/resources", "list_resources"),
    ("GET", "/resources/search", "search_resources"),
    ("GET", "/resources/{id}", "get_resource"),
    ("PATCH", "/resources/{id}", "update_resource"),
    ("DELETE", "/resources/{id}", "delete_resource"),
    ("GET", "/resources/{id}/dependencies", "list_dependencies"),
    ("GET", "/health/live", "live"),
    ("GET", "/health/ready", "ready"),
)
ROUTE_TEMPLATES: frozenset[str] = frozenset(path for _method, path, _operation_id in OPERATIONS)


def uuid_n(n: int) -> str:
    """A fixed, valid UUID that names no resource."""
    return str(UUID(int=n))


def encoded(value: object) -> bytes:
    """`value` as a JSON body."""
    return json.dumps(value).encode()


def problem(status: int, slug: str, title: str, detail: str, **extensions: object) -> JSON:
    """The exact problem details body the API answers with."""
    return {
        "type": f"urn:resource-service:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extensions,
    }


def invalid(*errors: tuple[str, str]) -> JSON:
    """The 422 validation problem naming these (field, message) pairs in this order."""
    return problem(
        422,
        "validation-error",
        "Invalid input",
        "one or more fields are invalid",
        errors=[{"field": field, "message": message} for field, message in errors],
    )


def not_found(resource_id: str) -> JSON:
    """The 404 problem for a resource id that names nothing."""
    return problem(404, "resource-not-found", "Resource not found", f"resource {resource_id} does not exist")


def unknown_dependencies(*unknown_ids: str) -> JSON:
    """The 422 problem for dependencies that do not exist."""
    detail = f"{len(unknown_ids)} dependency id(s) do not exist"
    return problem(422, "unknown-dependencies", "Unknown dependencies", detail, unknown_ids=list(unknown_ids))


def circular(*cycle: str) -> JSON:
    """The 409 problem for a change that would close `cycle` (first id repeated at the end)."""
    detail = f"the change would close a cycle of {len(cycle) - 1} resource(s)"
    return problem(409, "circular-dependency", "Circular dependency", detail, cycle=list(cycle))


def has_dependents(resource_id: str, *dependents: str) -> JSON:
    """The 409 problem for deleting a resource that others depend on directly."""
    detail = f"{len(dependents)} resource(s) depend on resource {resource_id}"
    return problem(409, "has-dependents", "Resource has dependents", detail, dependents=list(dependents))


def duplicate_name(name: str) -> JSON:
    """The 409 problem for a name another resource already has."""
    return problem(409, "duplicate-name", "Duplicate name", f"a resource named {name!r} already exists")


def assert_problem(response: httpx.Response, expected: JSON) -> None:
    """`response` is exactly the problem `expected`, sent as application/problem+json."""
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, response.text
    assert (response.status_code, response.json()) == (expected["status"], expected)


def json_body(response: httpx.Response, status: int) -> Any:
    """The JSON body of a successful `response`, after checking its status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_MEDIA_TYPE
    return response.json()


async def create(
    client: httpx.AsyncClient, name: str, *, description: str | None = None, dependencies: tuple[str, ...] = ()
) -> JSON:
    """Create a resource and return its body."""
    payload: JSON = {"name": name, "dependencies": list(dependencies)}
    if description is not None:
        payload["description"] = description
    body: JSON = json_body(await client.post("/resources", json=payload), 201)
    return body


async def fetch(client: httpx.AsyncClient, resource_id: str) -> JSON:
    """The stored resource with this id."""
    body: JSON = json_body(await client.get(f"/resources/{resource_id}"), 200)
    return body


async def everything(client: httpx.AsyncClient) -> JSON:
    """The whole first page of resources: a snapshot of the database as the API sees it."""
    body: JSON = json_body(await client.get("/resources", params={"limit": 500}), 200)
    return body


def ids(resources: list[JSON]) -> list[str]:
    """The ids of these resource bodies, in order."""
    return [str(resource["id"]) for resource in resources]
