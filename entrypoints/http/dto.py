"""The request and response bodies of the HTTP API: one set of msgspec Structs for both apps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

from msgspec import UNSET, Meta, Struct, UnsetType

from core.errors import FieldError
from core.model import (
    DEPENDENCIES_MAX_COUNT,
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PAGE_DEFAULT_LIMIT,
    PAGE_MAX_LIMIT,
    PAGE_MAX_OFFSET,
    QUERY_MAX_LENGTH,
    CascadeResult,
    Page,
    Resource,
    ResourceChanges,
    ResourceDraft,
)
from core.rules import dependencies_errors, description_errors, name_errors, query_errors

Name = Annotated[
    str,
    Meta(
        min_length=1,
        description=f"1 to {NAME_MAX_LENGTH} characters once trimmed; no control characters.",
        examples=["db"],
    ),
]
Description = Annotated[
    str,
    Meta(max_length=DESCRIPTION_MAX_LENGTH, description="No control characters except tab and newline."),
]
Dependencies = Annotated[
    list[UUID],
    Meta(max_length=DEPENDENCIES_MAX_COUNT, description="Ids of the resources this one depends on, no repeats."),
]
Limit = Annotated[int, Meta(ge=1, le=PAGE_MAX_LIMIT)]
Offset = Annotated[int, Meta(ge=0, le=PAGE_MAX_OFFSET)]
SearchText = Annotated[str, Meta(min_length=1, max_length=QUERY_MAX_LENGTH, description="Literal text, any case.")]


FieldRules = Mapping[str, Callable[[Any], list[FieldError]]]
_RESOURCE_RULES: FieldRules = {
    "name": lambda name: name_errors(name.strip()),
    "description": description_errors,
    "dependencies": lambda dependencies: dependencies_errors(tuple(dependencies)),
}


class Input(Struct):
    """A request body or query; `field_rules` are the core's rules that msgspec cannot express, by field."""

    field_rules: ClassVar[FieldRules] = {}


class ResourceCreate(Input, forbid_unknown_fields=True):
    """The body of POST /resources."""

    field_rules = _RESOURCE_RULES

    name: Name
    description: Description = ""
    dependencies: Dependencies = []

    def to_draft(self) -> ResourceDraft:
        return ResourceDraft(self.name, self.description, tuple(self.dependencies))


class ResourceUpdate(Input, forbid_unknown_fields=True):
    """The body of PATCH /resources/{id}: absent fields stay as they are."""

    field_rules = _RESOURCE_RULES

    name: Name | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    dependencies: Dependencies | UnsetType = UNSET

    def to_changes(self) -> ResourceChanges:
        return ResourceChanges(
            name=None if self.name is UNSET else self.name,
            description=None if self.description is UNSET else self.description,
            dependencies=None if self.dependencies is UNSET else tuple(self.dependencies),
        )


class ResourceOut(Struct):
    """A stored resource."""

    id: UUID
    name: str
    description: str
    dependencies: list[UUID]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, resource: Resource) -> ResourceOut:
        return cls(
            resource.id,
            resource.name,
            resource.description,
            list(resource.dependencies),
            resource.created_at,
            resource.updated_at,
        )


class ResourcePage(Struct):
    """One page of resources in (created_at, id) order, and how many there are in all."""

    items: list[ResourceOut]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: Page) -> ResourcePage:
        return cls([ResourceOut.of(r) for r in page.items], page.total, page.limit, page.offset)


class ResourceList(Struct):
    """Resources in (created_at, id) order."""

    items: list[ResourceOut]


class CascadeDeleted(Struct):
    """The ids a cascading delete removed: the resource first, then its dependents."""

    deleted: list[UUID]
    count: int

    @classmethod
    def of(cls, result: CascadeResult) -> CascadeDeleted:
        return cls(result.deleted, len(result.deleted))


class Health(Struct):
    """The answer of the health endpoints."""

    status: str


class InvalidField(Struct):
    """One invalid input: the field (a body field, query parameter or path parameter) and why."""

    field: str
    message: str


class Problem(Struct, omit_defaults=True):
    """An RFC 9457 problem details body; the extension members appear only on the problems that use them."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[InvalidField] | UnsetType = UNSET
    unknown_ids: list[UUID] | UnsetType = UNSET
    cycle: list[UUID] | UnsetType = UNSET
    dependents: list[UUID] | UnsetType = UNSET


class PageQuery(Input, kw_only=True):
    """Query parameters of GET /resources."""

    limit: Limit = PAGE_DEFAULT_LIMIT
    offset: Offset = 0


class SearchQuery(PageQuery, kw_only=True):
    """Query parameters of GET /resources/search."""

    field_rules = {"q": query_errors}

    q: SearchText


class DeleteQuery(Input):
    """Query parameters of DELETE /resources/{id}."""

    cascade: bool = False


class DependenciesQuery(Input):
    """Query parameters of GET /resources/{id}/dependencies."""

    transitive: bool = False
