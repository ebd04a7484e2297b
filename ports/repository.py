"""The repository port: how the core reads and changes stored resources inside one transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol
from uuid import UUID

from core.model import PageRequest, Resource


class AutocommitRepository(Protocol):
    """The repository calls that are each one statement, complete on its own: they need no transaction around them.

    Each reads one consistent state (a page with its total) or makes one whole change, by itself: two calls share
    no transaction. Lists of resources come in (created_at, id) order. Driver failures surface as `StorageError`
    or `StorageUnavailable` from `core.errors`.
    """

    async def get(self, resource_id: UUID) -> Resource | None:
        """The resource with this id, if there is one."""
        ...

    async def add(self, resource: Resource) -> None:
        """Store a new resource without dependencies; `DuplicateName` if another resource has its name.

        `ValueError` for a resource with dependencies: its edges would be a second statement, and whether they
        exist must be checked in the transaction that adds them.
        """
        ...

    async def count(self) -> int:
        """How many resources are stored; read after every create and delete, so its cost must not grow with it."""
        ...

    async def list_page(self, page: PageRequest) -> tuple[list[Resource], int]:
        """One page of all resources and the total count."""
        ...

    async def search(self, text: str, page: PageRequest) -> tuple[list[Resource], int]:
        """One page of the resources whose name or description contains `text` literally, ignoring case."""
        ...


class ResourceRepository(AutocommitRepository, Protocol):
    """Stored resources and their dependency edges, seen from inside one transaction.

    Lists of resources come in (created_at, id) order. Ids that name no resource are
    skipped, never an error. Driver failures surface as `StorageError` or
    `StorageUnavailable` from `core.errors`.
    """

    async def get_many(self, resource_ids: Collection[UUID]) -> list[Resource]:
        """The resources with these ids."""
        ...

    async def existing_ids(self, resource_ids: Collection[UUID]) -> set[UUID]:
        """Which of these ids name a stored resource."""
        ...

    async def add(self, resource: Resource) -> None:
        """Store a new resource with its dependency edges; `DuplicateName` if another resource has its name."""
        ...

    async def replace(self, resource: Resource) -> None:
        """Store new values for an existing resource, replacing all its edges; `DuplicateName` as for `add`."""
        ...

    async def delete(self, resource_ids: Collection[UUID]) -> None:
        """Remove these resources and every edge from or to them."""
        ...

    async def direct_dependents(self, resource_id: UUID) -> list[UUID]:
        """Ids of the resources that depend on this one directly."""
        ...

    async def transitive_dependents(self, resource_id: UUID) -> list[UUID]:
        """Ids of every resource that depends on this one, directly or not; the resource itself excluded."""
        ...

    async def transitive_dependencies(self, resource_id: UUID) -> list[Resource]:
        """Every resource this one depends on, directly or not; the resource itself excluded."""
        ...

    async def dependency_path(self, starts: Sequence[UUID], goal: UUID) -> list[UUID] | None:
        """A shortest path along dependency edges from any of `starts` to `goal`, both ends included."""
        ...
