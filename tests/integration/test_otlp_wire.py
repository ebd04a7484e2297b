"""What really reaches an OTLP collector: the service as a subprocess, exporting to a receiver in this process.

Each variant (framework x protocol) starts `resource-service serve`, sends one fixed mix of requests, stops it
with SIGTERM (the service flushes at shutdown) and decodes everything that arrived with opentelemetry-proto.
The tests then compare it with the telemetry contract (`core/semantic_conventions.py`) and the reference docs.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from adapters.sqla.engine import POOL_SIZE
from core.semantic_conventions import (
    ADMISSION_IN_FLIGHT,
    ADMISSION_LIMIT,
    ADMISSION_SHED,
    ADMISSION_WAITING,
    ATTR_CONNECTION_STATE,
    ATTR_POOL_NAME,
    CASCADE_SIZE,
    CASCADE_SIZE_BUCKETS,
    CIRCULAR_DEPENDENCY_DETECTED,
    CONNECTION_COUNT,
    CONNECTION_MAX,
    CONNECTION_PENDING_REQUESTS,
    CONNECTION_TIMEOUTS,
    CONNECTION_USE_TIME,
    CONNECTION_WAIT_TIME,
    DURATION_BUCKETS_S,
    ERROR_TYPES,
    EVENT_COMPLETED,
    EVENT_FAILED,
    EVENT_LOOP_DELAY,
    EVENT_STARTED,
    EXPORT_FAILURES,
    GC_COLLECTED_OBJECTS,
    GC_COLLECTIONS,
    GC_UNCOLLECTABLE_OBJECTS,
    LOGGER_NAME,
    METRICS,
    OPERATION_DURATION,
    OPERATION_ERRORS,
    OPERATIONS,
    OPERATIONS_TOTAL,
    PROCESS_CPU_TIME,
    PROCESS_FILE_DESCRIPTOR_COUNT,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_THREAD_COUNT,
    REPOSITORY_CALLS,
    REPOSITORY_DURATION,
    REPOSITORY_SPAN_PREFIX,
    RESOURCE_COUNT,
    SATURATION_METRICS,
    SPAN_CASCADE_SIZE,
    SPAN_DEPENDENCY_COUNT,
    SPAN_OPERATION,
    SPAN_RESOURCE_ID,
    SPAN_SEARCH_QUERY,
    SPAN_SEARCH_QUERY_LENGTH,
    SPAN_SEARCH_RESULT_COUNT,
    VALIDATE_SPAN,
)
from entrypoints.settings import AdmissionSettings

from .otlp_receiver import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_INTERNAL,
    SPAN_KIND_SERVER,
    STATUS_ERROR,
    HttpReceiver,
    LogData,
    MetricPoint,
    Received,
    ServiceProcess,
    SpanData,
    framework_name,
    receiver_for,
    service_environment,
)

FRAMEWORKS = ("fastapi", "fastapi-native", "litestar")
PROTOCOLS = ("http/protobuf", "grpc")
VARIANTS = [(framework, protocol) for protocol in PROTOCOLS for framework in FRAMEWORKS]
NOT_NATIVE_METRICS = {"http.server.request.body.size", "http.server.response.body.size"}
SECRET = "s3cr3t-value"
ENVIRONMENT_NAME = "wire-test"
SHUTDOWN_SECONDS = 15.0
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")

# The fixed mix, in order: (label, operation, expected status). Labels name the requests in `Mix.statuses`.
EXPECTED_STATUSES = {
    "create db": 201,
    "create api": 201,
    "get api": 200,
    "list": 200,
    "search api": 200,
    "dependencies api": 200,
    "update db closing a cycle": 409,
    "create with invalid JSON": 400,
    "delete db cascading": 200,
    "get deleted db": 404,
}
# Operations the mix runs, by (operation, outcome), and the failures by (operation, error.type).
EXPECTED_OPERATIONS = Counter(
    {
        ("create", "success"): 2,
        ("create", "error"): 1,
        ("get", "success"): 1,
        ("get", "error"): 1,
        ("list", "success"): 1,
        ("search", "success"): 1,
        ("dependencies", "success"): 1,
        ("update", "error"): 1,
        ("delete", "success"): 1,
    }
)
EXPECTED_ERRORS = Counter({("create", "validation"): 1, ("get", "not_found"): 1, ("update", "circular_dependency"): 1})
# The HTTP server span each operation's route gets (stable HTTP semantic conventions: `METHOD route`).
ROUTE_SPAN_NAMES = {
    "create": "POST /resources",
    "get": "GET /resources/{id}",
    "list": "GET /resources",
    "search": "GET /resources/search",
    "dependencies": "GET /resources/{id}/dependencies",
    "update": "PATCH /resources/{id}",
    "delete": "DELETE /resources/{id}",
}


@dataclass(frozen=True, slots=True)
class WireRun:
    """One service process's run: the answers it gave, what the receiver decoded, how it ended."""

    framework: str
    protocol: str
    statuses: dict[str, int]
    ids: dict[str, str]
    received: Received
    return_code: int | None
    shutdown_seconds: float | None
    stdout: str
    stderr: str
    database: Path

    def operation_spans(self) -> list[SpanData]:
        return [s for s in self.received.spans() if SPAN_OPERATION in s.attributes]

    def operation_logs(self) -> list[LogData]:
        return [r for r in self.received.log_records() if r.attributes.get("logger") == LOGGER_NAME]

    def points(self, name: str) -> list[MetricPoint]:
        return [p for p in self.received.metric_points() if p.name == name]


