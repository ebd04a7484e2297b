"""The telemetry docs list exactly what the service emits: every metric, span, span attribute, log event and field.

A fixed scenario drives a `ResourceService` with in-memory telemetry through every operation and every error
type; what the adapters recorded is compared, in both directions, with the reference tables of
docs/metrics-reference.md, docs/tracing-guide.md and docs/logging-reference.md.

Convention: a Markdown table whose first header cell is `metric`, `span`, `attribute`, `event`, `field` or
`error.type` is a reference table. Each row's first cell holds exactly one name in backticks; other columns
are read by their header (`attributes`, `values`, `level`), taking every backticked word in the cell.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from adapters.memory.repository import InMemoryUnitOfWork
from adapters.memory.telemetry import InMemoryMetrics, in_memory_telemetry
from adapters.otel.process_metrics import PROCESS_METRIC_VIEWS, OtelProcessMetrics
from adapters.otel.resilience import ExportFailures
from adapters.otel.saturation import OtelSaturationMetrics
from core.errors import (
    CircularDependency,
    DuplicateName,
    FieldError,
    HasDependents,
    InvalidInput,
    ResourceNotFound,
    StorageError,
    UnknownDependencies,
)
from core.instrumentation import Instrumentation
from core.model import PageRequest, ResourceChanges, ResourceDraft
from core.semantic_conventions import (
    CASCADE_SIZE_BUCKETS,
    DURATION_BUCKETS_S,
    ERROR_TYPES,
    LOGGER_NAME,
    OPERATIONS,
    OUTCOMES,
    SATURATION_METRICS,
    SEARCH_QUERY_MAX_CHARS,
    Database,
    repository_span_name,
)
from core.service import ResourceService
from entrypoints.http.admission import AdmissionGate
from entrypoints.settings import AdmissionSettings
from ports.repository import AutocommitRepository, ResourceRepository
from ports.saturation_metrics import ConnectionPoolState
from ports.unit_of_work import UnitOfWork

DOCS = Path(__file__).resolve().parents[2] / "docs"
METRICS_DOC = "metrics-reference.md"
TRACING_DOC = "tracing-guide.md"
LOGGING_DOC = "logging-reference.md"

# One span per ResourceRepository method (those it has from AutocommitRepository included): the scenario must open
# each, so the docs must name each.
REPOSITORY_SPANS = frozenset(
    repository_span_name(name)
    for name, member in {**vars(AutocommitRepository), **vars(ResourceRepository)}.items()
    if callable(member) and not name.startswith("_")
)

_BACKTICKED = re.compile(r"`([^`]+)`")
_SEPARATOR_CELL = re.compile(r"^:?-{3,}:?$")
_CELL_BORDER = re.compile(r"(?<!\\)\|")


# --- What the code emits ---------------------------------------------------------------------------------------


@dataclass
class Emitted:
    """Everything the in-memory adapters recorded during the scenario."""

    metric_attributes: dict[str, set[str]] = field(default_factory=dict)
    metric_values: dict[str, set[str]] = field(default_factory=dict)
    span_names: set[str] = field(default_factory=set)
    span_attributes: set[str] = field(default_factory=set)
    log_levels: dict[str, set[str]] = field(default_factory=dict)
    log_fields: set[str] = field(default_factory=set)
    loggers: set[str] = field(default_factory=set)


# The scenario's store is labelled as PostgreSQL, so that it emits every database client attribute.
SCENARIO_DATABASE = Database("postgresql", "resources", "db.example", 5432)


class FailingReads(UnitOfWork):
    """The in-memory unit of work, except that the next `autocommit()` blocks (the service's gets, lists and
    searches) raise each exception queued in `failures`."""

    def __init__(self, inner: UnitOfWork) -> None:
        self.inner = inner
        self.failures: list[BaseException] = []

    def read(self) -> AbstractAsyncContextManager[ResourceRepository]:
        return self.inner.read()

    def write(self) -> AbstractAsyncContextManager[ResourceRepository]:
        return self.inner.write()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AutocommitRepository]:
        if self.failures:
            raise self.failures.pop(0)
        async with self.inner.autocommit() as calls:
            yield calls

    async def ping(self) -> None:
        await self.inner.ping()


async def _expect(error: type[BaseException], call: Awaitable[object]) -> None:
    with pytest.raises(error):
        await call


async def _scenario(service: ResourceService, instrumentation: Instrumentation, uow: FailingReads) -> None:
    unknown = UUID(int=999)
    page = PageRequest(limit=10, offset=0)
    db = await service.create(ResourceDraft("db"))
    api = await service.create(ResourceDraft("api", "serves db", (db.id,)))
    web = await service.create(ResourceDraft("web", dependencies=(api.id,)))
    await service.get(api.id)
    await service.list_page(page)
    await service.search("API", page)
    # Over-long search text: truncated on the span, then refused by validation.
    await _expect(InvalidInput, service.search("x" * (SEARCH_QUERY_MAX_CHARS + 1), page))
    await service.update(web.id, ResourceChanges(name="website", description="the front end"))
    await service.update(web.id, ResourceChanges(dependencies=(api.id, db.id)))
    await service.dependencies(web.id, transitive=False)
    await service.dependencies(web.id, transitive=True)
    await _expect(CircularDependency, service.update(db.id, ResourceChanges(dependencies=(web.id,))))
    await _expect(DuplicateName, service.create(ResourceDraft("db")))
    await _expect(UnknownDependencies, service.create(ResourceDraft("orphan", dependencies=(unknown,))))
    await _expect(InvalidInput, service.create(ResourceDraft("   ")))
    await _expect(ResourceNotFound, service.get(unknown))
    await _expect(HasDependents, service.delete(db.id))
    instrumentation.record_rejection(
        "create", InvalidInput([FieldError("name", "must not be empty or only white space")])
    )
    uow.failures.append(StorageError("the database failed"))
    await _expect(StorageError, service.get(db.id))
    uow.failures.append(RuntimeError("a bug"))
    await _expect(RuntimeError, service.list_page(page))
    uow.failures.append(asyncio.CancelledError())  # as if the request's task were cancelled in the store
    await _expect(asyncio.CancelledError, service.list_page(page))
    await service.refresh_resource_count()
    await service.delete(web.id)
    await service.delete_cascade(db.id)


async def _admission_scenario(metrics: InMemoryMetrics) -> None:
    """The HTTP edge's admission control, full: one request served, one refused at once, one after waiting."""
    gate = AdmissionGate(AdmissionSettings(max_concurrency=1, max_waiting=1, max_wait_s=0.001), metrics.record_shed)
    metrics.observe_admission(gate)
    assert await gate.enter() is None
    waiting = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    assert await gate.enter() == "queue_full"
    metrics.collect()
    assert await waiting == "wait_timeout"
    gate.leave()


