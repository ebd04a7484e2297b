"""The API's routes, written once: each decodes, calls the service, encodes. Both apps mount these."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from core.model import PageRequest
from core.semantic_conventions import Operation
from core.service import ResourceService
from entrypoints.http import dto
from entrypoints.http.decoding import decode_body, decode_id, decode_query, ensure_valid
from ports.unit_of_work import UnitOfWork

JSON_MEDIA_TYPE = "application/json"
HttpMethod = Literal["GET", "POST", "PATCH", "DELETE"]
ServedMethod = Literal[HttpMethod, "HEAD"]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What a route needs of an HTTP request, whichever framework received it."""

    path_params: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """What a route answers, for the framework to send as it is."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    media_type: str = JSON_MEDIA_TYPE


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the routes work with."""

    service: ResourceService
    unit_of_work: UnitOfWork


Endpoint = Callable[[ApiContext, ApiRequest], Awaitable[ApiResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    """One operation of the API, described well enough to mount it and to document it."""

    method: HttpMethod
    path: str
    endpoint: Endpoint
    summary: str
    responses: Mapping[int, type[msgspec.Struct] | None]
    operation: Operation | None = None
    body: type[msgspec.Struct] | None = None
    query: type[msgspec.Struct] | None = None
    tag: str = "resources"


def _json(status: int, content: msgspec.Struct, headers: Mapping[str, str] | None = None) -> ApiResponse:
    return ApiResponse(status, msgspec.json.encode(content), headers or {})


async def create_resource(api: ApiContext, request: ApiRequest) -> ApiResponse:
    body = decode_body(request.body, dto.ResourceCreate)
    resource = await api.service.create(body.value.to_draft())
    return _json(201, dto.ResourceOut.of(resource), {"location": f"/resources/{resource.id}"})


async def get_resource(api: ApiContext, request: ApiRequest) -> ApiResponse:
    resource = await api.service.get(decode_id(request.path_params["id"]).value)
    return _json(200, dto.ResourceOut.of(resource))


async def list_resources(api: ApiContext, request: ApiRequest) -> ApiResponse:
    query = decode_query(request.query, dto.PageQuery).value
    return _json(200, dto.ResourcePage.of(await api.service.list_page(_page(query))))


async def search_resources(api: ApiContext, request: ApiRequest) -> ApiResponse:
    query = decode_query(request.query, dto.SearchQuery).value
    return _json(200, dto.ResourcePage.of(await api.service.search(query.q, _page(query))))


async def update_resource(api: ApiContext, request: ApiRequest) -> ApiResponse:
    resource_id, body = decode_id(request.path_params["id"]), decode_body(request.body, dto.ResourceUpdate)
    ensure_valid(resource_id, body)
    resource = await api.service.update(resource_id.value, body.value.to_changes())
    return _json(200, dto.ResourceOut.of(resource))


async def delete_resource(api: ApiContext, request: ApiRequest) -> ApiResponse:
    resource_id, query = decode_id(request.path_params["id"]), decode_query(request.query, dto.DeleteQuery)
    ensure_valid(resource_id, query)
    if query.value.cascade:
        return _json(200, dto.CascadeDeleted.of(await api.service.delete_cascade(resource_id.value)))
    await api.service.delete(resource_id.value)
    return ApiResponse(204)


async def list_dependencies(api: ApiContext, request: ApiRequest) -> ApiResponse:
    resource_id, query = decode_id(request.path_params["id"]), decode_query(request.query, dto.DependenciesQuery)
    ensure_valid(resource_id, query)
    resources = await api.service.dependencies(resource_id.value, transitive=query.value.transitive)
    return _json(200, dto.ResourceList([dto.ResourceOut.of(r) for r in resources]))


async def live(api: ApiContext, request: ApiRequest) -> ApiResponse:
    return _json(200, dto.Health("ok"))


async def ready(api: ApiContext, request: ApiRequest) -> ApiResponse:
    await api.unit_of_work.ping()
    return _json(200, dto.Health("ok"))


def _page(query: dto.PageQuery) -> PageRequest:
    return PageRequest(query.limit, query.offset)


# The search route comes before /resources/{id}: routers that match in order must see it first.
ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/resources",
        create_resource,
        "Create a resource",
        {201: dto.ResourceOut},
        operation="create",
        body=dto.ResourceCreate,
    ),
    Route("GET", "/resources", list_resources, "List resources", {200: dto.ResourcePage}, "list", query=dto.PageQuery),
    Route(
        "GET",
        "/resources/search",
        search_resources,
        "Search names and descriptions",
        {200: dto.ResourcePage},
        operation="search",
        query=dto.SearchQuery,
    ),
    Route("GET", "/resources/{id}", get_resource, "Get a resource", {200: dto.ResourceOut}, operation="get"),
    Route(
        "PATCH",
        "/resources/{id}",
        update_resource,
        "Change a resource",
        {200: dto.ResourceOut},
        operation="update",
        body=dto.ResourceUpdate,
    ),
    Route(
        "DELETE",
        "/resources/{id}",
        delete_resource,
        "Delete a resource, or with cascade=true it and all its dependents",
        {200: dto.CascadeDeleted, 204: None},
        operation="delete",
        query=dto.DeleteQuery,
    ),
    Route(
        "GET",
        "/resources/{id}/dependencies",
        list_dependencies,
        "List what a resource depends on",
        {200: dto.ResourceList},
        operation="dependencies",
        query=dto.DependenciesQuery,
    ),
    Route("GET", "/health/live", live, "The process is up", {200: dto.Health}, tag="health"),
    Route("GET", "/health/ready", ready, "The database answers", {200: dto.Health}, tag="health"),
)