def _send_mix(base_url: str) -> tuple[dict[str, int], dict[str, str]]:
    statuses: dict[str, int] = {}
    ids: dict[str, str] = {}
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        response = client.post("/resources", json={"name": "db", "description": "the database"})
        statuses["create db"] = response.status_code
        ids["db"] = response.json()["id"]
        response = client.post("/resources", json={"name": "api", "dependencies": [ids["db"]]})
        statuses["create api"] = response.status_code
        ids["api"] = response.json()["id"]
        statuses["get api"] = client.get(f"/resources/{ids['api']}").status_code
        statuses["list"] = client.get("/resources", params={"limit": 10}).status_code
        statuses["search api"] = client.get("/resources/search", params={"q": "api"}).status_code
        statuses["dependencies api"] = client.get(
            f"/resources/{ids['api']}/dependencies", params={"transitive": "true"}
        ).status_code
        statuses["update db closing a cycle"] = client.patch(
            f"/resources/{ids['db']}", json={"dependencies": [ids["api"]]}
        ).status_code
        statuses["create with invalid JSON"] = client.post(
            "/resources", content=b'{"name": ', headers={"content-type": "application/json"}
        ).status_code
        response = client.delete(f"/resources/{ids['db']}", params={"cascade": "true"})
        statuses["delete db cascading"] = response.status_code
        assert response.json().get("count") == 2, response.text
        statuses["get deleted db"] = client.get(f"/resources/{ids['db']}").status_code
    return statuses, ids


def _run(framework: str, protocol: str, directory: Path) -> WireRun:
    receiver = receiver_for(protocol)
    database = directory / "db.sqlite"
    env = service_environment(
        f"sqlite+aiosqlite:///{database}",
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_HEADERS": f"api-key={SECRET}",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "RESOURCE_COUNT_INTERVAL_SECONDS": "1",
            "LOG_LEVEL": "debug",
            "DEPLOYMENT_ENVIRONMENT": ENVIRONMENT_NAME,
        },
    )
    service = ServiceProcess(framework, directory, env)
    try:
        service.start()
        statuses, ids = _send_mix(service.base_url)
        return_code = service.terminate(SHUTDOWN_SECONDS)
    finally:
        service.kill()
        receiver.stop()
    return WireRun(
        framework,
        protocol,
        statuses,
        ids,
        receiver.received,
        return_code,
        service.shutdown_seconds,
        service.stdout(),
        service.stderr(),
        database,
    )


# One run per variant for the whole module: several tests read it, and the name-set comparison reads two.
_RUNS: dict[tuple[str, str], WireRun | str] = {}


