"""Property tests of the telemetry contract: every operation, valid or not, is measured, traced and logged as promised.

Each `assert_*` helper checks one property on the telemetry a single step produced; a named test drives each helper
over random command sequences, and a state machine drives all of them over longer random sessions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, NoReturn, TypeVar
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from adapters.memory.repository import InMemoryUnitOfWork
from adapters.memory.telemetry import MetricPoint, RecordedSpan, in_memory_telemetry
from core.errors import (
    CircularDependency,
    DomainError,
    DuplicateName,
    FieldError,
    HasDependents,
    InvalidInput,
    ResourceNotFound,
    UnknownDependencies,
)
from core.instrumentation import Instrumentation, NoTelemetry, Telemetry
from core.model import (
    PAGE_MAX_LIMIT,
    PAGE_MAX_OFFSET,
    CascadeResult,
    Page,
    PageRequest,
    Resource,
    ResourceChanges,
    ResourceDraft,
)
from core.semantic_conventions import (
    ATTR_DB_SYSTEM,
    ATTR_ERROR_TYPE,
    ATTR_OPERATION,
    ATTR_OUTCOME,
    ATTR_REPOSITORY_METHOD,
    CASCADE_SIZE,
    CIRCULAR_DEPENDENCY_DETECTED,
    ERROR_TYPES,
    LOGGER_NAME,
    METRICS,
    OPERATION_DURATION,
    OPERATION_ERRORS,
    OPERATIONS,
    OPERATIONS_TOTAL,
    OUTCOMES,
    REPOSITORY_DURATION,
    RESOURCE_COUNT,
    Database,
    ErrorType,
    Operation,
    ShedReason,
)
from core.service import ResourceService
from ports.logging import LoggingPort, LogValue
from ports.metrics import AdmissionState, MetricsPort
from ports.repository import AutocommitRepository, ResourceRepository
from ports.tracing import AttributeValue, SpanKind, SpanPort, TracingPort

ERROR_TYPE_OF: Final[Mapping[type[DomainError], ErrorType]] = {
    InvalidInput: "validation",
    UnknownDependencies: "validation",
    ResourceNotFound: "not_found",
    DuplicateName: "conflict",
    CircularDependency: "circular_dependency",
    HasDependents: "has_dependents",
}
# The port's methods, those it has from the calls that need no transaction included.
REPOSITORY_PORT: Final = {**vars(AutocommitRepository), **vars(ResourceRepository)}
REPOSITORY_METHODS: Final = tuple(method for method in REPOSITORY_PORT if not method.startswith("_"))
METRIC_ATTRIBUTE_VALUES: Final[Mapping[str, tuple[str, ...]]] = {
    ATTR_OPERATION: OPERATIONS,
    ATTR_OUTCOME: OUTCOMES,
    ATTR_ERROR_TYPE: ERROR_TYPES,
    ATTR_REPOSITORY_METHOD: REPOSITORY_METHODS,
    ATTR_DB_SYSTEM: ("memory",),
}
OPERATION_SPAN_NAMES: Final = frozenset(f"resource.{operation}" for operation in OPERATIONS)
VALIDATE_SPAN: Final = "resource.validate"
REPOSITORY_SPAN_NAMES: Final = frozenset(f"resource.repository.{method}" for method in REPOSITORY_METHODS)
SEARCH_QUERY_MAX_CHARS: Final = 256
SERVICE_NAME: Final = "resource-service"
LOG_LEVELS: Final = {"operation.started": "debug", "operation.completed": "info", "operation.failed": "warning"}
COMMON_LOG_FIELDS: Final = frozenset(
    {"timestamp", "level", "event", "logger", "service.name", "operation", "trace_id", "span_id"}
)
EXCEPTION_FIELDS: Final = frozenset({"exception.type", "exception.message", "exception.stacktrace"})
TIMESTAMP: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")
SPAN_ID: Final = re.compile(r"[0-9a-f]{16}")
EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)

T = TypeVar("T")


@dataclass(frozen=True)
class Create:
    draft: ResourceDraft
    operation: ClassVar[Operation] = "create"

    async def apply(self, service: ResourceService) -> Resource:
        return await service.create(self.draft)


@dataclass(frozen=True)
class Get:
    resource_id: UUID
    operation: ClassVar[Operation] = "get"

    async def apply(self, service: ResourceService) -> Resource:
        return await service.get(self.resource_id)


@dataclass(frozen=True)
class ListPage:
    page: PageRequest
    operation: ClassVar[Operation] = "list"

    async def apply(self, service: ResourceService) -> Page:
        return await service.list_page(self.page)


@dataclass(frozen=True)
class Update:
    resource_id: UUID
    changes: ResourceChanges
    operation: ClassVar[Operation] = "update"

    async def apply(self, service: ResourceService) -> Resource:
        return await service.update(self.resource_id, self.changes)


@dataclass(frozen=True)
class Delete:
    resource_id: UUID
    operation: ClassVar[Operation] = "delete"

    async def apply(self, service: ResourceService) -> None:
        await service.delete(self.resource_id)


@dataclass(frozen=True)
class DeleteCascade:
    resource_id: UUID
    operation: ClassVar[Operation] = "delete"

    async def apply(self, service: ResourceService) -> CascadeResult:
        return await service.delete_cascade(self.resource_id)


@dataclass(frozen=True)
class Search:
    text: str
    page: PageRequest
    operation: ClassVar[Operation] = "search"

    async def apply(self, service: ResourceService) -> Page:
        return await service.search(self.text, self.page)


@dataclass(frozen=True)
class Dependencies:
    resource_id: UUID
    transitive: bool
    operation: ClassVar[Operation] = "dependencies"

    async def apply(self, service: ResourceService) -> list[Resource]:
        return await service.dependencies(self.resource_id, transitive=self.transitive)


@dataclass(frozen=True)
class Reject:
    operation: Operation
    error: InvalidInput

    def apply(self, instrumentation: Instrumentation) -> None:
        instrumentation.record_rejection(self.operation, self.error)


Command = Create | Get | ListPage | Update | Delete | DeleteCascade | Search | Dependencies | Reject


@dataclass(frozen=True)
class Step:
    """One command and the telemetry it produced, sliced from the adapters."""

    command: Command
    result: object
    error: DomainError | None
    points: list[MetricPoint]
    spans: list[RecordedSpan]
    records: list[dict[str, Any]]
    lines: list[str]
    stored_before: int
    stored_after: int
    reported_count: int | None

    @property
    def operation(self) -> Operation:
        return self.command.operation

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def error_type(self) -> ErrorType | None:
        return None if self.error is None else ERROR_TYPE_OF[type(self.error)]

    @property
    def outcome(self) -> str:
        return "error" if self.failed else "success"

    @property
    def span(self) -> RecordedSpan:
        assert self.spans, "the operation opened no span"
        return self.spans[0]

    def of(self, instrument: str) -> list[MetricPoint]:
        return [point for point in self.points if point.instrument == instrument]


@dataclass(frozen=True)
class Served:
    """A service and its instrumentation, which the HTTP edge records the requests it refuses with."""

    service: ResourceService
    instrumentation: Instrumentation


async def attempt(command: Command, served: Served) -> tuple[object, DomainError | None]:
    try:
        if isinstance(command, Reject):  # refused at the edge: the service never sees it
            command.apply(served.instrumentation)
            return None, None
        return await command.apply(served.service), None
    except DomainError as exc:
        return None, exc


def deterministic(unit_of_work: InMemoryUnitOfWork, telemetry: Telemetry) -> Served:
    ids, ticks = itertools.count(1), itertools.count()
    instrumentation = Instrumentation(telemetry)
    service = ResourceService(
        unit_of_work,
        instrumentation,
        clock=lambda: EPOCH + timedelta(seconds=next(ticks)),
        new_id=lambda: UUID(int=next(ids)),
    )
    return Served(service, instrumentation)


class ObservedService:
    """A service on a fresh store, reporting to the in-memory adapters."""

    def __init__(self) -> None:
        self.unit_of_work = InMemoryUnitOfWork()
        telemetry, self.metrics, self.tracing, self.logging = in_memory_telemetry()
        self.served = deterministic(self.unit_of_work, telemetry)

    async def perform(self, command: Command) -> Step:
        points, spans = len(self.metrics.points), len(self.tracing.spans)
        records, lines = len(self.logging.records), len(self.logging.lines)
        stored_before = len(self.unit_of_work.resources)
        result, raised = await attempt(command, self.served)
        return Step(
            command,
            result,
            command.error if isinstance(command, Reject) else raised,
            self.metrics.points[points:],
            self.tracing.spans[spans:],
            self.logging.records[records:],
            self.logging.lines[lines:],
            stored_before,
            len(self.unit_of_work.resources),
            self.metrics.resource_count,
        )


def run_sequence(commands: Sequence[Command]) -> list[Step]:
    observed = ObservedService()

    async def run_all() -> list[Step]:
        return [await observed.perform(command) for command in commands]

    return asyncio.run(run_all())


def requested_resource_id(command: Command) -> UUID | None:
    match command:
        case Get() | Update() | Delete() | DeleteCascade() | Dependencies():
            return command.resource_id
    return None


def expected_resource_id(step: Step) -> UUID | None:
    if isinstance(step.command, Create) and isinstance(step.result, Resource):
        return step.result.id
    return requested_resource_id(step.command)


def expected_dependency_count(step: Step) -> int | None:
    match step.command, step.result:
        case Create() | Get() | Update(), Resource() as resource:
            return len(resource.dependencies)
        case Dependencies(), list() as found:
            return len(found)
    return None


def expected_span_attributes(step: Step) -> dict[str, AttributeValue]:
    expected: dict[str, AttributeValue] = {"resource.operation": step.operation}
    resource_id = expected_resource_id(step)
    if resource_id is not None:
        expected["resource.id"] = str(resource_id)
    dependency_count = expected_dependency_count(step)
    if dependency_count is not None:
        expected["resource.dependency.count"] = dependency_count
    if isinstance(step.result, CascadeResult):
        expected["resource.cascade.size"] = len(step.result.deleted)
    if isinstance(step.command, Search):
        text = step.command.text
        expected |= {"search.query": text[:SEARCH_QUERY_MAX_CHARS], "search.query.length": len(text)}
        if isinstance(step.result, Page):
            expected["search.result.count"] = step.result.total
    if step.error_type is not None:
        expected["error.type"] = step.error_type
    return expected


def expected_metric_keys(instrument: str, failed: bool) -> set[str]:
    keys = {
        OPERATION_DURATION: {ATTR_OPERATION, ATTR_OUTCOME} | ({ATTR_ERROR_TYPE} if failed else set()),
        OPERATIONS_TOTAL: {ATTR_OPERATION, ATTR_OUTCOME},
        OPERATION_ERRORS: {ATTR_OPERATION, ATTR_ERROR_TYPE},
        CIRCULAR_DEPENDENCY_DETECTED: {ATTR_OPERATION},
        RESOURCE_COUNT: set(),
        CASCADE_SIZE: set(),
        # The in-memory store is no database: its calls carry no database attributes (see the repository checks).
        REPOSITORY_DURATION: {ATTR_REPOSITORY_METHOD} | ({ATTR_ERROR_TYPE} if failed else set()),
    }
    return keys[instrument]


def is_non_negative_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def assert_one_duration_per_operation(step: Step) -> None:
    durations = step.of(OPERATION_DURATION)
    assert len(durations) == 1
    assert durations[0].attributes[ATTR_OPERATION] == step.operation
    assert durations[0].attributes[ATTR_OUTCOME] == step.outcome
    assert is_non_negative_number(durations[0].value)


def assert_success_counted(step: Step) -> None:
    if step.failed:
        return
    success = {ATTR_OPERATION: step.operation, ATTR_OUTCOME: "success"}
    assert step.of(OPERATIONS_TOTAL) == [MetricPoint(OPERATIONS_TOTAL, 1, success)]
    assert step.of(OPERATION_ERRORS) == []
    assert step.of(CIRCULAR_DEPENDENCY_DETECTED) == []


def assert_failure_counted(step: Step) -> None:
    if step.error_type is None:
        return
    operation, error_type = step.operation, step.error_type
    assert step.of(OPERATIONS_TOTAL) == [
        MetricPoint(OPERATIONS_TOTAL, 1, {ATTR_OPERATION: operation, ATTR_OUTCOME: "error"})
    ]
    assert step.of(OPERATION_ERRORS) == [
        MetricPoint(OPERATION_ERRORS, 1, {ATTR_OPERATION: operation, ATTR_ERROR_TYPE: error_type})
    ]
    assert [point.attributes.get(ATTR_ERROR_TYPE) for point in step.of(OPERATION_DURATION)] == [error_type]
    detected = [MetricPoint(CIRCULAR_DEPENDENCY_DETECTED, 1, {ATTR_OPERATION: "update"})]
    assert step.of(CIRCULAR_DEPENDENCY_DETECTED) == (detected if error_type == "circular_dependency" else [])


def assert_metric_attributes_bounded(step: Step) -> None:
    for point in step.points:
        assert point.instrument in METRICS
        expected = expected_metric_keys(point.instrument, step.failed)
        if point.instrument == REPOSITORY_DURATION:  # error.type only on the one call that failed, if any
            assert {ATTR_REPOSITORY_METHOD} <= set(point.attributes) <= expected, point
        else:
            assert set(point.attributes) == expected, point
        for key, value in point.attributes.items():
            assert value in METRIC_ATTRIBUTE_VALUES[key], point


def assert_resource_count_matches_store(step: Step) -> None:
    counts = [point.value for point in step.of(RESOURCE_COUNT)]
    assert all(point.attributes == {} for point in step.of(RESOURCE_COUNT))
    if not step.failed and isinstance(step.command, Create | Delete | DeleteCascade):
        assert counts == [step.stored_after]
        assert step.reported_count == step.stored_after
    else:
        assert set(counts) <= {step.stored_after}
        assert step.reported_count in (None, step.stored_after)


def assert_repository_calls_timed(step: Step) -> None:
    spans = [span for span in step.spans if span.name in REPOSITORY_SPAN_NAMES]
    points = step.of(REPOSITORY_DURATION)
    assert [point.attributes[ATTR_REPOSITORY_METHOD] for point in points] == [
        span.name.removeprefix("resource.repository.") for span in spans
    ]
    for span, point in zip(spans, points, strict=True):
        # The in-memory store is no database: INTERNAL spans without db.* attributes; error.type on a failed call.
        assert span.kind == "INTERNAL"
        failure = {ATTR_ERROR_TYPE: span.attributes[ATTR_ERROR_TYPE]} if span.status == "ERROR" else {}
        assert span.attributes == failure
        assert point.attributes == {ATTR_REPOSITORY_METHOD: span.name.removeprefix("resource.repository."), **failure}
        assert is_non_negative_number(point.value)


def assert_cascade_size_recorded(step: Step) -> None:
    cascades = step.of(CASCADE_SIZE)
    if isinstance(step.result, CascadeResult):
        removed = step.stored_before - step.stored_after
        assert cascades == [MetricPoint(CASCADE_SIZE, removed, {})]
        assert len(step.result.deleted) == removed
    else:
        assert cascades == []


def assert_one_operation_span(step: Step) -> None:
    operation_spans = [span for span in step.spans if span.name in OPERATION_SPAN_NAMES]
    assert len(operation_spans) == 1
    assert operation_spans[0] is step.span
    assert step.span.name == f"resource.{step.operation}"
    assert step.span.kind == "INTERNAL"
    assert step.span.parent_id is None


def assert_span_attributes_complete(step: Step) -> None:
    assert step.span.attributes == expected_span_attributes(step)


def assert_children_of_operation_span(step: Step) -> None:
    children = step.spans[1:]
    for child in children:
        assert child.name == VALIDATE_SPAN or child.name in REPOSITORY_SPAN_NAMES, child.name
        assert child.parent_id == step.span.span_id
        assert child.trace_id == step.span.trace_id
    validations = [child for child in children if child.name == VALIDATE_SPAN]
    validated = isinstance(step.command, Create | ListPage | Search | Update)
    assert len(validations) == (1 if validated else 0)
    if isinstance(step.command, Reject):
        assert children == []
    elif not step.failed:
        assert any(child.name in REPOSITORY_SPAN_NAMES for child in children)


def assert_spans_end_with_their_status(step: Step) -> None:
    assert all(span.ended for span in step.spans)
    assert step.span.status == ("ERROR" if step.failed else "UNSET")
    if not step.failed:
        assert all(span.status == "UNSET" for span in step.spans)


def assert_failure_recorded_on_span(step: Step) -> None:
    if step.error is None:
        assert step.span.exceptions == []
        return
    assert step.span.status == "ERROR"
    assert len(step.span.exceptions) == 1
    assert step.span.exceptions[0] is step.error
    assert step.span.attributes["error.type"] == step.error_type


def assert_started_logged_first(step: Step) -> None:
    events = [record["event"] for record in step.records]
    assert events[:1] == ["operation.started"]
    assert events.count("operation.started") == 1


def assert_completion_logged(step: Step) -> None:
    events = [record["event"] for record in step.records]
    if step.failed:
        assert events == ["operation.started", "operation.failed"]
        return
    assert events == ["operation.started", "operation.completed"]
    completed = step.records[-1]
    assert is_non_negative_number(completed["duration_ms"])
    assert completed["outcome"] == "success"
    for duration in step.of(OPERATION_DURATION):
        assert math.isclose(completed["duration_ms"], duration.value * 1000, abs_tol=1e-6)


def assert_logs_carry_operation_span_ids(step: Step) -> None:
    for record in step.records:
        assert TRACE_ID.fullmatch(record["trace_id"])
        assert SPAN_ID.fullmatch(record["span_id"])
        assert (record["trace_id"], record["span_id"]) == (step.span.trace_id, step.span.span_id)


def assert_log_fields_complete(step: Step) -> None:
    assert step.records
    resource_id = expected_resource_id(step)
    for record in step.records:
        assert TIMESTAMP.fullmatch(record["timestamp"])
        assert datetime.fromisoformat(record["timestamp"]).utcoffset() == timedelta(0)
        assert record["level"] == LOG_LEVELS[record["event"]]
        assert record["logger"] == LOGGER_NAME
        assert record["service.name"] == SERVICE_NAME
        assert record["operation"] == step.operation
        if "resource_id" in record:
            assert record["resource_id"] == str(resource_id)
    last = step.records[-1]
    expected_fields = COMMON_LOG_FIELDS | {"duration_ms", "outcome"} | ({"resource_id"} if resource_id else set())
    if step.failed:
        expected_fields |= {"error.type", "exception.type", "exception.message"}
        assert is_non_negative_number(last["duration_ms"])
        assert (last["outcome"], last["error.type"]) == ("error", step.error_type)
    assert set(last) == expected_fields
    requested = requested_resource_id(step.command)
    assert set(step.records[0]) == COMMON_LOG_FIELDS | ({"resource_id"} if requested else set())


def assert_failure_logs_exception(step: Step) -> None:
    if step.error is None:
        assert all(EXCEPTION_FIELDS.isdisjoint(record) for record in step.records)
        return
    failed = step.records[-1]
    error_class = type(step.error)
    assert failed["exception.type"] == f"{error_class.__module__}.{error_class.__qualname__}"
    assert failed["exception.message"] == str(step.error)
    # Every failure here is one the client caused: a stack trace is only for failures of the service itself.
    assert "exception.stacktrace" not in failed


def assert_log_lines_are_single_json_objects(step: Step) -> None:
    assert len(step.lines) == len(step.records)
    for line, record in zip(step.lines, step.records, strict=True):
        assert "\n" not in line
        assert "\r" not in line
        parsed = json.loads(line)
        assert isinstance(parsed, dict)
        assert parsed == record


StepProperty = Callable[[Step], None]
STEP_PROPERTIES: Final[tuple[StepProperty, ...]] = (
    assert_one_duration_per_operation,
    assert_success_counted,
    assert_failure_counted,
    assert_metric_attributes_bounded,
    assert_resource_count_matches_store,
    assert_cascade_size_recorded,
    assert_one_operation_span,
    assert_span_attributes_complete,
    assert_children_of_operation_span,
    assert_spans_end_with_their_status,
    assert_failure_recorded_on_span,
    assert_started_logged_first,
    assert_completion_logged,
    assert_logs_carry_operation_span_ids,
    assert_log_fields_complete,
    assert_failure_logs_exception,
    assert_log_lines_are_single_json_objects,
)


def holds_for_every_step(check: StepProperty, commands: Sequence[Command]) -> None:
    for step in run_sequence(commands):
        check(step)


def mostly(common: st.SearchStrategy[T], rare: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """`common` three times out of four, `rare` otherwise (`one_of` would weigh each of their branches alike)."""
    return st.sampled_from((True, True, True, False)).flatmap(lambda usual: common if usual else rare)


VALID_NAMES: Final = ("alpha", "beta", "gamma", "seed 1", "  padded  ", '{"name": "json"}', "ünïcode ✓", "x" * 200)
valid_names = st.sampled_from(VALID_NAMES)
names = mostly(
    valid_names,
    st.text(max_size=8) | st.sampled_from(["", "   ", "tab\there", "line\nbreak", "nul\x00", "x" * 201]),
)
valid_descriptions = st.sampled_from(["", "plain", '{"json": [1, "two"]}', "multi\nline\n", 'quote " and \\ slash'])
descriptions = mostly(valid_descriptions, st.text(max_size=16) | st.just("bell\x07"))
pages = mostly(
    st.builds(PageRequest, st.integers(1, 5), st.integers(0, 3)),
    st.sampled_from([PageRequest(0), PageRequest(-1), PageRequest(PAGE_MAX_LIMIT + 1), PageRequest(offset=-1)])
    | st.just(PageRequest(offset=PAGE_MAX_OFFSET + 1)),
)
search_texts = mostly(
    st.sampled_from(["a", "ALPH", "et", "line", "{", "zzz", "q" * 200]),
    st.text(max_size=6) | st.sampled_from(["", "nul\x00", "x" * 300, "é" * 257]),
)
field_errors = st.builds(
    FieldError,
    st.sampled_from(["name", "q", "limit", "body"]) | st.text(max_size=8),
    st.text(max_size=20) | st.sampled_from(['{"json": true}', "line\nbreak", '"quoted"\r\n']),
)
rejections = st.builds(
    Reject, st.sampled_from(OPERATIONS), st.lists(field_errors, min_size=1, max_size=3).map(InvalidInput)
)


def dependency_lists(ids: st.SearchStrategy[UUID]) -> st.SearchStrategy[tuple[UUID, ...]]:
    return mostly(st.lists(ids, max_size=3, unique=True), st.lists(ids, min_size=2, max_size=3)).map(tuple)


def drafts(ids: st.SearchStrategy[UUID]) -> st.SearchStrategy[ResourceDraft]:
    return st.builds(ResourceDraft, names, descriptions, dependency_lists(ids))


def resource_changes(ids: st.SearchStrategy[UUID]) -> st.SearchStrategy[ResourceChanges]:
    return st.builds(ResourceChanges, st.none() | names, st.none() | descriptions, st.none() | dependency_lists(ids))


def command_strategy(ids: st.SearchStrategy[UUID]) -> st.SearchStrategy[Command]:
    return st.one_of(
        st.builds(Create, drafts(ids)),
        st.builds(Get, ids),
        st.builds(ListPage, pages),
        st.builds(Update, ids, resource_changes(ids)),
        st.builds(Delete, ids),
        st.builds(DeleteCascade, ids),
        st.builds(Search, search_texts, pages),
        st.builds(Dependencies, ids, st.booleans()),
        rejections,
    )


SEED_SIZE: Final = 5


def seed_draft(number: int, dependencies: set[int]) -> ResourceDraft:
    earlier = tuple(UUID(int=d) for d in sorted(dependencies) if 0 < d < number)
    return ResourceDraft(f"seed {number}", 'seeded\n{"by": "test"}', earlier)


def seed(shape: list[set[int]]) -> list[Command]:
    """Creates building a random acyclic graph: resource k may depend on any of resources 1..k-1."""
    return [Create(seed_draft(number, dependencies)) for number, dependencies in enumerate(shape, start=1)]


seeds = st.lists(st.sets(st.integers(1, SEED_SIZE - 1), max_size=2), max_size=SEED_SIZE).map(seed)
sequence_ids = mostly(st.integers(1, SEED_SIZE), st.integers(0, SEED_SIZE + 2)).map(lambda n: UUID(int=n))
command_sequences = st.builds(operator.add, seeds, st.lists(command_strategy(sequence_ids), max_size=12))


@given(command_sequences)
def test_every_operation_records_exactly_one_duration(commands: list[Command]) -> None:
    holds_for_every_step(assert_one_duration_per_operation, commands)


@given(command_sequences)
def test_success_increments_the_success_count(commands: list[Command]) -> None:
    holds_for_every_step(assert_success_counted, commands)


@given(command_sequences)
def test_failure_increments_the_error_counts_with_its_error_type(commands: list[Command]) -> None:
    holds_for_every_step(assert_failure_counted, commands)


@given(command_sequences)
def test_metric_attributes_are_complete_and_bounded(commands: list[Command]) -> None:
    holds_for_every_step(assert_metric_attributes_bounded, commands)


@given(command_sequences)
def test_resource_count_equals_the_stored_resources(commands: list[Command]) -> None:
    holds_for_every_step(assert_resource_count_matches_store, commands)


@given(command_sequences)
def test_every_repository_call_is_timed_with_its_method_and_database(commands: list[Command]) -> None:
    holds_for_every_step(assert_repository_calls_timed, commands)


@given(command_sequences)
def test_cascade_delete_records_the_number_removed(commands: list[Command]) -> None:
    holds_for_every_step(assert_cascade_size_recorded, commands)


@given(command_sequences)
def test_every_operation_opens_exactly_one_root_operation_span(commands: list[Command]) -> None:
    holds_for_every_step(assert_one_operation_span, commands)


@given(command_sequences)
def test_operation_span_attributes_are_complete(commands: list[Command]) -> None:
    holds_for_every_step(assert_span_attributes_complete, commands)


@given(command_sequences)
def test_validation_and_repository_spans_are_children_of_the_operation_span(commands: list[Command]) -> None:
    holds_for_every_step(assert_children_of_operation_span, commands)


@given(command_sequences)
def test_every_span_ends_with_the_status_of_its_outcome(commands: list[Command]) -> None:
    holds_for_every_step(assert_spans_end_with_their_status, commands)


@given(command_sequences)
def test_failed_operation_records_its_exception_on_the_span(commands: list[Command]) -> None:
    holds_for_every_step(assert_failure_recorded_on_span, commands)


@given(command_sequences)
def test_every_operation_logs_started_first(commands: list[Command]) -> None:
    holds_for_every_step(assert_started_logged_first, commands)


@given(command_sequences)
def test_every_completion_logs_its_duration_and_success(commands: list[Command]) -> None:
    holds_for_every_step(assert_completion_logged, commands)


@given(command_sequences)
def test_every_log_record_carries_the_operation_span_ids(commands: list[Command]) -> None:
    holds_for_every_step(assert_logs_carry_operation_span_ids, commands)


@given(command_sequences)
def test_log_fields_are_complete(commands: list[Command]) -> None:
    holds_for_every_step(assert_log_fields_complete, commands)


@given(command_sequences)
def test_failures_log_the_exception(commands: list[Command]) -> None:
    holds_for_every_step(assert_failure_logs_exception, commands)


@given(command_sequences)
def test_log_lines_are_single_line_json_objects(commands: list[Command]) -> None:
    holds_for_every_step(assert_log_lines_are_single_json_objects, commands)


@given(
    chain=st.integers(2, 4),
    blank=st.sampled_from(["", "   ", "\t\n"]),
    stranger=st.integers(SEED_SIZE + 1, 2**64).map(lambda n: UUID(int=n)),
)
def test_every_domain_error_keeps_the_telemetry_contract(chain: int, blank: str, stranger: UUID) -> None:
    first, last = UUID(int=1), UUID(int=chain)
    refusals: list[Command] = [
        Create(ResourceDraft(blank)),
        Create(ResourceDraft("seed 1")),
        Create(ResourceDraft("orphan", dependencies=(stranger,))),
        Get(stranger),
        Delete(first),
        Update(first, ResourceChanges(dependencies=(last,))),
        Update(last, ResourceChanges(dependencies=(last,))),
        Reject("search", InvalidInput([FieldError("q", "must not be empty")])),
        DeleteCascade(first),
    ]
    steps = run_sequence(seed([{k} for k in range(chain)]) + refusals)
    assert {type(step.error) for step in steps if step.error} == set(ERROR_TYPE_OF)
    assert any(not step.failed for step in steps)
    for step in steps:
        for check in STEP_PROPERTIES:
            check(step)


@given(
    seeded=seeds,
    text=search_texts | st.builds(operator.mul, st.characters(), st.integers(150, 2 * SEARCH_QUERY_MAX_CHARS)),
    page=pages,
)
def test_search_span_carries_the_truncated_query_and_result_count(
    seeded: list[Command], text: str, page: PageRequest
) -> None:
    for step in run_sequence([*seeded, Search(text, page)]):
        assert_span_attributes_complete(step)


@given(st.lists(st.integers(1, SEED_SIZE), min_size=3, max_size=3).map(sorted))
def test_closing_a_cycle_counts_a_circular_dependency(source_target_length: list[int]) -> None:
    """In a chain where each resource depends on the one before, `source` cannot depend on a later `target`."""
    source, target, length = source_target_length
    closing = Update(UUID(int=source), ResourceChanges(dependencies=(UUID(int=target),)))
    steps = run_sequence([*seed([{k} for k in range(length)]), closing])
    assert isinstance(steps[-1].error, CircularDependency)
    for step in steps:
        assert_failure_counted(step)


def comparable(result: object, error: DomainError | None) -> object:
    return result if error is None else (type(error), error.args, vars(error))


Outcome = tuple[object, DomainError | None]


def assert_same_outcomes(commands: Sequence[Command], served: Served, reference: Served) -> list[Outcome]:
    """Run `commands` on both services, compare them step by step, and return the reference's outcomes."""

    async def outcomes(on: Served) -> list[Outcome]:
        return [await attempt(command, on) for command in commands]

    actual, expected = asyncio.run(outcomes(served)), asyncio.run(outcomes(reference))
    for command, got, wanted in zip(commands, actual, expected, strict=True):
        assert comparable(*got) == comparable(*wanted), command
    return expected


