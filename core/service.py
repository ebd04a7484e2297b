"""ResourceService: every use case of the resource graph, each in one transaction and one instrumented operation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID, uuid4

from core.errors import CircularDependency, HasDependents, ResourceNotFound, UnknownDependencies
from core.graph import cycle_closed_by
from core.instrumentation import Instrumentation
from core.model import CascadeResult, Page, PageRequest, Resource, ResourceChanges, ResourceDraft
from core.rules import checked_changes, checked_draft, checked_page, checked_query
from ports.repository import AutocommitRepository, ResourceRepository
from ports.unit_of_work import UnitOfWork


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class ResourceService:
    """Creates, reads, changes and deletes resources while keeping the dependency graph acyclic."""

    def __init__(
        self,
        unit_of_work: UnitOfWork,
        instrumentation: Instrumentation,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._uow = unit_of_work
        self._observe = instrumentation
        self._clock = clock
        self._new_id = new_id

    async def create(self, draft: ResourceDraft) -> Resource:
        """Store a new resource; a new resource has no dependents, so it cannot close a cycle."""
        async with self._observe.operation("create") as op:
            with self._observe.validation():
                draft = checked_draft(draft)
            if draft.dependencies:
                async with self._write() as repo:
                    await _ensure_exist(repo, draft.dependencies)
                    resource = self._new_resource(draft)
                    await repo.add(resource)
                    await op.record_resource_count(repo.count)
            else:
                # One INSERT is a whole change, and no other write's checks can depend on a resource that did not
                # exist: neither the writers' lock nor a transaction is needed.
                async with self._autocommit() as calls:
                    resource = self._new_resource(draft)
                    await calls.add(resource)
                    await op.record_resource_count(calls.count)
            op.record_resource_id(resource.id)
            op.record_dependency_count(len(resource.dependencies))
            return resource

    async def get(self, resource_id: UUID) -> Resource:
        """The resource with this id."""
        async with self._observe.operation("get", resource_id) as op, self._autocommit() as calls:
            resource = await _existing(calls, resource_id)
            op.record_dependency_count(len(resource.dependencies))
            return resource

    async def list_page(self, page: PageRequest) -> Page:
        """One page of all resources in (created_at, id) order."""
        async with self._observe.operation("list"):
            with self._observe.validation():
                page = checked_page(page)
            async with self._autocommit() as calls:
                items, total = await calls.list_page(page)
            return Page(items, total, page.limit, page.offset)

    async def search(self, text: str, page: PageRequest) -> Page:
        """One page of the resources whose name or description contains `text`, ignoring case."""
        async with self._observe.operation("search") as op:
            op.record_search_text(text)
            with self._observe.validation():
                text, page = checked_query(text), checked_page(page)
            async with self._autocommit() as calls:
                items, total = await calls.search(text, page)
            op.record_search_result_count(total)
            return Page(items, total, page.limit, page.offset)

    async def update(self, resource_id: UUID, changes: ResourceChanges) -> Resource:
        """Apply a partial update; new dependencies must exist and must not close a cycle."""
        async with self._observe.operation("update", resource_id) as op:
            with self._observe.validation():
                changes = checked_changes(changes)
            async with self._write() as repo:
                current = await _existing(repo, resource_id)
                if changes.dependencies is not None:
                    await _ensure_exist(repo, changes.dependencies)
                    await _ensure_acyclic(repo, resource_id, changes.dependencies)
                updated = _applied(current, changes)
                if updated != current:
                    updated = replace(updated, updated_at=self._clock())
                    await repo.replace(updated)
            op.record_dependency_count(len(updated.dependencies))
            return updated

    async def delete(self, resource_id: UUID) -> None:
        """Delete a resource that nothing depends on."""
        async with self._observe.operation("delete", resource_id) as op, self._write() as repo:
            await _existing(repo, resource_id)
            dependents = await repo.direct_dependents(resource_id)
            if dependents:
                raise HasDependents(resource_id, dependents)
            await repo.delete([resource_id])
            await op.record_resource_count(repo.count)

    async def delete_cascade(self, resource_id: UUID) -> CascadeResult:
        """Delete a resource and everything that depends on it, directly or not."""
        async with self._observe.operation("delete", resource_id) as op, self._write() as repo:
            await _existing(repo, resource_id)
            deleted = [resource_id, *await repo.transitive_dependents(resource_id)]
            await repo.delete(deleted)
            op.record_cascade_size(len(deleted))
            await op.record_resource_count(repo.count)
            return CascadeResult(deleted)

    async def dependencies(self, resource_id: UUID, *, transitive: bool) -> list[Resource]:
        """The resources this one depends on, directly or transitively."""
        async with self._observe.operation("dependencies", resource_id) as op, self._read() as repo:
            resource = await _existing(repo, resource_id)
            found = (
                await repo.transitive_dependencies(resource_id)
                if transitive
                else await repo.get_many(resource.dependencies)
            )
            op.record_dependency_count(len(found))
            return found

    async def refresh_resource_count(self) -> None:
        """Read how many resources are stored and report it, so every process reports the true count."""
        async with self._uow.read() as repo:
            count = await repo.count()
        self._observe.record_resource_count(count)

    def _new_resource(self, draft: ResourceDraft) -> Resource:
        now = self._clock()
        return Resource(self._new_id(), draft.name, draft.description, draft.dependencies, now, now)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[ResourceRepository]:
        async with self._uow.read() as repo:
            yield self._observe.traced(repo)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[ResourceRepository]:
        async with self._uow.write() as repo:
            yield self._observe.traced(repo)

    @asynccontextmanager
    async def _autocommit(self) -> AsyncIterator[AutocommitRepository]:
        """Each of the block's calls is one statement, whole on its own (a get, a page with its total, an add)."""
        async with self._uow.autocommit() as calls:
            yield self._observe.traced_autocommit(calls)


async def _existing(repo: AutocommitRepository, resource_id: UUID) -> Resource:
    resource = await repo.get(resource_id)
    if resource is None:
        raise ResourceNotFound(resource_id)
    return resource


async def _ensure_exist(repo: ResourceRepository, resource_ids: Sequence[UUID]) -> None:
    if not resource_ids:
        return
    existing = await repo.existing_ids(resource_ids)
    unknown = [resource_id for resource_id in resource_ids if resource_id not in existing]
    if unknown:
        raise UnknownDependencies(unknown)


async def _ensure_acyclic(repo: ResourceRepository, resource_id: UUID, dependencies: Sequence[UUID]) -> None:
    if resource_id in dependencies:
        raise CircularDependency([resource_id, resource_id])
    path_back = await repo.dependency_path(dependencies, resource_id)
    if path_back is not None:
        raise CircularDependency(cycle_closed_by(resource_id, path_back))


def _applied(current: Resource, changes: ResourceChanges) -> Resource:
    return replace(
        current,
        name=current.name if changes.name is None else changes.name,
        description=current.description if changes.description is None else changes.description,
        dependencies=current.dependencies if changes.dependencies is None else changes.dependencies,
    )