def wire_run_of(framework: str, protocol: str, factory: pytest.TempPathFactory) -> WireRun:
    key = (framework, protocol)
    if key not in _RUNS:
        directory = factory.mktemp(f"wire-{framework}-{protocol.replace('/', '-')}")
        try:
            _RUNS[key] = _run(framework, protocol, directory)
        except Exception as exc:  # remembered, so the other tests of this variant fail at once
            _RUNS[key] = f"the {framework} {protocol} run failed: {exc}"
    run = _RUNS[key]
    if isinstance(run, str):
        pytest.fail(run)
    return run


@pytest.fixture(scope="module", params=VARIANTS, ids=[f"{f}-{p}" for f, p in VARIANTS])
def wire_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> WireRun:
    framework, protocol = request.param
    return wire_run_of(framework, protocol, tmp_path_factory)


def _last_by_attributes(points: list[MetricPoint]) -> dict[tuple[tuple[str, Any], ...], MetricPoint]:
    """Cumulative points: the last one received for each attribute set holds the final value."""
    last: dict[tuple[tuple[str, Any], ...], MetricPoint] = {}
    for point in points:
        last[tuple(sorted(point.attributes.items()))] = point
    return last


def _children(run: WireRun, parent: SpanData) -> list[SpanData]:
    return [s for s in run.received.spans() if s.parent_span_id == parent.span_id and s.trace_id == parent.trace_id]


def _json_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.strip():
            record = json.loads(line)
            assert isinstance(record, dict), line
            yield record


# --- The receiver itself ---------------------------------------------------------------------------------------


def test_the_http_receiver_decodes_a_gzip_export() -> None:
    """The SDK's own OTLP/HTTP exporter, compressing, against the receiver: the span arrives decoded."""
    with HttpReceiver() as receiver:
        provider = TracerProvider(resource=Resource({"service.name": "receiver-test"}), shutdown_on_exit=False)
        exporter = OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces", compression=Compression.Gzip)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("test").start_as_current_span("gzipped", attributes={"k": 1}):
            pass
        provider.shutdown()
    (span,) = receiver.received.spans()
    assert (span.name, span.attributes, span.resource["service.name"]) == ("gzipped", {"k": 1}, "receiver-test")
    assert receiver.received.headers[0].get("content-encoding") == "gzip"


# --- The run itself ---------------------------------------------------------------------------------------------


def test_the_mix_is_answered_and_sigterm_exits_0(wire_run: WireRun) -> None:
    assert wire_run.statuses == EXPECTED_STATUSES
    assert wire_run.return_code == 0, wire_run.stderr[-3000:]
    print(f"\n{wire_run.framework} {wire_run.protocol}: SIGTERM -> exit in {wire_run.shutdown_seconds:.2f} s")


def test_every_signal_arrives_with_the_service_resource(wire_run: WireRun) -> None:
    assert wire_run.received.signals() == {"traces", "metrics", "logs"}
    resources = wire_run.received.resources()
    assert resources
    instance_ids = {r.get("service.instance.id") for r in resources}
    assert len(instance_ids) == 1, f"one process, one service.instance.id on every signal: {instance_ids}"
    (instance_id,) = instance_ids
    assert isinstance(instance_id, str)
    assert instance_id
    for resource in resources:
        assert resource.get("service.version") == version("resource-service")
        assert resource.get("deployment.environment.name") == ENVIRONMENT_NAME
        assert resource.get("framework.name") == framework_name(wire_run.framework)


def test_service_name_is_resource_service_without_otel_service_name(wire_run: WireRun) -> None:
    """README and .env.example: OTEL_SERVICE_NAME defaults to `resource-service`."""
    names = {r.get("service.name") for r in wire_run.received.resources()}
    assert names == {"resource-service"}


# --- Traces -----------------------------------------------------------------------------------------------------