PATHS: tuple[str, ...] = tuple(dict.fromkeys(route.path for route in ROUTES))
# Fixed documents, each answered as it is with a GET route's methods: the OpenAPI document, built by each app
# itself (its title names the framework), and the interactive docs page with the only files it loads (docs_page.py).
OPENAPI_PATH = "/schema/openapi.json"
DOCS_PATH = "/docs"
DOCS_ASSET_PATHS: tuple[str, ...] = ("/docs/init.js", "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js")
DOCUMENT_PATHS: tuple[str, ...] = (OPENAPI_PATH, DOCS_PATH, *DOCS_ASSET_PATHS)
DOCUMENT_METHODS: tuple[ServedMethod, ...] = ("GET", "HEAD")
# Every path some handler serves, each of which answers OPTIONS.
SERVED_PATHS: tuple[str, ...] = (*PATHS, *DOCUMENT_PATHS)
_PATH_PATTERNS = {path: re.compile("^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(path)) + "$") for path in PATHS}


def normalized_path(path: str) -> str:
    """The path with repeated slashes collapsed and no trailing slash, as both apps route it."""
    return "/" + re.sub("/{2,}", "/", path).strip("/")


def served_methods(route: Route) -> tuple[ServedMethod, ...]:
    """The methods a route answers: a GET route answers HEAD too (RFC 9110 §9.3.2)."""
    return (route.method, "HEAD") if route.method == "GET" else (route.method,)


def methods_at(path: str) -> set[str]:
    """The methods some route serves at a concrete path; a static path shadows the templates it also matches."""
    path = normalized_path(path)
    if path in DOCUMENT_PATHS:
        return set(DOCUMENT_METHODS)
    if path in PATHS:
        return _served_by(route for route in ROUTES if route.path == path)
    return _served_by(route for route in ROUTES if _PATH_PATTERNS[route.path].match(path))


def methods_shadowed_at(path: str) -> set[str]:
    """Methods that a template route serves at this static path but the path itself does not (so: 405)."""
    templated = _served_by(r for r in ROUTES if r.path != path and _PATH_PATTERNS[r.path].match(path))
    return templated - methods_at(path)


def _served_by(routes: Iterable[Route]) -> set[str]:
    return {method for route in routes for method in served_methods(route)}


def allow_header(path: str) -> str:
    """The `Allow` header for a concrete path: its methods and OPTIONS."""
    return ", ".join(sorted(methods_at(path) | {"OPTIONS"}))