@given(command_sequences)
def test_disabled_observability_behaves_identically(commands: list[Command]) -> None:
    observed, store = ObservedService(), InMemoryUnitOfWork()
    assert_same_outcomes(commands, deterministic(store, NoTelemetry()), observed.served)
    assert store.resources == observed.unit_of_work.resources


class TelemetryOutage(RuntimeError):
    """What every call to a broken telemetry adapter raises."""


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def outage(self) -> NoReturn:
        self.calls += 1
        raise TelemetryOutage(type(self).__name__)


class BrokenMetrics(Broken, MetricsPort):
    def record_operation(self, operation: Operation, duration_s: float, error_type: ErrorType | None) -> None:
        self.outage()

    def record_cascade(self, size: int) -> None:
        self.outage()

    def record_circular_dependency(self, operation: Operation) -> None:
        self.outage()

    def record_repository_call(
        self, method: str, duration_s: float, database: Database, error_type: ErrorType | None
    ) -> None:
        self.outage()

    def set_resource_count(self, count: int) -> None:
        self.outage()

    def observe_admission(self, state: AdmissionState) -> None:
        self.outage()

    def record_shed(self, reason: ShedReason) -> None:
        self.outage()


class BrokenLogging(Broken, LoggingPort):
    def operation_started(self, operation: Operation, fields: Mapping[str, LogValue]) -> None:
        self.outage()

    def operation_completed(self, operation: Operation, duration_ms: float, fields: Mapping[str, LogValue]) -> None:
        self.outage()

    def operation_failed(
        self,
        operation: Operation,
        duration_ms: float,
        error_type: ErrorType,
        exc: BaseException,
        fields: Mapping[str, LogValue],
    ) -> None:
        self.outage()