def test_operation_spans_carry_the_contract_attributes(wire_run: WireRun) -> None:
    spans = wire_run.operation_spans()
    by_name = Counter(s.name for s in spans)
    assert by_name == Counter(
        {
            "resource.create": 3,
            "resource.get": 2,
            "resource.list": 1,
            "resource.search": 1,
            "resource.dependencies": 1,
            "resource.update": 1,
            "resource.delete": 1,
        }
    )
    for span in spans:
        assert span.name == f"resource.{span.attributes[SPAN_OPERATION]}"
        assert span.kind == SPAN_KIND_INTERNAL
        assert span.scope == "resource_service"
        assert HEX32.match(span.trace_id)
        assert HEX16.match(span.span_id)
    creates = [s for s in spans if s.name == "resource.create"]
    created = {s.attributes.get(SPAN_RESOURCE_ID) for s in creates if "error.type" not in s.attributes}
    assert created == {wire_run.ids["db"], wire_run.ids["api"]}
    (refused,) = [s for s in creates if "error.type" in s.attributes]
    assert refused.attributes["error.type"] == "validation"
    assert refused.status_code == STATUS_ERROR
    assert "exception" in refused.event_names
    (search,) = [s for s in spans if s.name == "resource.search"]
    assert search.attributes[SPAN_SEARCH_QUERY] == "api"
    assert search.attributes[SPAN_SEARCH_QUERY_LENGTH] == 3
    assert search.attributes[SPAN_SEARCH_RESULT_COUNT] == 1
    (update,) = [s for s in spans if s.name == "resource.update"]
    assert update.attributes["error.type"] == "circular_dependency"
    assert update.attributes[SPAN_RESOURCE_ID] == wire_run.ids["db"]
    assert update.status_code == STATUS_ERROR
    (delete,) = [s for s in spans if s.name == "resource.delete"]
    assert delete.attributes[SPAN_CASCADE_SIZE] == 2
    assert delete.attributes[SPAN_RESOURCE_ID] == wire_run.ids["db"]
    (dependencies,) = [s for s in spans if s.name == "resource.dependencies"]
    assert dependencies.attributes[SPAN_DEPENDENCY_COUNT] == 1
    not_found = [s for s in spans if s.name == "resource.get" and s.attributes.get("error.type") == "not_found"]
    assert [s.attributes[SPAN_RESOURCE_ID] for s in not_found] == [wire_run.ids["db"]]


def test_child_spans_are_validate_and_repository_calls_of_the_operation(wire_run: WireRun) -> None:
    spans = wire_run.operation_spans()
    for span in spans:
        for child in _children(wire_run, span):
            assert child.name == VALIDATE_SPAN or child.name.startswith(REPOSITORY_SPAN_PREFIX), child.name
            if child.name == VALIDATE_SPAN:
                assert (child.kind, child.attributes) == (SPAN_KIND_INTERNAL, {}), child.name
            else:  # a database client call, in the conventions' words
                operation, collection = REPOSITORY_CALLS[child.name.removeprefix(REPOSITORY_SPAN_PREFIX)]
                assert child.kind == SPAN_KIND_CLIENT, child.name
                assert child.attributes == {
                    "db.system.name": "sqlite",
                    "db.namespace": str(wire_run.database),
                    "db.operation.name": operation,
                    "db.collection.name": collection,
                } | ({"error.type": child.attributes["error.type"]} if "error.type" in child.attributes else {})
            assert _children(wire_run, child) == [], "child spans never nest"
    successful_creates = [s for s in spans if s.name == "resource.create" and "error.type" not in s.attributes]
    for create in successful_creates:
        names = {c.name for c in _children(wire_run, create)}
        assert {VALIDATE_SPAN, "resource.repository.add", "resource.repository.count"} <= names
    (refused,) = [s for s in spans if s.name == "resource.create" and "error.type" in s.attributes]
    assert _children(wire_run, refused) == [], "a request refused at the HTTP edge has no child spans"
    (update,) = [s for s in spans if s.name == "resource.update"]
    assert "resource.repository.dependency_path" in {c.name for c in _children(wire_run, update)}
    (delete,) = [s for s in spans if s.name == "resource.delete"]
    assert {"resource.repository.transitive_dependents", "resource.repository.delete"} <= {
        c.name for c in _children(wire_run, delete)
    }


def test_operation_span_parent_is_the_http_server_span(wire_run: WireRun) -> None:
    spans = wire_run.operation_spans()
    assert spans
    servers = {(s.trace_id, s.span_id): s for s in wire_run.received.spans() if s.kind == SPAN_KIND_SERVER}
    if not servers:
        pytest.xfail("no SERVER span arrived: HTTP server instrumentation is not wired into `serve` yet")
    for span in spans:
        parent = servers.get((span.trace_id, span.parent_span_id))
        assert parent is not None, f"{span.name} has no HTTP server span as parent"
        assert parent.name == ROUTE_SPAN_NAMES[span.attributes[SPAN_OPERATION]]
    assert not any(s.name.endswith(("/health/ready", "/health/live")) for s in servers.values())