def _collect() -> Emitted:
    telemetry, metrics, tracing, logging = in_memory_telemetry()
    uow = FailingReads(InMemoryUnitOfWork())
    instrumentation = Instrumentation(telemetry, database=SCENARIO_DATABASE)
    asyncio.run(_scenario(ResourceService(uow, instrumentation), instrumentation, uow))
    asyncio.run(_admission_scenario(metrics))
    emitted = Emitted()
    for point in metrics.points:
        emitted.metric_attributes.setdefault(point.instrument, set()).update(point.attributes)
        for key, value in point.attributes.items():
            emitted.metric_values.setdefault(key, set()).add(str(value))
    for span in tracing.spans:
        emitted.span_names.add(span.name)
        emitted.span_attributes.update(span.attributes)
    for record in logging.records:
        emitted.log_levels.setdefault(record["event"], set()).add(record["level"])
        emitted.loggers.add(record["logger"])
        emitted.log_fields.update(record)
    return emitted


@pytest.fixture(scope="module")
def emitted() -> Emitted:
    return _collect()


# --- What the docs say -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of a reference table: its backticked name, and the backticked words of each other column."""

    doc: str
    name: str
    cells: Mapping[str, frozenset[str]]

    def column(self, header: str) -> frozenset[str]:
        """The backticked words of this row under `header`."""
        assert header in self.cells, f"docs/{self.doc}: the table of `{self.name}` has no {header!r} column"
        return self.cells[header]


def _split(line: str) -> list[str]:
    """The cells of one table row; `\\|` inside a cell is an escaped pipe, not a border."""
    return [cell.strip() for cell in _CELL_BORDER.split(line.strip().removeprefix("|").removesuffix("|"))]


def _tables(text: str) -> Iterable[list[list[str]]]:
    """Every Markdown table of `text` outside code blocks: its header row and body rows, each a list of cells."""
    block: list[str] = []
    in_code = False
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and line.lstrip().startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2 and all(_SEPARATOR_CELL.match(cell) for cell in _split(block[1])):
            yield [_split(block[0]), *(_split(row) for row in block[2:])]
        block = []


