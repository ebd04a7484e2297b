"""Property tests: random sequences of operations keep the stored graph acyclic and match a simple model."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from adapters.memory.repository import InMemoryUnitOfWork
from core.errors import CircularDependency, HasDependents, ResourceNotFound
from core.instrumentation import Instrumentation, NoTelemetry
from core.model import PageRequest, ResourceChanges, ResourceDraft
from core.service import ResourceService

T = TypeVar("T")


def _reachable(graph: dict[UUID, set[UUID]], start: UUID) -> set[UUID]:
    seen: set[UUID] = set()
    stack = [start]
    while stack:
        for target in graph[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _dependents(graph: dict[UUID, set[UUID]], resource_id: UUID) -> set[UUID]:
    return {source for source in graph if resource_id in _reachable(graph, source)}


class ResourceGraphMachine(RuleBasedStateMachine):
    """The service against a model: a dict from each id to the set of ids it depends on."""

    resources = Bundle("resources")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.unit_of_work = InMemoryUnitOfWork()
        ids = itertools.count(1)
        self.service = ResourceService(
            self.unit_of_work, Instrumentation(NoTelemetry()), new_id=lambda: UUID(int=next(ids))
        )
        self.model: dict[UUID, set[UUID]] = {}
        self.created = 0

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.loop.close()

    @rule(target=resources, data=st.data())
    def create(self, data: st.DataObject) -> UUID:
        existing = sorted(self.model)
        dependencies = data.draw(st.lists(st.sampled_from(existing), unique=True, max_size=3)) if existing else []
        self.created += 1
        resource = self.run(self.service.create(ResourceDraft(f"r{self.created}", "", tuple(dependencies))))
        self.model[resource.id] = set(dependencies)
        return resource.id

    @rule(source=resources, data=st.data())
    def set_dependencies(self, source: UUID, data: st.DataObject) -> None:
        if source not in self.model:
            return
        targets = data.draw(st.lists(st.sampled_from(sorted(self.model)), unique=True, max_size=3))
        closes_cycle = any(t == source or source in _reachable(self.model, t) for t in targets)
        try:
            self.run(self.service.update(source, ResourceChanges(dependencies=tuple(targets))))
        except CircularDependency as exc:
            assert closes_cycle
            cycle = exc.cycle
            assert cycle[0] == cycle[-1] == source
            edges = itertools.pairwise(cycle)
            assert all(b in self.model[a] or (a == source and b in targets) for a, b in edges)
            return
        assert not closes_cycle
        self.model[source] = set(targets)

    @rule(resource_id=consumes(resources))
    def delete(self, resource_id: UUID) -> None:
        if resource_id not in self.model:
            self._assert_missing(resource_id)
            return
        direct = {source for source, targets in self.model.items() if resource_id in targets}
        try:
            self.run(self.service.delete(resource_id))
        except HasDependents as exc:
            assert set(exc.dependents) == direct != set()
            return
        assert not direct
        del self.model[resource_id]

    @rule(resource_id=consumes(resources))
    def delete_cascade(self, resource_id: UUID) -> None:
        if resource_id not in self.model:
            self._assert_missing(resource_id)
            return
        expected = {resource_id} | _dependents(self.model, resource_id)
        result = self.run(self.service.delete_cascade(resource_id))
        assert result.deleted[0] == resource_id
        assert set(result.deleted) == expected
        for deleted in expected:
            del self.model[deleted]

    @rule(resource_id=resources)
    def transitive_dependencies(self, resource_id: UUID) -> None:
        if resource_id not in self.model:
            return
        found = self.run(self.service.dependencies(resource_id, transitive=True))
        assert {r.id for r in found} == _reachable(self.model, resource_id)

    def _assert_missing(self, resource_id: UUID) -> None:
        try:
            self.run(self.service.get(resource_id))
        except ResourceNotFound:
            return
        raise AssertionError(f"{resource_id} should be gone")

    @invariant()
    def stored_graph_matches_the_model(self) -> None:
        page = self.run(self.service.list_page(PageRequest(limit=500)))
        assert page.total == len(self.model)
        assert {r.id: set(r.dependencies) for r in page.items} == self.model

    @invariant()
    def stored_graph_is_acyclic(self) -> None:
        assert all(source not in _reachable(self.model, source) for source in self.model)


TestResourceGraph = ResourceGraphMachine.TestCase