# --- Metrics ----------------------------------------------------------------------------------------------------


def test_duration_histogram_is_in_seconds_with_the_contract_buckets(wire_run: WireRun) -> None:
    points = wire_run.points(OPERATION_DURATION)
    assert points
    for point in points:
        assert point.kind == "histogram"
        assert point.unit == "s"
        assert point.explicit_bounds == DURATION_BUCKETS_S
    final = _last_by_attributes(points)
    counts = Counter({(p.attributes["operation"], p.attributes["outcome"]): p.count or 0 for p in final.values()})
    assert counts == EXPECTED_OPERATIONS
    error_types = {p.attributes.get("error.type") for p in final.values() if p.attributes["outcome"] == "error"}
    assert error_types == {"validation", "not_found", "circular_dependency"}
    assert all("error.type" not in p.attributes for p in final.values() if p.attributes["outcome"] == "success")
    assert all(0 < (p.value or 0) < 10 for p in final.values()), "durations are seconds"


def test_operation_counters_count_each_operation_once(wire_run: WireRun) -> None:
    operations = _last_by_attributes(wire_run.points(OPERATIONS_TOTAL))
    assert {p.kind for p in operations.values()} == {"sum"}
    assert all(p.monotonic for p in operations.values())
    assert (
        Counter({(p.attributes["operation"], p.attributes["outcome"]): int(p.value or 0) for p in operations.values()})
        == EXPECTED_OPERATIONS
    )
    errors = _last_by_attributes(wire_run.points(OPERATION_ERRORS))
    assert (
        Counter({(p.attributes["operation"], p.attributes["error.type"]): int(p.value or 0) for p in errors.values()})
        == EXPECTED_ERRORS
    )
    counted = {p.attributes["error.type"] for p in errors.values() if p.value}
    assert counted == {"validation", "not_found", "circular_dependency"}
    assert len(errors) == len(OPERATIONS) * len(ERROR_TYPES), "every error series exists from the start, at 0"


def test_count_cascade_and_circular_dependency_metrics(wire_run: WireRun) -> None:
    count = wire_run.points(RESOURCE_COUNT)
    assert count
    assert {p.kind for p in count} == {"gauge"}
    assert all(p.attributes == {} for p in count)
    assert count[-1].value == 0, "the cascade removed both resources"
    assert max(p.value or 0 for p in count) <= 2
    (cascade,) = _last_by_attributes(wire_run.points(CASCADE_SIZE)).values()
    assert cascade.kind == "histogram"
    assert cascade.unit == "{resource}"
    assert cascade.explicit_bounds == CASCADE_SIZE_BUCKETS
    assert (cascade.count, cascade.value) == (1, 2.0)
    (circular,) = _last_by_attributes(wire_run.points(CIRCULAR_DEPENDENCY_DETECTED)).values()
    assert circular.kind == "sum"
    assert circular.attributes == {"operation": "update"}
    assert circular.value == 1


def test_export_failures_counter_is_exported_per_signal_and_zero(wire_run: WireRun) -> None:
    final = _last_by_attributes(wire_run.points(EXPORT_FAILURES))
    assert {p.attributes.get("signal") for p in final.values()} == {"traces", "metrics", "logs"}
    assert all(p.kind == "sum" and p.monotonic for p in final.values())
    assert {p.attributes["signal"]: p.value for p in final.values()} == {"traces": 0, "metrics": 0, "logs": 0}


def test_every_contract_metric_arrives(wire_run: WireRun) -> None:
    names = {p.name for p in wire_run.received.metric_points()}
    assert {*METRICS, EXPORT_FAILURES} <= names


