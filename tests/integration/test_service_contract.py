"""One contract for every store: the in-memory one, SQLite and PostgreSQL must behave identically."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from core.errors import (
    CircularDependency,
    DuplicateName,
    HasDependents,
    InvalidInput,
    ResourceNotFound,
    UnknownDependencies,
)
from core.instrumentation import Instrumentation, NoTelemetry
from core.model import PageRequest, Resource, ResourceChanges, ResourceDraft
from core.service import ResourceService
from ports.repository import AutocommitRepository
from ports.unit_of_work import UnitOfWork


class TickingClock:
    """A clock that moves one millisecond each time it is read, so creation order is certain."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=next(self._ticks))


@pytest.fixture
def service(unit_of_work: UnitOfWork) -> ResourceService:
    return ResourceService(unit_of_work, Instrumentation(NoTelemetry()), clock=TickingClock())


async def _create(service: ResourceService, name: str, *dependencies: Resource, description: str = "") -> Resource:
    return await service.create(ResourceDraft(name, description, tuple(d.id for d in dependencies)))


async def _names(service: ResourceService, text: str) -> list[str]:
    return [r.name for r in (await service.search(text, PageRequest())).items]


async def test_a_created_resource_reads_back_the_same(service: ResourceService) -> None:
    base = await _create(service, "base")
    created = await service.create(ResourceDraft("  app  ", "line\n\ttab", (base.id,)))
    assert created.name == "app"
    assert await service.get(created.id) == created
    assert created.created_at.tzinfo is not None


async def test_dependencies_keep_the_order_given(service: ResourceService) -> None:
    a, b, c = [await _create(service, name) for name in "abc"]
    d = await _create(service, "d", c, a, b)
    assert (await service.get(d.id)).dependencies == (c.id, a.id, b.id)
    updated = await service.update(d.id, ResourceChanges(dependencies=(b.id, c.id)))
    assert (await service.get(d.id)).dependencies == updated.dependencies == (b.id, c.id)


async def test_pages_are_in_creation_order_with_the_total(service: ResourceService) -> None:
    created = [await _create(service, f"r{i}") for i in range(7)]
    page = await service.list_page(PageRequest(limit=3, offset=2))
    assert [r.id for r in page.items] == [r.id for r in created[2:5]]
    assert (page.total, page.limit, page.offset) == (7, 3, 2)
    beyond = await service.list_page(PageRequest(limit=3, offset=2**53))
    assert (beyond.items, beyond.total) == ([], 7)


async def test_names_are_unique(service: ResourceService) -> None:
    first = await _create(service, "name")
    await _create(service, "other")
    with pytest.raises(DuplicateName):
        await _create(service, " name ")
    with pytest.raises(DuplicateName):
        await service.update(first.id, ResourceChanges(name="other"))
    assert (await service.update(first.id, ResourceChanges(name="name"))) == first


async def test_an_update_moves_updated_at_only(service: ResourceService) -> None:
    created = await _create(service, "x")
    updated = await service.update(created.id, ResourceChanges(description="new"))
    assert updated.created_at == created.created_at
    assert updated.updated_at > created.updated_at
    assert await service.get(created.id) == updated


async def test_unknown_dependencies_are_named_and_nothing_is_written(service: ResourceService) -> None:
    known = await _create(service, "known")
    missing = UUID(int=42)
    with pytest.raises(UnknownDependencies) as excinfo:
        await service.create(ResourceDraft("new", dependencies=(known.id, missing)))
    assert excinfo.value.unknown_ids == [missing]
    assert (await service.list_page(PageRequest())).total == 1


async def test_a_cycle_is_refused_with_its_path_and_nothing_changes(service: ResourceService) -> None:
    a = await _create(service, "a")
    b = await _create(service, "b", a)
    c = await _create(service, "c", b)
    with pytest.raises(CircularDependency) as excinfo:
        await service.update(a.id, ResourceChanges(name="a2", dependencies=(c.id,)))
    assert excinfo.value.cycle == [a.id, c.id, b.id, a.id]
    assert await service.get(a.id) == a


async def test_a_self_dependency_is_a_cycle_of_one(service: ResourceService) -> None:
    a = await _create(service, "a")
    with pytest.raises(CircularDependency) as excinfo:
        await service.update(a.id, ResourceChanges(dependencies=(a.id,)))
    assert excinfo.value.cycle == [a.id, a.id]


async def test_a_diamond_is_not_a_cycle(service: ResourceService) -> None:
    bottom = await _create(service, "bottom")
    left = await _create(service, "left", bottom)
    right = await _create(service, "right", bottom)
    top = await _create(service, "top", left)
    updated = await service.update(top.id, ResourceChanges(dependencies=(left.id, right.id)))
    assert updated.dependencies == (left.id, right.id)


