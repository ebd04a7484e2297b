"""The API's path operations: the resources, the health probes, and the docs page's files.

Each path operation decodes (through its dependencies), calls the service, and returns the answer as a response.
A GET also answers HEAD: FastAPI, unlike Starlette, adds no HEAD route by itself, so each GET path operation has a
HEAD one stacked on it, left out of the OpenAPI document; the app sends HEAD answers without body (`middleware.py`).
The HEAD decorator is the outer one, so the HEAD route comes after the GET route, which a GET then finds first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, HTTPException, Response, status

from core.model import PageRequest
from entrypoints.fastapi_app.dependencies import (
    CreateBody,
    DeleteParams,
    DependenciesParams,
    PageParams,
    ResourceId,
    SearchParams,
    ServiceDep,
    UnitOfWorkDep,
    UpdateBody,
)
from entrypoints.fastapi_app.openapi import NO_CONTENT, json_body, problems, query_parameters, success
from entrypoints.fastapi_app.responses import MsgspecJSONResponse
from entrypoints.http import dto
from entrypoints.http.decoding import ensure_valid
from entrypoints.http.docs_page import Document, docs_documents

resources = APIRouter(prefix="/resources", tags=["resources"], default_response_class=MsgspecJSONResponse)
health = APIRouter(prefix="/health", tags=["health"], default_response_class=MsgspecJSONResponse)


@resources.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a resource",
    responses={**success(201, dto.ResourceOut), **problems(400, 409, 413, 415, 422, 500, 503)},
    openapi_extra=json_body(dto.ResourceCreate),
)
async def create_resource(body: CreateBody, service: ServiceDep) -> Response:
    resource = await service.create(body.value.to_draft())
    return MsgspecJSONResponse(
        dto.ResourceOut.of(resource),
        status_code=status.HTTP_201_CREATED,
        headers={"location": f"/resources/{resource.id}"},
    )


@resources.head("", include_in_schema=False)
@resources.get(
    "",
    summary="List resources",
    responses={**success(200, dto.ResourcePage), **problems(422, 500, 503)},
    openapi_extra=query_parameters(dto.PageQuery),
)
async def list_resources(params: PageParams, service: ServiceDep) -> Response:
    page = await service.list_page(_page(params.value))
    return MsgspecJSONResponse(dto.ResourcePage.of(page))


# Before /resources/{id}, which Starlette would otherwise match for "search".
@resources.head("/search", include_in_schema=False)
@resources.get(
    "/search",
    summary="Search names and descriptions",
    responses={**success(200, dto.ResourcePage), **problems(422, 500, 503)},
    openapi_extra=query_parameters(dto.SearchQuery),
)
async def search_resources(params: SearchParams, service: ServiceDep) -> Response:
    query = params.value
    return MsgspecJSONResponse(dto.ResourcePage.of(await service.search(query.q, _page(query))))


# Starlette takes the first route that matches path and method, so PATCH and DELETE /resources/search would reach
# the id's path operations below, with "search" for an id. This route answers them first, as a method the path does
# not serve (405): it serves none itself, so `Allow` leaves it out (`errors.allowed_methods`).
@resources.api_route("/search", methods=["PATCH", "DELETE"], include_in_schema=False)
async def refuse_method() -> Response:
    raise HTTPException(status.HTTP_405_METHOD_NOT_ALLOWED)


@resources.head("/{id}", include_in_schema=False)
@resources.get(
    "/{id}",
    summary="Get a resource",
    responses={**success(200, dto.ResourceOut), **problems(404, 422, 500, 503)},
)
async def get_resource(resource_id: ResourceId, service: ServiceDep) -> Response:
    return MsgspecJSONResponse(dto.ResourceOut.of(await service.get(resource_id.value)))


@resources.patch(
    "/{id}",
    summary="Change a resource",
    responses={**success(200, dto.ResourceOut), **problems(400, 404, 409, 413, 415, 422, 500, 503)},
    openapi_extra=json_body(dto.ResourceUpdate),
)
async def update_resource(resource_id: ResourceId, body: UpdateBody, service: ServiceDep) -> Response:
    ensure_valid(resource_id, body)
    resource = await service.update(resource_id.value, body.value.to_changes())
    return MsgspecJSONResponse(dto.ResourceOut.of(resource))


@resources.delete(
    "/{id}",
    summary="Delete a resource, or with cascade=true it and all its dependents",
    responses={**success(200, dto.CascadeDeleted), **NO_CONTENT, **problems(404, 409, 422, 500, 503)},
    openapi_extra=query_parameters(dto.DeleteQuery),
)
async def delete_resource(resource_id: ResourceId, params: DeleteParams, service: ServiceDep) -> Response:
    ensure_valid(resource_id, params)
    if params.value.cascade:
        return MsgspecJSONResponse(dto.CascadeDeleted.of(await service.delete_cascade(resource_id.value)))
    await service.delete(resource_id.value)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@resources.head("/{id}/dependencies", include_in_schema=False)
@resources.get(
    "/{id}/dependencies",
    summary="List what a resource depends on",
    responses={**success(200, dto.ResourceList), **problems(404, 422, 500, 503)},
    openapi_extra=query_parameters(dto.DependenciesQuery),
)
async def list_dependencies(resource_id: ResourceId, params: DependenciesParams, service: ServiceDep) -> Response:
    ensure_valid(resource_id, params)
    found = await service.dependencies(resource_id.value, transitive=params.value.transitive)
    return MsgspecJSONResponse(dto.ResourceList([dto.ResourceOut.of(resource) for resource in found]))


@health.head("/live", include_in_schema=False)
@health.get("/live", summary="The process is up", responses=success(200, dto.Health))
async def live() -> Response:
    return MsgspecJSONResponse(dto.Health("ok"))


@health.head("/ready", include_in_schema=False)
@health.get("/ready", summary="The database answers", responses={**success(200, dto.Health), **problems(500, 503)})
async def ready(unit_of_work: UnitOfWorkDep) -> Response:
    await unit_of_work.ping()
    return MsgspecJSONResponse(dto.Health("ok"))


def docs_page() -> APIRouter:
    """The interactive docs page and the files it loads, each served as it is (`docs_page.py`)."""
    router = APIRouter(include_in_schema=False)
    for path, document in docs_documents().items():
        router.add_api_route(path, _serving(document), methods=["GET", "HEAD"])
    return router


def _serving(document: Document) -> Callable[[], Awaitable[Response]]:
    async def docs_file() -> Response:
        return Response(document.body, headers=document.headers)

    return docs_file


def _page(query: dto.PageQuery) -> PageRequest:
    return PageRequest(query.limit, query.offset)