def test_every_contract_metric_has_its_unit(wire_run: WireRun) -> None:
    """Seconds for durations, an annotation for every count ({operation}, {error}, ...): none is unitless."""
    units = {p.name: p.unit for p in wire_run.received.metric_points() if p.name in {*METRICS, EXPORT_FAILURES}}
    assert units == {
        OPERATION_DURATION: "s",
        OPERATIONS_TOTAL: "{operation}",
        OPERATION_ERRORS: "{error}",
        RESOURCE_COUNT: "{resource}",
        CASCADE_SIZE: "{resource}",
        CIRCULAR_DEPENDENCY_DETECTED: "{operation}",
        REPOSITORY_DURATION: "s",
        ADMISSION_IN_FLIGHT: "{request}",
        ADMISSION_WAITING: "{request}",
        ADMISSION_LIMIT: "{request}",
        ADMISSION_SHED: "{request}",
        EXPORT_FAILURES: "{export}",
    }


def test_admission_reports_its_state_and_counts_no_refusal_at_calm_load(wire_run: WireRun) -> None:
    last = {name: _last_by_attributes(wire_run.points(name)) for name in (ADMISSION_LIMIT, ADMISSION_SHED)}
    assert [point.value for point in last[ADMISSION_LIMIT].values()] == [AdmissionSettings().max_concurrency]
    assert {p.attributes["reason"]: p.value for p in last[ADMISSION_SHED].values()} == {
        "queue_full": 0,
        "wait_timeout": 0,
    }
    assert all(p.kind == "gauge" for p in wire_run.points(ADMISSION_IN_FLIGHT) + wire_run.points(ADMISSION_WAITING))


def test_every_saturation_metric_arrives_with_its_unit(wire_run: WireRun) -> None:
    units = {p.name: p.unit for p in wire_run.received.metric_points() if p.name in SATURATION_METRICS}
    assert units == {
        EVENT_LOOP_DELAY: "s",
        CONNECTION_COUNT: "{connection}",
        CONNECTION_MAX: "{connection}",
        CONNECTION_PENDING_REQUESTS: "{request}",
        CONNECTION_TIMEOUTS: "{timeout}",
        CONNECTION_WAIT_TIME: "s",
        CONNECTION_USE_TIME: "s",
        PROCESS_CPU_TIME: "s",
        PROCESS_MEMORY_USAGE: "By",
        PROCESS_MEMORY_VIRTUAL: "By",
        # The system-metrics instrumentation gives these two no unit, where the conventions say {thread} and
        # {file_descriptor} (docs/metrics-reference.md, "Saturation metrics").
        PROCESS_THREAD_COUNT: "",
        PROCESS_FILE_DESCRIPTOR_COUNT: "",
        GC_COLLECTIONS: "{collection}",
        GC_COLLECTED_OBJECTS: "{object}",
        GC_UNCOLLECTABLE_OBJECTS: "{object}",
    }


def test_the_pool_reports_its_sqlite_file_and_its_connections_by_state(wire_run: WireRun) -> None:
    counts = _last_by_attributes(wire_run.points(CONNECTION_COUNT))
    assert {p.attributes[ATTR_POOL_NAME] for p in counts.values()} == {str(wire_run.database)}
    assert {p.attributes[ATTR_CONNECTION_STATE] for p in counts.values()} == {"idle", "used"}
    assert all(p.kind == "sum" and p.monotonic is False for p in counts.values())
    (bound,) = _last_by_attributes(wire_run.points(CONNECTION_MAX)).values()
    assert bound.value == POOL_SIZE
    waits = _last_by_attributes(wire_run.points(CONNECTION_WAIT_TIME))
    assert sum(p.count or 0 for p in waits.values()) >= 1


def test_the_event_loop_delay_is_a_histogram_in_seconds_with_the_duration_buckets(wire_run: WireRun) -> None:
    (delays,) = _last_by_attributes(wire_run.points(EVENT_LOOP_DELAY)).values()
    assert delays.kind == "histogram"
    assert delays.explicit_bounds == DURATION_BUCKETS_S
    assert (delays.count or 0) >= 1


def test_the_batch_processors_count_what_they_process_and_drop(wire_run: WireRun) -> None:
    processed = {p.name: p for p in wire_run.received.metric_points() if p.name.startswith("otel.sdk.processor.")}
    assert {"otel.sdk.processor.span.processed", "otel.sdk.processor.log.processed"} <= set(processed)


