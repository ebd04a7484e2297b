"""What the path operations depend on: the service and the unit of work, and each part of the request, decoded.

msgspec, not pydantic, decodes the path id, the query and the body (`entrypoints/http/decoding.py`): the contract
answers with msgspec's messages, and names every invalid field of all three parts in one 422. A part's dependency
therefore returns a `Decoded` value, errors and all, rather than raising; the path operation raises for all its
parts at once (`ensure_valid`), or for its only part by taking `.value`. The `InvalidRequest` raised becomes the
422 in `errors.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import Depends, Path, Request

from core.service import ResourceService
from entrypoints.bootstrap import Runtime
from entrypoints.http import dto
from entrypoints.http.decoding import (
    Decoded,
    decode_body,
    decode_id,
    decode_query,
    ensure_json_content_type,
    read_body,
)
from ports.unit_of_work import UnitOfWork

InputT = TypeVar("InputT", bound=dto.Input)


def runtime_of(request: Request) -> Runtime:
    """The runtime that `create_app` keeps in the app's state."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_service(request: Request) -> ResourceService:
    return runtime_of(request).service


async def get_unit_of_work(request: Request) -> UnitOfWork:
    return runtime_of(request).unit_of_work


ServiceDep = Annotated[ResourceService, Depends(get_service)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]


async def decoded_id(id: Annotated[str, Path(json_schema_extra={"format": "uuid"})]) -> Decoded[UUID]:
    """The `{id}` of the path: any text to FastAPI, documented as a UUID, decoded as one by msgspec's rules."""
    return decode_id(id)


def decoded_query(input_type: type[InputT]) -> Callable[[Request], Awaitable[Decoded[InputT]]]:
    """A dependency that decodes the query parameters as `input_type` (the last of a repeated one counts)."""

    async def query(request: Request) -> Decoded[InputT]:
        return decode_query(dict(request.query_params), input_type)

    return query


def decoded_body(input_type: type[InputT]) -> Callable[[Request], Awaitable[Decoded[InputT]]]:
    """A dependency that reads a JSON body of at most `MAX_BODY_BYTES` and decodes it as `input_type`."""

    async def body(request: Request) -> Decoded[InputT]:
        ensure_json_content_type(request.headers.get("content-type"))
        limit = runtime_of(request).settings.max_body_bytes
        content = await read_body(request.stream(), request.headers.get("content-length"), limit)
        return decode_body(content, input_type)

    return body


ResourceId = Annotated[Decoded[UUID], Depends(decoded_id)]
PageParams = Annotated[Decoded[dto.PageQuery], Depends(decoded_query(dto.PageQuery))]
SearchParams = Annotated[Decoded[dto.SearchQuery], Depends(decoded_query(dto.SearchQuery))]
DeleteParams = Annotated[Decoded[dto.DeleteQuery], Depends(decoded_query(dto.DeleteQuery))]
DependenciesParams = Annotated[Decoded[dto.DependenciesQuery], Depends(decoded_query(dto.DependenciesQuery))]
CreateBody = Annotated[Decoded[dto.ResourceCreate], Depends(decoded_body(dto.ResourceCreate))]
UpdateBody = Annotated[Decoded[dto.ResourceUpdate], Depends(decoded_body(dto.ResourceUpdate))]
