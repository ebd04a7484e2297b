"""The domain errors: every failure the service reports to its callers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from core.semantic_conventions import ErrorType


class DomainError(Exception):
    """Base of every error the service raises on purpose; `error_type` is its value in telemetry."""

    error_type: ClassVar[ErrorType] = "internal"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field and why it is invalid."""

    field: str
    message: str


class InvalidInput(DomainError):
    """One or more input fields break the model's rules."""

    error_type = "validation"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class UnknownDependencies(DomainError):
    """Dependencies name resources that do not exist."""

    error_type = "validation"

    def __init__(self, unknown_ids: list[UUID]) -> None:
        super().__init__(f"{len(unknown_ids)} dependency id(s) do not exist")
        self.unknown_ids = unknown_ids


class CircularDependency(DomainError):
    """The change would close a cycle; `cycle` starts and ends with the same id."""

    error_type = "circular_dependency"

    def __init__(self, cycle: list[UUID]) -> None:
        super().__init__(f"the change would close a cycle of {len(cycle) - 1} resource(s)")
        self.cycle = cycle


class DuplicateName(DomainError):
    """Another resource already has this name."""

    error_type = "conflict"

    def __init__(self, name: str) -> None:
        super().__init__(f"a resource named {name!r} already exists")
        self.name = name


class ResourceNotFound(DomainError):
    """No resource has this id."""

    error_type = "not_found"

    def __init__(self, resource_id: UUID) -> None:
        super().__init__(f"resource {resource_id} does not exist")
        self.resource_id = resource_id


class HasDependents(DomainError):
    """The resource cannot be deleted alone: other resources depend on it."""

    error_type = "has_dependents"

    def __init__(self, resource_id: UUID, dependents: list[UUID]) -> None:
        super().__init__(f"{len(dependents)} resource(s) depend on resource {resource_id}")
        self.resource_id = resource_id
        self.dependents = dependents


class StorageError(DomainError):
    """The database failed in a way the caller cannot fix by changing the request."""

    error_type = "database"


class StorageUnavailable(StorageError):
    """The database cannot be reached; the request may succeed later."""


def error_type_of(exc: BaseException) -> ErrorType:
    """The telemetry error type of any exception: `cancelled` for an operation cancelled before it ended (the client
    went away, the server shut down), `internal` for those the service did not raise on purpose."""
    if isinstance(exc, DomainError):
        return exc.error_type
    return "cancelled" if isinstance(exc, asyncio.CancelledError) else "internal"
