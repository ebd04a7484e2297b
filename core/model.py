"""The domain model: resources and the pages they are listed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 10_000
DEPENDENCIES_MAX_COUNT = 1_000
QUERY_MAX_LENGTH = 200
PAGE_DEFAULT_LIMIT = 50
PAGE_MAX_LIMIT = 500
PAGE_MAX_OFFSET = 2**53


@dataclass(frozen=True, slots=True)
class Resource:
    """A stored resource and the ids of the resources it depends on."""

    id: UUID
    name: str
    description: str
    dependencies: tuple[UUID, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ResourceDraft:
    """What a client asks to create; the service assigns id and timestamps."""

    name: str
    description: str = ""
    dependencies: tuple[UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class ResourceChanges:
    """A partial update: `None` leaves a field as it is; `dependencies` replaces the whole set."""

    name: str | None = None
    description: str | None = None
    dependencies: tuple[UUID, ...] | None = None


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which slice of an ordered result to return."""

    limit: int = PAGE_DEFAULT_LIMIT
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    """One slice of an ordered result and the size of the whole result."""

    items: list[Resource]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class CascadeResult:
    """The ids removed by a cascading delete: the resource first, then its dependents."""

    deleted: list[UUID] = field(default_factory=list)
