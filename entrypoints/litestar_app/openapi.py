"""Litestar's OpenAPI document of the API, with msgspec's schemas and what the handlers decode themselves.

Litestar describes each operation from its handler: operationId (the handler's name), summary, tags, the path
parameter, the success answer from the return annotation and the problem answers from `responses`. Three things
it does not see, or does not draw as msgspec validates them:
- A Struct's schema: Litestar draws its own, which loses the constraints of a field that may be UNSET (the PATCH
  body, the problem's extension members). `MsgspecSchemas` gives msgspec's JSON Schema of each Struct, inline.
- The query parameters and the JSON body, which the handlers decode from the request themselves
  (`request_parts.py`): `described_operation(query=..., body=...)` describes them.
- Litestar adds a "400 Validation Exception" answer to every handler with a parameter; this API answers its own
  problems instead, which each handler lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec
from litestar import HttpMethod, Request, Router, route
from litestar.connection import ASGIConnection
from litestar.enums import MediaType, ParamType
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    RequestBody,
)
from litestar.openapi.spec import Schema as OpenAPISchema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.serialization import encode_json
from litestar.typing import FieldDefinition

from entrypoints.http import dto
from entrypoints.http.docs_page import OPENAPI_PATH
from entrypoints.http.problems import PROBLEM_DESCRIPTIONS, PROBLEM_MEDIA_TYPE

SCHEMA_PATH, OPENAPI_FILE = OPENAPI_PATH.rsplit("/", 1)


def openapi_config(title: str, version: str) -> OpenAPIConfig:
    """The document at /schema/openapi.json, to GET and HEAD; any other path under /schema is unknown."""
    return OpenAPIConfig(
        title=title,
        version=version,
        render_plugins=[JsonRenderPlugin(path=f"/{OPENAPI_FILE}", media_type=MediaType.JSON)],
        # Litestar's router for the document also serves GET /schema and /schema/{path} (an HTML page): the guard
        # leaves those unknown, as in the other app, and `nothing_else_under_schema` every other method there.
        openapi_router=Router(
            SCHEMA_PATH,
            route_handlers=[openapi_to_head, nothing_else_under_schema],
            guards=[only_the_document],
            include_in_schema=False,
        ),
        operation_id_creator=handler_name,
    )


def handler_name(handler: HTTPRouteHandler, _method: Any, _path: Any) -> str:
    """The operationId of each operation: its handler's name."""
    return handler.handler_name


@route(f"/{OPENAPI_FILE}", http_method=HttpMethod.HEAD, media_type=MediaType.JSON, sync_to_thread=False)
def openapi_to_head(request: Request[Any, Any, Any]) -> bytes:
    """What the JSON render plugin answers to GET, the body dropped on the way out (see `hooks.py`)."""
    return encode_json(request.app.openapi_schema.to_schema())


@route(
    ["/", "/{path:str}"],
    http_method=[HttpMethod.HEAD, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE],
    sync_to_thread=False,
)
def nothing_else_under_schema() -> None:
    """Any other method at a path under /schema than the document's: unknown (404), not a wrong method (405)."""
    raise NotFoundException()


def only_the_document(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    if connection.scope["path"] != OPENAPI_PATH:
        raise NotFoundException()


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """The problem answers of an operation, each an application/problem+json `Problem`."""
    return {
        status: ResponseSpec(
            dto.Problem,
            description=PROBLEM_DESCRIPTIONS[status],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }


def described_operation(
    *, query: type[msgspec.Struct] | None = None, body: type[msgspec.Struct] | None = None
) -> type[Operation]:
    """The Operation of a handler that decodes `query` and `body` itself, with both described."""

    @dataclass
    class DescribedOperation(Operation):
        def __post_init__(self) -> None:
            if query is not None:
                self.parameters = [*(self.parameters or ()), *query_parameters(query)]
            if body is not None:
                content = {MediaType.JSON.value: OpenAPIMediaType(schema=struct_schema(body))}
                self.request_body = RequestBody(content=content, required=True)
            self.responses = {
                status: answer
                for status, answer in (self.responses or {}).items()
                if int(status) < 400 or _is_problem(answer)
            }

    return DescribedOperation


def _is_problem(answer: OpenAPIResponse | Reference) -> bool:
    return isinstance(answer, OpenAPIResponse) and PROBLEM_MEDIA_TYPE in (answer.content or {})


class MsgspecSchemas(OpenAPISchemaPlugin):
    """Every msgspec Struct drawn as msgspec's JSON Schema, the one its decoder validates against."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.is_subclass_of(msgspec.Struct)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: object) -> OpenAPISchema:
        return struct_schema(field_definition.annotation)


def query_parameters(query: type[msgspec.Struct]) -> list[Parameter]:
    """The fields of a query Struct as query parameters."""
    schema = json_schema(query)
    required = set(schema.get("required", ()))
    return [
        Parameter(name=name, param_in=ParamType.QUERY, required=name in required, schema=openapi_schema(field))
        for name, field in schema["properties"].items()
    ]


def struct_schema(struct: type[msgspec.Struct]) -> OpenAPISchema:
    return openapi_schema(json_schema(struct))


@cache
def json_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """msgspec's JSON Schema of `struct`, every Struct it refers to written in place."""
    schema = msgspec.json.schema(struct)
    inlined: dict[str, Any] = _inlined(schema, schema.pop("$defs", {}))
    return inlined


def _inlined(schema: Any, definitions: Mapping[str, Any]) -> Any:
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _inlined(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
    return {key: _inlined(value, definitions) for key, value in schema.items()}


def openapi_schema(schema: Mapping[str, Any]) -> OpenAPISchema:
    """A JSON Schema as Litestar's `Schema` object: keys as its attributes, subschemas as Schemas."""
    return OpenAPISchema(**{_attribute(key): _schema_value(key, value) for key, value in schema.items()})


def _schema_value(key: str, value: Any) -> Any:
    if key == "properties":
        return {name: openapi_schema(subschema) for name, subschema in value.items()}
    if key in ("anyOf", "allOf", "oneOf"):
        return [openapi_schema(subschema) for subschema in value]
    if key in ("items", "additionalProperties") and isinstance(value, dict):
        return openapi_schema(value)
    if key == "type":
        return OpenAPIType(value) if isinstance(value, str) else [OpenAPIType(item) for item in value]
    return value


def _attribute(key: str) -> str:
    return re.sub("([A-Z])", r"_\1", key).lower()