async def test_delete_refuses_while_something_depends_on_it(service: ResourceService) -> None:
    a = await _create(service, "a")
    b = await _create(service, "b", a)
    await _create(service, "c", b)
    with pytest.raises(HasDependents) as excinfo:
        await service.delete(a.id)
    assert excinfo.value.dependents == [b.id]
    assert await service.get(a.id) == a


async def test_delete_removes_a_leaf(service: ResourceService) -> None:
    a = await _create(service, "a")
    b = await _create(service, "b", a)
    await service.delete(b.id)
    with pytest.raises(ResourceNotFound):
        await service.get(b.id)
    await service.delete(a.id)
    assert (await service.list_page(PageRequest())).total == 0


async def test_cascade_removes_every_transitive_dependent(service: ResourceService) -> None:
    a = await _create(service, "a")
    b = await _create(service, "b", a)
    c = await _create(service, "c", b)
    d = await _create(service, "d", a, c)
    keep = await _create(service, "keep")
    result = await service.delete_cascade(a.id)
    assert result.deleted == [a.id, b.id, c.id, d.id]
    assert [r.id for r in (await service.list_page(PageRequest())).items] == [keep.id]


async def test_missing_resources_are_not_found(service: ResourceService) -> None:
    missing = UUID(int=7)
    for call in (
        service.get(missing),
        service.update(missing, ResourceChanges(name="x")),
        service.delete(missing),
        service.delete_cascade(missing),
        service.dependencies(missing, transitive=False),
    ):
        with pytest.raises(ResourceNotFound):
            await call


async def test_direct_and_transitive_dependencies(service: ResourceService) -> None:
    a = await _create(service, "a")
    b = await _create(service, "b", a)
    c = await _create(service, "c")
    d = await _create(service, "d", c, b)
    assert [r.id for r in await service.dependencies(d.id, transitive=False)] == [b.id, c.id]
    assert [r.id for r in await service.dependencies(d.id, transitive=True)] == [a.id, b.id, c.id]
    assert await service.dependencies(a.id, transitive=True) == []


async def test_search_ignores_case_in_every_script(service: ResourceService) -> None:
    await _create(service, "Ärger-Service", description="handles ÉVÉNEMENTS")
    await _create(service, "plain")
    assert await _names(service, "ärger") == ["Ärger-Service"]
    assert await _names(service, "événements") == ["Ärger-Service"]
    assert await _names(service, "PLAIN") == ["plain"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("%", ["100%"]), ("_", ["snake_case"]), ("\\", ["back\\slash"]), ("'", ["it's"]), ("a%e", [])],
)
async def test_search_text_is_literal(service: ResourceService, text: str, expected: list[str]) -> None:
    for name in ("100%", "snake_case", "back\\slash", "it's", "abcde"):
        await _create(service, name)
    assert await _names(service, text) == expected


async def test_search_pages_and_counts(service: ResourceService) -> None:
    for i in range(5):
        await _create(service, f"match-{i}")
    await _create(service, "other", description="no")
    page = await service.search("MATCH", PageRequest(limit=2, offset=1))
    assert [r.name for r in page.items] == ["match-1", "match-2"]
    assert page.total == 5


async def test_invalid_input_is_refused_before_any_lookup(service: ResourceService) -> None:
    with pytest.raises(InvalidInput):
        await service.create(ResourceDraft("bad\x00name"))
    with pytest.raises(InvalidInput):
        await service.search("", PageRequest())
    assert (await service.list_page(PageRequest())).total == 0


async def test_each_call_of_an_autocommit_block_is_whole_on_its_own(unit_of_work: UnitOfWork) -> None:
    """What the block added stays when it fails afterwards; a resource with dependencies is refused, not half-added."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    base = Resource(UUID(int=1), "base", "", (), now, now)

    async def add_then_fail() -> None:
        async with unit_of_work.autocommit() as calls:
            await calls.add(base)
            raise RuntimeError("the block fails after its add")

    with pytest.raises(RuntimeError):
        await add_then_fail()
    async with unit_of_work.autocommit() as calls:
        with pytest.raises(ValueError, match="write transaction"):
            await calls.add(Resource(UUID(int=2), "app", "", (base.id,), now, now))
        assert await calls.get(base.id) == base
        assert await calls.get(UUID(int=2)) is None
        assert await calls.count() == 1


async def test_an_autocommit_block_offers_only_the_one_statement_calls(unit_of_work: UnitOfWork) -> None:
    """Nothing that needs a transaction, such as `replace` or `delete`, is reachable on it, even by untyped code."""
    port_calls = {name for name in vars(AutocommitRepository) if not name.startswith("_")}
    async with unit_of_work.autocommit() as calls:
        offered = {name for name in dir(calls) if not name.startswith("_")}
    assert offered == port_calls