# --- Logs -------------------------------------------------------------------------------------------------------


def test_operation_logs_carry_the_operation_span_ids(wire_run: WireRun) -> None:
    records = wire_run.operation_logs()
    bodies = Counter(r.body for r in records)
    assert bodies == Counter({EVENT_STARTED: 10, EVENT_COMPLETED: 7, EVENT_FAILED: 3})
    spans = {(s.trace_id, s.span_id): s for s in wire_run.operation_spans()}
    severities = {EVENT_STARTED: (5, "DEBUG"), EVENT_COMPLETED: (9, "INFO"), EVENT_FAILED: (13, "WARNING")}
    for record in records:
        assert HEX32.match(record.trace_id), record
        assert HEX16.match(record.span_id), record
        assert isinstance(record.body, str), record
        span = spans.get((record.trace_id, record.span_id))
        assert span is not None, f"{record.body} of {record.attributes.get('operation')} is not in an operation span"
        assert span.attributes[SPAN_OPERATION] == record.attributes["operation"]
        assert (record.severity_number, record.severity_text) == severities[record.body]
        assert "trace_id" not in record.attributes
        assert "span_id" not in record.attributes
    failed = [r for r in records if r.body == EVENT_FAILED]
    assert {r.attributes["error.type"] for r in failed} == {"validation", "not_found", "circular_dependency"}
    # All refusals the client caused: their type and message, and no stack trace.
    assert all(r.attributes["exception.type"] and r.attributes["exception.message"] for r in failed)
    assert not any("exception.stacktrace" in r.attributes for r in failed)


def test_stdout_has_the_same_operation_records_as_json(wire_run: WireRun) -> None:
    exported = {(r.body, r.trace_id, r.span_id, r.time_unix_nano) for r in wire_run.operation_logs()}
    lines = [r for r in _json_lines(wire_run.stdout) if r.get("logger") == LOGGER_NAME]
    assert {(r["event"], r["trace_id"], r["span_id"], _unix_nanos(r["timestamp"])) for r in lines} == exported


def test_operation_records_carry_their_event_name(wire_run: WireRun) -> None:
    assert all(r.event_name == r.body for r in wire_run.operation_logs())


def _unix_nanos(timestamp: str) -> int:
    return (datetime.fromisoformat(timestamp) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


# --- No secret --------------------------------------------------------------------------------------------------


def test_no_secret_reaches_the_receiver_or_the_output(wire_run: WireRun) -> None:
    received = wire_run.received
    assert any(h.get("api-key") == SECRET for h in received.headers), "the header is sent, as configured"
    secret = SECRET.encode()
    assert all(secret not in payload for payload in received.raw_payloads)
    assert all(secret not in payload for payload in received.serialized())
    for span in received.spans():
        assert SECRET not in repr((span.name, span.attributes, span.resource))
    for point in received.metric_points():
        assert SECRET not in repr((point.name, point.attributes, point.resource))
    for record in received.log_records():
        assert SECRET not in repr((record.body, record.attributes, record.resource))
    assert SECRET not in wire_run.stdout
    assert SECRET not in wire_run.stderr


# --- The same names from both frameworks --------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_both_frameworks_emit_the_same_names(protocol: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    runs = {framework: wire_run_of(framework, protocol, tmp_path_factory) for framework in FRAMEWORKS}
    # The SDK's own metrics (otel.sdk.*) depend on how many collections happened before the stop.
    metric_names = {
        framework: {p.name for p in run.received.metric_points() if not p.name.startswith("otel.sdk.")}
        for framework, run in runs.items()
    }
    span_names = [{s.name for s in run.received.spans()} for run in runs.values()]
    log_events = [{r.body for r in run.operation_logs()} for run in runs.values()]
    assert metric_names["fastapi"] == metric_names["litestar"]
    # A documented gap (docs/tracing-guide.md): FastAPI's native telemetry records no HTTP body sizes.
    assert metric_names["fastapi-native"] == metric_names["fastapi"] - NOT_NATIVE_METRICS
    assert span_names[0] == span_names[1] == span_names[2]
    assert log_events[0] == log_events[1] == log_events[2] == {EVENT_STARTED, EVENT_COMPLETED, EVENT_FAILED}
