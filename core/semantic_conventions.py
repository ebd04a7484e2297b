"""The telemetry contract: every metric, span and log name the service emits; dashboards and docs depend on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final, Literal, get_args

Operation = Literal["create", "get", "list", "update", "delete", "search", "dependencies"]
Outcome = Literal["success", "error"]
ErrorType = Literal[
    "validation", "not_found", "conflict", "circular_dependency", "has_dependents", "database", "internal", "cancelled"
]
# Why admission control refused a request: no slot and the waiting line full, or no slot freed in the wait allowed.
ShedReason = Literal["queue_full", "wait_timeout"]
OPERATIONS: Final[tuple[Operation, ...]] = get_args(Operation)
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)
ERROR_TYPES: Final[tuple[ErrorType, ...]] = get_args(ErrorType)
SHED_REASONS: Final[tuple[ShedReason, ...]] = get_args(ShedReason)

# The instrumentation scope of everything the service itself emits (Prometheus label otel_scope_name).
INSTRUMENTATION_SCOPE: Final = "resource_service"

# Metrics (OpenTelemetry names; Prometheus adds the unit and _total / _bucket suffixes).
OPERATION_DURATION: Final = "resource.operation.duration"
OPERATIONS_TOTAL: Final = "resource.operations"
OPERATION_ERRORS: Final = "resource.operation.errors"
RESOURCE_COUNT: Final = "resource.count"
CASCADE_SIZE: Final = "resource.cascade.size"
CIRCULAR_DEPENDENCY_DETECTED: Final = "resource.circular_dependency.detected"
REPOSITORY_DURATION: Final = "resource.repository.duration"
# Admission control (entrypoints/http/admission.py), per worker: requests served and waiting for a slot now, the
# bound on those served, and the requests refused, by `reason`.
ADMISSION_IN_FLIGHT: Final = "admission.requests.in_flight"
ADMISSION_WAITING: Final = "admission.requests.waiting"
ADMISSION_LIMIT: Final = "admission.concurrency.limit"
ADMISSION_SHED: Final = "admission.requests.shed"
# Emitted by the OpenTelemetry adapters only: exports to the collector that failed, by `signal`.
EXPORT_FAILURES: Final = "telemetry.export.failures"
METRICS: Final = (
    OPERATION_DURATION,
    OPERATIONS_TOTAL,
    OPERATION_ERRORS,
    RESOURCE_COUNT,
    CASCADE_SIZE,
    CIRCULAR_DEPENDENCY_DETECTED,
    REPOSITORY_DURATION,
    ADMISSION_IN_FLIGHT,
    ADMISSION_WAITING,
    ADMISSION_LIMIT,
    ADMISSION_SHED,
)

# Saturation: what every request shares (docs/metrics-reference.md, "Saturation metrics"). The connection pool's
# are OpenTelemetry's database client conventions; the event loop's delay has no convention and is named after
# Node.js's `nodejs.eventloop.delay.*`, for asyncio's loop (uvloop's too), as a histogram.
EVENT_LOOP_DELAY: Final = "asyncio.eventloop.delay"
CONNECTION_COUNT: Final = "db.client.connection.count"
CONNECTION_MAX: Final = "db.client.connection.max"
CONNECTION_PENDING_REQUESTS: Final = "db.client.connection.pending_requests"
CONNECTION_TIMEOUTS: Final = "db.client.connection.timeouts"
CONNECTION_WAIT_TIME: Final = "db.client.connection.wait_time"
CONNECTION_USE_TIME: Final = "db.client.connection.use_time"
CONNECTION_POOL_METRICS: Final = (
    CONNECTION_COUNT,
    CONNECTION_MAX,
    CONNECTION_PENDING_REQUESTS,
    CONNECTION_TIMEOUTS,
    CONNECTION_WAIT_TIME,
    CONNECTION_USE_TIME,
)
# Emitted by opentelemetry-instrumentation-system-metrics on the SDK's meter provider; the file descriptors under
# the conventions' current name (the library still uses the deprecated `process.open_file_descriptor.count`).
PROCESS_CPU_TIME: Final = "process.cpu.time"
PROCESS_MEMORY_USAGE: Final = "process.memory.usage"
PROCESS_MEMORY_VIRTUAL: Final = "process.memory.virtual"
PROCESS_THREAD_COUNT: Final = "process.thread.count"
PROCESS_FILE_DESCRIPTOR_COUNT: Final = "process.unix.file_descriptor.count"
GC_COLLECTIONS: Final = "cpython.gc.collections"
GC_COLLECTED_OBJECTS: Final = "cpython.gc.collected_objects"
GC_UNCOLLECTABLE_OBJECTS: Final = "cpython.gc.uncollectable_objects"
PROCESS_METRICS: Final = (
    PROCESS_CPU_TIME,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_THREAD_COUNT,
    PROCESS_FILE_DESCRIPTOR_COUNT,
    GC_COLLECTIONS,
    GC_COLLECTED_OBJECTS,
    GC_UNCOLLECTABLE_OBJECTS,
)
SATURATION_METRICS: Final = (EVENT_LOOP_DELAY, *CONNECTION_POOL_METRICS, *PROCESS_METRICS)
ATTR_POOL_NAME: Final = "db.client.connection.pool.name"
ATTR_CONNECTION_STATE: Final = "db.client.connection.state"
ATTR_GC_GENERATION: Final = "cpython.gc.generation"
ConnectionState = Literal["idle", "used"]

# Seconds from 0.5 ms to 10 s: the SDK's default boundaries assume milliseconds.
DURATION_BUCKETS_S: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CASCADE_SIZE_BUCKETS: Final = (1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 5_000.0, 10_000.0)

# Metric attributes: every value comes from the closed sets above.
ATTR_OPERATION: Final = "operation"
ATTR_OUTCOME: Final = "outcome"
ATTR_ERROR_TYPE: Final = "error.type"
ATTR_REPOSITORY_METHOD: Final = "method"
ATTR_SHED_REASON: Final = "reason"
# OpenTelemetry's database client conventions, on repository spans and `resource.repository.duration`.
ATTR_DB_SYSTEM: Final = "db.system.name"
ATTR_DB_OPERATION: Final = "db.operation.name"
ATTR_DB_COLLECTION: Final = "db.collection.name"
ATTR_DB_NAMESPACE: Final = "db.namespace"
ATTR_SERVER_ADDRESS: Final = "server.address"
ATTR_SERVER_PORT: Final = "server.port"
# What each repository method does, in those conventions' words: its SQL command and the table it is about.
REPOSITORY_CALLS: Final[dict[str, tuple[str, str]]] = {
    "get": ("SELECT", "resources"),
    "get_many": ("SELECT", "resources"),
    "existing_ids": ("SELECT", "resources"),
    "add": ("INSERT", "resources"),
    "replace": ("UPDATE", "resources"),
    "delete": ("DELETE", "resources"),
    "count": ("SELECT", "resource_count_shards"),
    "list_page": ("SELECT", "resources"),
    "search": ("SELECT", "resources"),
    "direct_dependents": ("SELECT", "resource_dependencies"),
    "transitive_dependents": ("SELECT", "resource_dependencies"),
    "transitive_dependencies": ("SELECT", "resources"),
    "dependency_path": ("SELECT", "resource_dependencies"),
}


@dataclass(frozen=True, slots=True)
class Database:
    """The store, as the database client conventions name it; `system` is None for a store that is no DBMS."""

    system: str | None
    namespace: str | None = None
    server_address: str | None = None
    server_port: int | None = None

    def attributes(self) -> dict[str, str | int]:
        """`db.system.name`, `db.namespace`, `server.address` and `server.port`, those that are known."""
        named = {
            ATTR_DB_SYSTEM: self.system,
            ATTR_DB_NAMESPACE: self.namespace,
            ATTR_SERVER_ADDRESS: self.server_address,
            ATTR_SERVER_PORT: self.server_port,
        }
        return {name: value for name, value in named.items() if value is not None}


IN_MEMORY: Final = Database(None)

# Spans.
SPAN_PREFIX: Final = "resource."
VALIDATE_SPAN: Final = "resource.validate"
REPOSITORY_SPAN_PREFIX: Final = "resource.repository."
SPAN_OPERATION: Final = "resource.operation"
SPAN_RESOURCE_ID: Final = "resource.id"
SPAN_DEPENDENCY_COUNT: Final = "resource.dependency.count"
SPAN_CASCADE_SIZE: Final = "resource.cascade.size"
SPAN_SEARCH_QUERY: Final = "search.query"
SPAN_SEARCH_QUERY_LENGTH: Final = "search.query.length"
SPAN_SEARCH_RESULT_COUNT: Final = "search.result.count"
SEARCH_QUERY_MAX_CHARS: Final = 256

# Logs.
LOGGER_NAME: Final = "resource_service.operations"
EVENT_STARTED: Final = "operation.started"
EVENT_COMPLETED: Final = "operation.completed"
EVENT_FAILED: Final = "operation.failed"
LOG_RESOURCE_ID: Final = "resource_id"
LOG_DURATION_MS: Final = "duration_ms"
LOG_OUTCOME: Final = "outcome"
# OpenTelemetry's exception semantic conventions.
LOG_EXCEPTION_TYPE: Final = "exception.type"
LOG_EXCEPTION_MESSAGE: Final = "exception.message"
LOG_EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
# Failures the client caused are warnings; failures of the service itself are errors.
SERVER_ERROR_TYPES: Final[frozenset[ErrorType]] = frozenset({"database", "internal"})


def operation_span_name(operation: Operation) -> str:
    """`resource.<operation>`."""
    return SPAN_PREFIX + operation


def repository_span_name(method: str) -> str:
    """`resource.repository.<method>`."""
    return REPOSITORY_SPAN_PREFIX + method


def outcome_of(error_type: ErrorType | None) -> Outcome:
    """`success` when there is no error type."""
    return "success" if error_type is None else "error"


def duration_attributes(operation: Operation, error_type: ErrorType | None) -> dict[str, str]:
    """Attributes of `resource.operation.duration`: operation, outcome, and error.type on errors."""
    attributes: dict[str, str] = {ATTR_OPERATION: operation, ATTR_OUTCOME: outcome_of(error_type)}
    if error_type is not None:
        attributes[ATTR_ERROR_TYPE] = error_type
    return attributes


def count_attributes(operation: Operation, error_type: ErrorType | None) -> dict[str, str]:
    """Attributes of `resource.operations`: operation and outcome."""
    return {ATTR_OPERATION: operation, ATTR_OUTCOME: outcome_of(error_type)}


def circular_dependency_attributes(operation: Operation) -> dict[str, str]:
    """Attributes of `resource.circular_dependency.detected`: operation."""
    return {ATTR_OPERATION: operation}


@cache
def repository_call_attributes(method: str, database: Database) -> Mapping[str, str | int]:
    """Attributes of a repository call's span: the database's, with the call's operation and collection.

    None of them for a store that is no DBMS (the in-memory one): its calls are not database client calls. Each
    call of the repository asks for them (its span, its metric point), so they are built once per method and
    database.
    """
    if database.system is None:
        return {}
    operation, collection = REPOSITORY_CALLS[method]
    return {**database.attributes(), ATTR_DB_OPERATION: operation, ATTR_DB_COLLECTION: collection}


@cache
def repository_attributes(method: str, database: Database, error_type: ErrorType | None) -> Mapping[str, str | int]:
    """Attributes of `resource.repository.duration`: the method, the call's database attributes, and error.type."""
    attributes: dict[str, str | int] = {ATTR_REPOSITORY_METHOD: method, **repository_call_attributes(method, database)}
    if error_type is not None:
        attributes[ATTR_ERROR_TYPE] = error_type
    return attributes


def shed_attributes(reason: ShedReason) -> dict[str, str]:
    """Attributes of `admission.requests.shed`: reason."""
    return {ATTR_SHED_REASON: reason}


@cache
def pool_attributes(pool_name: str) -> Mapping[str, str]:
    """Attributes of every `db.client.connection.*` metric: the pool's name; built once per pool, as every borrowed
    connection records with them."""
    return {ATTR_POOL_NAME: pool_name}


def connection_count_attributes(pool_name: str, state: ConnectionState) -> dict[str, str]:
    """Attributes of `db.client.connection.count`: the pool's name and the connections' state."""
    return {ATTR_POOL_NAME: pool_name, ATTR_CONNECTION_STATE: state}


def error_attributes(operation: Operation, error_type: ErrorType) -> dict[str, str]:
    """Attributes of `resource.operation.errors`: operation and error.type."""
    return {ATTR_OPERATION: operation, ATTR_ERROR_TYPE: error_type}
