"""The domain errors: every failure the service reports to its callers."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


class DomainError(Exception):
    """Base of every error the service raises on purpose."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field and why it is invalid."""

    field: str
    message: str


class InvalidInput(DomainError):
    """One or more input fields break the model's rules."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class UnknownDependencies(DomainError):
    """Dependencies name resources that do not exist."""

    def __init__(self, unknown_ids: list[UUID]) -> None:
        super().__init__(f"{len(unknown_ids)} dependency id(s) do not exist")
        self.unknown_ids = unknown_ids


class CircularDependency(DomainError):
    """The change would close a cycle; `cycle` starts and ends with the same id."""

    def __init__(self, cycle: list[UUID]) -> None:
        super().__init__(f"the change would close a cycle of {len(cycle) - 1} resource(s)")
        self.cycle = cycle


class DuplicateName(DomainError):
    """Another resource already has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a resource named {name!r} already exists")
        self.name = name


class ResourceNotFound(DomainError):
    """No resource has this id."""

    def __init__(self, resource_id: UUID) -> None:
        super().__init__(f"resource {resource_id} does not exist")
        self.resource_id = resource_id


class HasDependents(DomainError):
    """The resource cannot be deleted alone: other resources depend on it."""

    def __init__(self, resource_id: UUID, dependents: list[UUID]) -> None:
        super().__init__(f"{len(dependents)} resource(s) depend on resource {resource_id}")
        self.resource_id = resource_id
        self.dependents = dependents


class StorageError(DomainError):
    """The database failed in a way the caller cannot fix by changing the request."""


class StorageUnavailable(StorageError):
    """The database cannot be reached; the request may succeed later."""
