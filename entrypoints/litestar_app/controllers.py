"""The API's handlers: each decodes its request, calls the service and answers a Struct.

Litestar routes HEAD only to a handler that names it, so each GET handler has a HEAD twin (`head_of`), left out
of the OpenAPI document; the body of its answer is dropped on the way out (`hooks.py`).
"""

from __future__ import annotations

from litestar import Controller, HttpMethod, Response, delete, get, patch, post, route
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import SkipValidation
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from core.model import PageRequest
from core.service import ResourceService
from entrypoints.http import dto
from entrypoints.http.decoding import decode_id, ensure_valid
from entrypoints.litestar_app.openapi import described_operation, problems
from entrypoints.litestar_app.request_parts import AnyRequest, ResourceId, json_body_of, query_of
from ports.unit_of_work import UnitOfWork

# The runtime's service, injected by its name (`dependencies.py`).
Service = NamedDependency[ResourceService]
BODY_PROBLEMS = (400, 413, 415, 422)
SERVER_PROBLEMS = (500, 503)


def head_of(handler: HTTPRouteHandler) -> HTTPRouteHandler:
    """A HEAD handler that runs `handler`'s function at its paths (with the options of its layers, not its own)."""
    return route(sorted(handler.paths), http_method=HttpMethod.HEAD, include_in_schema=False)(handler.fn)


class ResourceController(Controller):
    path = "/resources"
    tags = ("resources",)

    @post(
        summary="Create a resource",
        operation_class=described_operation(body=dto.ResourceCreate),
        responses=problems(*BODY_PROBLEMS, 409, *SERVER_PROBLEMS),
    )
    async def create_resource(self, service: Service, request: AnyRequest) -> Response[dto.ResourceOut]:
        draft = await json_body_of(request, dto.ResourceCreate)
        resource = await service.create(draft.value.to_draft())
        return Response(
            dto.ResourceOut.of(resource),
            status_code=HTTP_201_CREATED,
            headers={"location": f"/resources/{resource.id}"},
        )

    @get(
        summary="List resources",
        operation_class=described_operation(query=dto.PageQuery),
        responses=problems(422, *SERVER_PROBLEMS),
    )
    async def list_resources(self, service: Service, request: AnyRequest) -> dto.ResourcePage:
        query = query_of(request, dto.PageQuery).value
        return dto.ResourcePage.of(await service.list_page(page_request(query)))

    @get(
        "/search",
        summary="Search names and descriptions",
        operation_class=described_operation(query=dto.SearchQuery),
        responses=problems(422, *SERVER_PROBLEMS),
    )
    async def search_resources(self, service: Service, request: AnyRequest) -> dto.ResourcePage:
        query = query_of(request, dto.SearchQuery).value
        return dto.ResourcePage.of(await service.search(query.q, page_request(query)))

    @get(
        "/{id:str}",
        summary="Get a resource",
        operation_class=described_operation(),
        responses=problems(404, 422, *SERVER_PROBLEMS),
    )
    async def get_resource(self, service: Service, id: ResourceId) -> dto.ResourceOut:
        return dto.ResourceOut.of(await service.get(decode_id(id).value))

    @patch(
        "/{id:str}",
        summary="Change a resource",
        operation_class=described_operation(body=dto.ResourceUpdate),
        responses=problems(*BODY_PROBLEMS, 404, 409, *SERVER_PROBLEMS),
    )
    async def update_resource(self, service: Service, id: ResourceId, request: AnyRequest) -> dto.ResourceOut:
        resource_id, changes = decode_id(id), await json_body_of(request, dto.ResourceUpdate)
        ensure_valid(resource_id, changes)
        return dto.ResourceOut.of(await service.update(resource_id.value, changes.value.to_changes()))

    @delete(
        "/{id:str}",
        summary="Delete a resource, or with cascade=true it and all its dependents",
        status_code=HTTP_200_OK,
        operation_class=described_operation(query=dto.DeleteQuery),
        responses={
            HTTP_200_OK: ResponseSpec(dto.CascadeDeleted, description="The ids deleted", generate_examples=False),
            HTTP_204_NO_CONTENT: ResponseSpec(None, description="No content"),
            **problems(404, 409, 422, *SERVER_PROBLEMS),
        },
    )
    async def delete_resource(
        self, service: Service, id: ResourceId, request: AnyRequest
    ) -> Response[dto.CascadeDeleted | None]:
        resource_id, query = decode_id(id), query_of(request, dto.DeleteQuery)
        ensure_valid(resource_id, query)
        if query.value.cascade:
            return Response(dto.CascadeDeleted.of(await service.delete_cascade(resource_id.value)))
        await service.delete(resource_id.value)
        return Response(None, status_code=HTTP_204_NO_CONTENT)

    @get(
        "/{id:str}/dependencies",
        summary="List what a resource depends on",
        operation_class=described_operation(query=dto.DependenciesQuery),
        responses=problems(404, 422, *SERVER_PROBLEMS),
    )
    async def list_dependencies(self, service: Service, id: ResourceId, request: AnyRequest) -> dto.ResourceList:
        resource_id, query = decode_id(id), query_of(request, dto.DependenciesQuery)
        ensure_valid(resource_id, query)
        resources = await service.dependencies(resource_id.value, transitive=query.value.transitive)
        return dto.ResourceList([dto.ResourceOut.of(resource) for resource in resources])

    list_resources_to_head = head_of(list_resources)
    search_resources_to_head = head_of(search_resources)
    get_resource_to_head = head_of(get_resource)
    list_dependencies_to_head = head_of(list_dependencies)


class HealthController(Controller):
    path = "/health"
    tags = ("health",)

    @get("/live", summary="The process is up")
    async def live(self) -> dto.Health:
        return dto.Health("ok")

    # SkipValidation: Litestar checks an injected value with isinstance, which a Protocol does not support.
    @get("/ready", summary="The database answers", responses=problems(*SERVER_PROBLEMS))
    async def ready(self, unit_of_work: NamedDependency[SkipValidation[UnitOfWork]]) -> dto.Health:
        await unit_of_work.ping()
        return dto.Health("ok")

    live_to_head = head_of(live)
    ready_to_head = head_of(ready)


def page_request(query: dto.PageQuery) -> PageRequest:
    return PageRequest(query.limit, query.offset)
