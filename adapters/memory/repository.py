"""In-memory repository and unit of work: the same behaviour as the SQL ones, for fast tests."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

from core.errors import DuplicateName
from core.graph import shortest_path
from core.model import PageRequest, Resource
from ports.repository import AutocommitRepository, ResourceRepository
from ports.unit_of_work import UnitOfWork

_Neighbours = Callable[[UUID], Iterable[UUID]]


def _ordered(resources: Iterable[Resource]) -> list[Resource]:
    return sorted(resources, key=lambda r: (r.created_at, r.id))


def _page(resources: list[Resource], page: PageRequest) -> tuple[list[Resource], int]:
    return resources[page.offset : page.offset + page.limit], len(resources)


class InMemoryResourceRepository(ResourceRepository):
    """Resources in a dict owned by the transaction that opened it."""

    def __init__(self, resources: dict[UUID, Resource]) -> None:
        self.resources = resources

    async def get(self, resource_id: UUID) -> Resource | None:
        return self.resources.get(resource_id)

    async def get_many(self, resource_ids: Collection[UUID]) -> list[Resource]:
        return _ordered(self.resources[i] for i in set(resource_ids) if i in self.resources)

    async def existing_ids(self, resource_ids: Collection[UUID]) -> set[UUID]:
        return {i for i in resource_ids if i in self.resources}

    async def add(self, resource: Resource) -> None:
        self._ensure_name_free(resource)
        self.resources[resource.id] = resource

    async def replace(self, resource: Resource) -> None:
        self._ensure_name_free(resource)
        self.resources[resource.id] = resource

    def _ensure_name_free(self, resource: Resource) -> None:
        if any(r.name == resource.name and r.id != resource.id for r in self.resources.values()):
            raise DuplicateName(resource.name)

    async def delete(self, resource_ids: Collection[UUID]) -> None:
        for resource_id in resource_ids:
            self.resources.pop(resource_id, None)

    async def count(self) -> int:
        return len(self.resources)

    async def list_page(self, page: PageRequest) -> tuple[list[Resource], int]:
        return _page(_ordered(self.resources.values()), page)

    async def search(self, text: str, page: PageRequest) -> tuple[list[Resource], int]:
        needle = text.lower()
        found = (r for r in self.resources.values() if needle in r.name.lower() or needle in r.description.lower())
        return _page(_ordered(found), page)

    async def direct_dependents(self, resource_id: UUID) -> list[UUID]:
        return [r.id for r in _ordered(self.resources.values()) if resource_id in r.dependencies]

    async def transitive_dependents(self, resource_id: UUID) -> list[UUID]:
        dependents: dict[UUID, list[UUID]] = {}
        for resource in self.resources.values():
            for dependency in resource.dependencies:
                dependents.setdefault(dependency, []).append(resource.id)
        return self._ordered_ids(self._reachable(resource_id, lambda i: dependents.get(i, [])))

    async def transitive_dependencies(self, resource_id: UUID) -> list[Resource]:
        return await self.get_many(self._reachable(resource_id, lambda i: self.resources[i].dependencies))

    async def dependency_path(self, starts: Sequence[UUID], goal: UUID) -> list[UUID] | None:
        edges = ((r.id, d) for r in self.resources.values() for d in r.dependencies)
        return shortest_path(edges, starts, goal)

    def _ordered_ids(self, resource_ids: set[UUID]) -> list[UUID]:
        return [r.id for r in _ordered(self.resources[i] for i in resource_ids)]

    @staticmethod
    def _reachable(origin: UUID, neighbours: _Neighbours) -> set[UUID]:
        seen: set[UUID] = set()
        queue = deque([origin])
        while queue:
            for neighbour in neighbours(queue.popleft()):
                if neighbour not in seen and neighbour != origin:
                    seen.add(neighbour)
                    queue.append(neighbour)
        return seen


class InMemoryUnitOfWork(UnitOfWork):
    """Write transactions work on a copy that replaces the committed state only on success."""

    def __init__(self) -> None:
        self.resources: dict[UUID, Resource] = {}
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ResourceRepository]:
        yield InMemoryResourceRepository(self.resources)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[ResourceRepository]:
        async with self._write_lock:
            working = dict(self.resources)
            yield InMemoryResourceRepository(working)
            self.resources = working

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AutocommitRepository]:
        yield _InMemoryAutocommitRepository(self)

    async def ping(self) -> None:
        return None


class _InMemoryAutocommitRepository(AutocommitRepository):
    """Reads of the state committed when the block began, and each `add` a write transaction of its own.

    Only the one-statement calls are on it, as on the SQL adapter's.
    """

    def __init__(self, unit_of_work: InMemoryUnitOfWork) -> None:
        self._unit_of_work = unit_of_work
        self._committed = InMemoryResourceRepository(unit_of_work.resources)

    async def get(self, resource_id: UUID) -> Resource | None:
        return await self._committed.get(resource_id)

    async def add(self, resource: Resource) -> None:
        if resource.dependencies:
            raise ValueError("a resource with dependencies is added in a write transaction")
        async with self._unit_of_work.write() as repository:
            await repository.add(resource)
        self._committed = InMemoryResourceRepository(self._unit_of_work.resources)  # what the block reads next sees it

    async def count(self) -> int:
        return await self._committed.count()

    async def list_page(self, page: PageRequest) -> tuple[list[Resource], int]:
        return await self._committed.list_page(page)

    async def search(self, text: str, page: PageRequest) -> tuple[list[Resource], int]:
        return await self._committed.search(text, page)
