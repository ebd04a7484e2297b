"""The runtime's ASGI lifespan: what starting it set going is stopped however serving ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.memory.repository import InMemoryUnitOfWork
from adapters.memory.telemetry import in_memory_telemetry
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings


def _other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}


def test_an_error_while_serving_still_stops_the_runtime() -> None:
    runtime = bootstrap(Settings(), InMemoryUnitOfWork(), in_memory_telemetry()[0])
    while_serving: set[asyncio.Task[Any]] = set()

    async def serve_until_it_fails() -> None:
        async with runtime.lifespan(None):
            while_serving.update(_other_tasks())
            raise RuntimeError("serving failed")

    async def left_running() -> set[asyncio.Task[Any]]:
        with pytest.raises(RuntimeError, match="serving failed"):
            await serve_until_it_fails()
        return _other_tasks()

    after = asyncio.run(left_running())
    assert while_serving, "the runtime started its background work"
    assert after == set()