class BrokenSpan(Broken, SpanPort):
    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        self.outage()

    def fail(self, exc: BaseException, error_type: ErrorType, *, record_exception: bool = True) -> None:
        self.outage()


class BrokenTracing(Broken, TracingPort):
    def __init__(self) -> None:
        super().__init__()
        self.opened = BrokenSpan()

    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None, kind: SpanKind = "INTERNAL"
    ) -> Iterator[SpanPort]:
        yield self.opened


@given(command_sequences)
def test_failing_telemetry_adapters_never_break_an_operation(commands: list[Command]) -> None:
    metrics, tracing, logging = BrokenMetrics(), BrokenTracing(), BrokenLogging()
    broken = deterministic(InMemoryUnitOfWork(), Telemetry(metrics, tracing, logging))
    healthy = deterministic(InMemoryUnitOfWork(), NoTelemetry())
    outcomes = assert_same_outcomes(commands, broken, healthy)
    refused = any(isinstance(command, Reject) for command in commands) or any(error for _, error in outcomes)
    assert bool(metrics.calls) == bool(logging.calls) == bool(commands), "the broken adapters were never called"
    assert bool(tracing.opened.calls) >= refused, "the broken span was never called"


def stored_or_missing_ids(machine: TelemetryMachine) -> st.SearchStrategy[UUID]:
    stored = sorted(machine.observed.unit_of_work.resources, key=lambda resource_id: resource_id.int)
    highest = stored[-1].int if stored else 0
    missing = st.sampled_from([UUID(int=n) for n in range(highest + 2) if UUID(int=n) not in stored])
    return mostly(st.sampled_from(stored), missing) if stored else missing


