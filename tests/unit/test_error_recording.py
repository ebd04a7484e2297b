"""Each exception is recorded once per signal, under the semantic conventions' names (issue 13).

A refusal the client caused is logged with its type and message, a failure of the service itself with its stack
trace too; a request refused at the HTTP edge is recorded without raising its exception again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from uuid import uuid4

from adapters.memory.repository import InMemoryResourceRepository, InMemoryUnitOfWork
from adapters.memory.telemetry import in_memory_telemetry
from core.errors import DuplicateName, FieldError, InvalidInput, ResourceNotFound, StorageError
from core.instrumentation import Instrumentation
from core.model import ResourceDraft
from core.service import ResourceService
from ports.repository import AutocommitRepository


async def _fail(observe: Instrumentation, error: Exception) -> None:
    with suppress(type(error)):
        async with observe.operation("get"):
            raise error


def test_a_failure_of_the_service_logs_its_stack_trace_and_a_refusal_only_its_type_and_message() -> None:
    telemetry, _, _, logging = in_memory_telemetry()
    observe = Instrumentation(telemetry)
    asyncio.run(_fail(observe, StorageError("the database failed")))
    asyncio.run(_fail(observe, ResourceNotFound(uuid4())))
    service_failure, refusal = (record for record in logging.records if record["event"] == "operation.failed")
    assert service_failure["exception.type"] == "core.errors.StorageError"
    assert service_failure["exception.message"] == "the database failed"
    assert service_failure["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert "core.errors.StorageError: the database failed" in service_failure["exception.stacktrace"]
    assert refusal["exception.type"] == "core.errors.ResourceNotFound"
    assert refusal["exception.message"].startswith("resource ")
    assert "exception.stacktrace" not in refusal


def test_a_request_refused_at_the_edge_is_recorded_without_raising_its_exception() -> None:
    telemetry, _, tracing, logging = in_memory_telemetry()
    error = InvalidInput([FieldError("name", "must not be empty or only white space")])
    Instrumentation(telemetry).record_rejection("create", error)
    assert error.__traceback__ is None
    [span] = tracing.spans
    assert (span.name, span.status, span.exceptions, span.ended) == ("resource.create", "ERROR", [error], True)
    assert span.attributes["error.type"] == "validation"
    assert [record["event"] for record in logging.records] == ["operation.started", "operation.failed"]
    assert logging.records[-1]["error.type"] == "validation"
    assert "exception.stacktrace" not in logging.records[-1]


def test_a_failure_inside_a_child_span_is_recorded_as_an_exception_event_once_on_the_operation_span() -> None:
    """The child the exception left is ERROR (a repository call with its error.type); only the operation holds it."""
    telemetry, _, tracing, _ = in_memory_telemetry()
    service = ResourceService(InMemoryUnitOfWork(), Instrumentation(telemetry))
    asyncio.run(service.create(ResourceDraft("db")))
    tracing.spans.clear()
    with suppress(InvalidInput):
        asyncio.run(service.create(ResourceDraft("")))
    with suppress(DuplicateName):
        asyncio.run(service.create(ResourceDraft("db")))
    refused, duplicate = (span for span in tracing.spans if span.name == "resource.create")
    (validate,) = (span for span in tracing.spans if span.name == "resource.validate" and span.status == "ERROR")
    (add,) = (span for span in tracing.spans if span.name == "resource.repository.add")
    assert (validate.status, validate.exceptions) == ("ERROR", [])
    assert (add.status, add.attributes.get("error.type"), add.exceptions) == ("ERROR", "conflict", [])
    assert [type(exc) for exc in refused.exceptions] == [InvalidInput]
    assert [type(exc) for exc in duplicate.exceptions] == [DuplicateName]
    events = [(span.name, type(exc)) for span in tracing.spans for exc in span.exceptions]
    assert events == [("resource.create", InvalidInput), ("resource.create", DuplicateName)]


class _StuckStore(InMemoryUnitOfWork):
    """Gets, lists and searches wait until cancelled: an operation caught in flight, as when its client goes away."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AutocommitRepository]:
        self.waiting.set()
        await asyncio.Event().wait()
        yield InMemoryResourceRepository({})  # never reached


async def _cancelled_get(service: ResourceService, store: _StuckStore) -> None:
    task = asyncio.create_task(service.get(uuid4()))
    await store.waiting.wait()
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


def test_a_cancelled_operation_ends_its_span_and_records_its_duration_count_and_log() -> None:
    telemetry, metrics, tracing, logging = in_memory_telemetry()
    store = _StuckStore()
    asyncio.run(_cancelled_get(ResourceService(store, Instrumentation(telemetry)), store))
    (span,) = tracing.spans
    assert (span.name, span.ended, span.status, span.attributes["error.type"]) == (
        "resource.get",
        True,
        "ERROR",
        "cancelled",
    )
    (duration,) = metrics.of("resource.operation.duration")
    assert duration.attributes == {"operation": "get", "outcome": "error", "error.type": "cancelled"}
    assert [p.attributes for p in metrics.of("resource.operations") if p.value] == [
        {"operation": "get", "outcome": "error"}
    ]
    assert [p.attributes for p in metrics.of("resource.operation.errors") if p.value] == [
        {"operation": "get", "error.type": "cancelled"}
    ]
    (failed,) = (record for record in logging.records if record["event"] == "operation.failed")
    assert (failed["level"], failed["error.type"]) == ("warning", "cancelled")
    assert "exception.stacktrace" not in failed