def reference_rows(doc: str, kind: str) -> list[Row]:
    """The rows of every table in `doc` whose first header cell is `kind`."""
    rows = []
    for header, *body in _tables((DOCS / doc).read_text(encoding="utf-8")):
        if header[0].strip("`").lower() != kind:
            continue
        columns = [cell.lower() for cell in header]
        for cells in body:
            assert len(cells) == len(columns), f"docs/{doc}: row has {len(cells)} cells, header {len(columns)}: {cells}"
            names = _BACKTICKED.findall(cells[0])
            assert len(names) == 1, f"docs/{doc}: a {kind!r} table row must name exactly one `name`: {cells[0]!r}"
            rows.append(
                Row(doc, names[0], {c: frozenset(_BACKTICKED.findall(v)) for c, v in zip(columns, cells, strict=True)})
            )
    assert rows, f"docs/{doc}: no table whose first header cell is {kind!r}"
    return rows


def documented(doc: str, kind: str) -> set[str]:
    return {row.name for row in reference_rows(doc, kind)}


def assert_same(what: str, doc: str, where: str, emitted: Iterable[str], listed: Iterable[str]) -> None:
    """`emitted` and `listed` hold the same names; `where` says where in `doc` they are listed."""
    emitted, listed = set(emitted), set(listed)
    problems = []
    if missing := sorted(emitted - listed):
        problems.append(f"emitted but missing from {where}: {missing}")
    if extra := sorted(listed - emitted):
        problems.append(f"listed in {where} but never emitted (remove them, or extend the scenario): {extra}")
    assert not problems, f"docs/{doc}, {what}: " + "; ".join(problems)


def rows_of(kind: str) -> str:
    return f"the first column of a table headed {kind!r}"


def column_of(row: str, column: str, kind: str) -> str:
    return f"the {column!r} column of the `{row}` row (table headed {kind!r})"


def bucket_list(bounds: Iterable[float]) -> str:
    return "`" + ", ".join(f"{bound:g}" for bound in bounds) + "`"


# --- The scenario is complete ------------------------------------------------------------------------------------


def test_the_scenario_reaches_every_operation_error_type_and_repository_method(emitted: Emitted) -> None:
    assert emitted.metric_values["operation"] == set(OPERATIONS), "extend the scenario: an operation is missing"
    assert emitted.metric_values["error.type"] == set(ERROR_TYPES), "extend the scenario: an error type is missing"
    missing = sorted(REPOSITORY_SPANS - emitted.span_names)
    assert not missing, f"extend the scenario: repository spans never opened: {missing}"


# --- Metrics -------------------------------------------------------------------------------------------------------


def test_every_metric_is_documented(emitted: Emitted) -> None:
    assert_same("metrics", METRICS_DOC, rows_of("metric"), emitted.metric_attributes, documented(METRICS_DOC, "metric"))


def test_every_metric_lists_its_attributes(emitted: Emitted) -> None:
    for row in reference_rows(METRICS_DOC, "metric"):
        assert_same(
            f"attributes of `{row.name}`",
            METRICS_DOC,
            column_of(row.name, "attributes", "metric"),
            emitted.metric_attributes.get(row.name, set()),
            row.column("attributes"),
        )


def test_every_metric_names_its_prometheus_series() -> None:
    for row in reference_rows(METRICS_DOC, "metric"):
        series = row.column("prometheus series")
        stem = row.name.replace(".", "_")
        wrong = sorted(name for name in series if not name.startswith(stem))
        assert series, f"docs/{METRICS_DOC}: `{row.name}` names no Prometheus series"
        assert not wrong, f"docs/{METRICS_DOC}: Prometheus series of `{row.name}` must start with {stem}: {wrong}"


def test_every_metric_attribute_value_is_documented(emitted: Emitted) -> None:
    rows = {row.name: row.column("values") for row in reference_rows(METRICS_DOC, "attribute")}
    assert_same("metric attributes", METRICS_DOC, rows_of("attribute"), emitted.metric_values, rows)
    for attribute, values in (("operation", OPERATIONS), ("outcome", OUTCOMES), ("error.type", ERROR_TYPES)):
        where = column_of(attribute, "values", "attribute")
        assert_same(f"values of `{attribute}`", METRICS_DOC, where, values, rows[attribute])
    assert_same("error types", METRICS_DOC, rows_of("error.type"), ERROR_TYPES, documented(METRICS_DOC, "error.type"))


@pytest.mark.parametrize(("name", "bounds"), [("duration", DURATION_BUCKETS_S), ("cascade", CASCADE_SIZE_BUCKETS)])
def test_histogram_boundaries_are_documented(name: str, bounds: tuple[float, ...]) -> None:
    expected = bucket_list(bounds)
    text = (DOCS / METRICS_DOC).read_text(encoding="utf-8")
    assert expected in text, f"docs/{METRICS_DOC}: the {name} bucket boundaries must appear as {expected}"