machine_ids: st.SearchStrategy[UUID] = st.runner().flatmap(stored_or_missing_ids)


class TelemetryMachine(RuleBasedStateMachine):
    """Long random sessions on one service; after every step, every step property holds on its telemetry."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.observed = ObservedService()

    def perform(self, command: Command) -> None:
        step = self.loop.run_until_complete(self.observed.perform(command))
        for check in STEP_PROPERTIES:
            check(step)

    def teardown(self) -> None:
        self.loop.close()

    @initialize(commands=seeds)
    def seed_graph(self, commands: list[Command]) -> None:
        for command in commands:
            self.perform(command)

    @rule(draft=drafts(machine_ids))
    def create(self, draft: ResourceDraft) -> None:
        self.perform(Create(draft))

    @rule(resource_id=machine_ids)
    def get(self, resource_id: UUID) -> None:
        self.perform(Get(resource_id))

    @rule(page=pages)
    def list_page(self, page: PageRequest) -> None:
        self.perform(ListPage(page))

    @rule(resource_id=machine_ids, changes=resource_changes(machine_ids))
    def update(self, resource_id: UUID, changes: ResourceChanges) -> None:
        self.perform(Update(resource_id, changes))

    @rule(resource_id=machine_ids)
    def delete(self, resource_id: UUID) -> None:
        self.perform(Delete(resource_id))

    @rule(resource_id=machine_ids)
    def delete_cascade(self, resource_id: UUID) -> None:
        self.perform(DeleteCascade(resource_id))

    @rule(text=search_texts, page=pages)
    def search(self, text: str, page: PageRequest) -> None:
        self.perform(Search(text, page))

    @rule(resource_id=machine_ids, transitive=st.booleans())
    def dependencies(self, resource_id: UUID, transitive: bool) -> None:
        self.perform(Dependencies(resource_id, transitive))

    @rule(rejection=rejections)
    def reject(self, rejection: Reject) -> None:
        self.perform(rejection)


TestTelemetryMachine = TelemetryMachine.TestCase
