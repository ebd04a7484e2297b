"""Observability disabled costs next to nothing: the instrumentation itself does no bookkeeping."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from adapters.memory.repository import InMemoryResourceRepository
from core.errors import ResourceNotFound
from core.instrumentation import Instrumentation, NoTelemetry, OperationScope, Telemetry, _SilentScope
from ports.noop import NoOpLogging, NoOpMetrics, NoOpTracing


def _no_clock() -> float:
    raise AssertionError("the disabled instrumentation read the clock")


def test_disabled_instrumentation_hands_the_repository_over_untraced() -> None:
    repository = InMemoryResourceRepository({})
    assert Instrumentation(NoTelemetry(), clock=_no_clock).traced(repository) is repository


def test_only_no_telemetry_is_off_not_a_bundle_of_the_no_op_adapters() -> None:
    repository = InMemoryResourceRepository({})
    no_op_adapters = Telemetry(NoOpMetrics(), NoOpTracing(), NoOpLogging())
    assert Instrumentation(no_op_adapters).traced(repository) is not repository


def test_disabled_operations_read_no_clock_and_share_one_scope() -> None:
    observe = Instrumentation(NoTelemetry(), clock=_no_clock)

    async def operations() -> list[object]:
        scopes: list[object] = []
        for _ in range(2):
            async with observe.operation("get", uuid4()) as scope:
                scope.record_dependency_count(3)
                scope.record_cascade_size(2)
                scopes.append(scope)
        with observe.validation():
            pass
        observe.record_rejection("create", ValueError("bad input"))
        return scopes

    first, second = asyncio.run(operations())
    assert first is second


def test_a_failure_still_propagates_when_disabled() -> None:
    observe = Instrumentation(NoTelemetry(), clock=_no_clock)

    async def failing() -> None:
        async with observe.operation("get"):
            raise ResourceNotFound(uuid4())

    with pytest.raises(ResourceNotFound):
        asyncio.run(failing())


def test_the_shared_silent_scope_overrides_every_method_that_could_keep_state() -> None:
    # One silent scope serves every concurrent operation: a method it inherited could write into it.
    methods = {name for name, value in vars(OperationScope).items() if callable(value) and not name.startswith("_")}
    assert methods
    assert methods <= set(vars(_SilentScope))