# --- Traces --------------------------------------------------------------------------------------------------------


def test_every_span_is_documented(emitted: Emitted) -> None:
    assert_same("span names", TRACING_DOC, rows_of("span"), emitted.span_names, documented(TRACING_DOC, "span"))


def test_every_span_attribute_is_documented(emitted: Emitted) -> None:
    assert_same(
        "span attributes",
        TRACING_DOC,
        rows_of("attribute"),
        emitted.span_attributes,
        documented(TRACING_DOC, "attribute"),
    )


# --- Logs ----------------------------------------------------------------------------------------------------------


def test_every_log_event_is_documented_with_its_levels(emitted: Emitted) -> None:
    rows = {row.name: row.column("level") for row in reference_rows(LOGGING_DOC, "event")}
    assert_same("log events", LOGGING_DOC, rows_of("event"), emitted.log_levels, rows)
    for event, levels in emitted.log_levels.items():
        assert_same(f"levels of `{event}`", LOGGING_DOC, column_of(event, "level", "event"), levels, rows[event])


def test_every_log_field_is_documented(emitted: Emitted) -> None:
    assert_same("log fields", LOGGING_DOC, rows_of("field"), emitted.log_fields, documented(LOGGING_DOC, "field"))


def test_the_logger_name_is_documented(emitted: Emitted) -> None:
    assert emitted.loggers == {LOGGER_NAME}
    text = (DOCS / LOGGING_DOC).read_text(encoding="utf-8")
    assert f"`{LOGGER_NAME}`" in text, f"docs/{LOGGING_DOC}: the logger name `{LOGGER_NAME}` is not named"


def test_every_adapter_metric_is_documented() -> None:
    reader = InMemoryMetricReader()
    ExportFailures(time.monotonic).observe_with(MeterProvider(metric_readers=[reader]))
    data = reader.get_metrics_data()
    assert data is not None
    emitted = {
        metric.name
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    }
    assert_same(
        "adapter metrics", METRICS_DOC, rows_of("adapter metric"), emitted, documented(METRICS_DOC, "adapter metric")
    )


def _saturation_instruments() -> dict[str, tuple[str, frozenset[str]]]:
    """Every saturation metric as its adapters register it: name -> (unit, attribute keys)."""
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], views=PROCESS_METRIC_VIEWS)
    saturation = OtelSaturationMetrics(meter_provider)
    saturation.observe_connection_pool("pool", lambda: ConnectionPoolState(1, 1, 10, 0))
    saturation.record_event_loop_delay(0.001)
    saturation.record_connection_wait("pool", 0.001)
    saturation.record_connection_timeout("pool")
    saturation.record_connection_use("pool", 0.001)
    process = OtelProcessMetrics()
    process.start(meter_provider)
    try:
        data = reader.get_metrics_data()
    finally:
        process.stop()
    assert data is not None
    instruments: dict[str, tuple[str, frozenset[str]]] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                keys = frozenset(key for point in metric.data.data_points for key in point.attributes or {})
                instruments[metric.name] = (metric.unit or "", keys)
    return instruments


def test_every_saturation_metric_is_documented_with_its_unit_attributes_and_series() -> None:
    instruments = _saturation_instruments()
    rows = {row.name: row for row in reference_rows(METRICS_DOC, "saturation metric")}
    assert_same("saturation metrics", METRICS_DOC, rows_of("saturation metric"), SATURATION_METRICS, rows)
    assert set(instruments) == set(SATURATION_METRICS)
    for name, (unit, attributes) in instruments.items():
        row = rows[name]
        assert row.column("unit") == ({unit} if unit else set()), f"docs/{METRICS_DOC}: the unit of `{name}`"
        assert_same(f"attributes of `{name}`", METRICS_DOC, column_of(name, "attributes", "saturation metric"),
                    attributes, row.column("attributes"))  # fmt: skip
        stem = name.replace(".", "_")
        series = row.column("prometheus series")
        assert series, f"docs/{METRICS_DOC}: `{name}` names no Prometheus series"
        assert all(item.startswith(stem) for item in series), f"docs/{METRICS_DOC}: the series of `{name}`"


def test_every_saturation_attribute_is_documented() -> None:
    emitted = set().union(*(attributes for _unit, attributes in _saturation_instruments().values()))
    listed = documented(METRICS_DOC, "saturation attribute")
    assert_same("saturation attributes", METRICS_DOC, rows_of("saturation attribute"), emitted, listed)
