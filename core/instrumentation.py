"""The one instrumentation path: every service operation is timed, traced, logged and measured here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
    nullcontext,
)
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, ParamSpec, TypeVar
from uuid import UUID

from core.errors import DomainError, error_type_of
from core.model import PageRequest, Resource
from core.semantic_conventions import (
    IN_MEMORY,
    LOG_RESOURCE_ID,
    SEARCH_QUERY_MAX_CHARS,
    SPAN_CASCADE_SIZE,
    SPAN_DEPENDENCY_COUNT,
    SPAN_OPERATION,
    SPAN_RESOURCE_ID,
    SPAN_SEARCH_QUERY,
    SPAN_SEARCH_QUERY_LENGTH,
    SPAN_SEARCH_RESULT_COUNT,
    VALIDATE_SPAN,
    Database,
    ErrorType,
    Operation,
    operation_span_name,
    repository_call_attributes,
    repository_span_name,
)
from ports.logging import LoggingPort, LogValue
from ports.metrics import MetricsPort
from ports.noop import NO_OP_SPAN, NO_OP_SPAN_CONTEXT, NoOpLogging, NoOpMetrics, NoOpTracing
from ports.repository import AutocommitRepository, ResourceRepository
from ports.tracing import AttributeValue, SpanKind, SpanPort, TracingPort

_P = ParamSpec("_P")
_T = TypeVar("_T")
_fallback = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Telemetry:
    """The three observability ports the core reports to.

    A bundle of adapters is on, whatever they are: one made of the no-op adapters records nothing, yet the
    instrumentation still does its own bookkeeping (clock reads, scopes, repository wrappers) for it. Observability
    off is its own type, `NoTelemetry`.
    """

    # Whether the instrumentation does its bookkeeping: a property of the type, not of an instance.
    enabled: ClassVar[bool] = True

    metrics: MetricsPort
    tracing: TracingPort
    logging: LoggingPort


class NoTelemetry(Telemetry):
    """Observability off: the ports' no-op adapters, and the instrumentation skips its own work, so that off costs
    next to nothing."""

    __slots__ = ()
    enabled: ClassVar[bool] = False

    def __init__(self) -> None:
        Telemetry.__init__(self, NoOpMetrics(), NoOpTracing(), NoOpLogging())


@dataclass(slots=True)
class OperationScope:
    """What one running operation has learnt about itself, for its span, its logs and its metrics."""

    span: SpanPort
    log_fields: dict[str, LogValue] = field(default_factory=dict)
    cascade_size: int | None = None
    resource_count: int | None = None

    def record_resource_id(self, resource_id: UUID) -> None:
        """The operation concerns this resource."""
        self.log_fields[LOG_RESOURCE_ID] = str(resource_id)
        self.annotate({SPAN_RESOURCE_ID: str(resource_id)})

    def record_dependency_count(self, count: int) -> None:
        """The resource has, or the operation returned, `count` dependencies."""
        self.annotate({SPAN_DEPENDENCY_COUNT: count})

    def record_search_text(self, text: str) -> None:
        """The operation searches for `text` (on the span only, truncated: never on metrics)."""
        self.annotate({SPAN_SEARCH_QUERY: text[:SEARCH_QUERY_MAX_CHARS], SPAN_SEARCH_QUERY_LENGTH: len(text)})

    def record_search_result_count(self, count: int) -> None:
        """The search matched `count` resources in all (not only on the page returned)."""
        self.annotate({SPAN_SEARCH_RESULT_COUNT: count})

    def record_cascade_size(self, size: int) -> None:
        """A cascading delete removed `size` resources."""
        self.cascade_size = size
        self.annotate({SPAN_CASCADE_SIZE: size})

    async def record_resource_count(self, read_count: Callable[[], Awaitable[int]]) -> None:
        """After this operation the store holds `await read_count()` resources: read only when it is reported."""
        self.resource_count = await read_count()

    def annotate(self, attributes: dict[str, AttributeValue]) -> None:
        _quietly(self.span.set_attributes, attributes)


class _SilentScope(OperationScope):
    """The scope of every operation while observability is disabled: it keeps nothing, so one is shared.

    Core logic, not an adapter: it is how the instrumentation skips its bookkeeping. Its span is the ports' no-op.
    """

    def record_resource_id(self, resource_id: UUID) -> None:
        pass

    def record_dependency_count(self, count: int) -> None:
        pass

    def record_search_text(self, text: str) -> None:
        pass

    def record_search_result_count(self, count: int) -> None:
        pass

    def record_cascade_size(self, size: int) -> None:
        pass

    async def record_resource_count(self, read_count: Callable[[], Awaitable[int]]) -> None:
        pass  # nothing reports it: the count is not read at all

    def annotate(self, attributes: dict[str, AttributeValue]) -> None:
        pass


def _quietly(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Telemetry must never break a request: a failing adapter is reported through stdlib logging and ignored."""
    try:
        call(*args, **kwargs)
    except Exception:
        _fallback.exception("telemetry adapter failed; the request goes on")


class Instrumentation:
    """Wraps operations, validation and repository calls in spans, logs and metrics.

    `database` is what stores the resources, as the database client conventions name it: the composition root,
    which picks the store, says what it is, and every repository call's span and duration carry it.
    """

    def __init__(
        self, telemetry: Telemetry, *, database: Database = IN_MEMORY, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._database = database
        # The exception that ended the last operation of this context (one request's task), which recorded it.
        # Kept here rather than on the exception: observability must leave what callers see unchanged.
        self._last_failure: ContextVar[BaseException | None] = ContextVar("last_operation_failure", default=None)
        self._metrics = telemetry.metrics
        self._tracing = telemetry.tracing
        self._logging = telemetry.logging
        self._enabled = telemetry.enabled
        self._clock = clock
        self._silent_scope = _SilentScope(NO_OP_SPAN)
        # Entered by every operation while disabled: no generator to run, the one silent scope.
        self._silent_operation = nullcontext(self._silent_scope)

    def operation(
        self, operation: Operation, resource_id: UUID | None = None, *, error_type: ErrorType | None = None
    ) -> AbstractAsyncContextManager[OperationScope]:
        """Run one operation on `resource_id` if it has one; `error_type` overrides how its failure is classed."""
        if not self._enabled:
            return self._silent_operation
        return self._observed(operation, resource_id, error_type)

    @asynccontextmanager
    async def _observed(
        self, operation: Operation, resource_id: UUID | None, error_type: ErrorType | None
    ) -> AsyncIterator[OperationScope]:
        started = self._clock()
        with self._started(operation, resource_id) as scope:
            try:
                yield scope
            except (Exception, asyncio.CancelledError) as exc:  # a cancelled operation ends, and is recorded, too
                self._failed(operation, scope, exc, error_type or error_type_of(exc), self._clock() - started)
                raise
            self._succeeded(operation, scope, self._clock() - started)

    def record_rejection(self, operation: Operation, error: Exception) -> None:
        """Record a request refused before the service ran (malformed or invalid input) as a failed `operation`."""
        if not self._enabled:
            return
        started = self._clock()
        with self._started(operation, None) as scope:
            self._failed(operation, scope, error, "validation", self._clock() - started)

    def has_recorded(self, exc: BaseException) -> bool:
        """`exc` ended an operation, which recorded it: an outer layer (the HTTP edge) must not record it again."""
        return self._last_failure.get() is exc

    @contextmanager
    def _started(self, operation: Operation, resource_id: UUID | None) -> Iterator[OperationScope]:
        """The operation's span, current while the body runs, and its `operation.started` record."""
        with self._tracing.span(operation_span_name(operation), {SPAN_OPERATION: operation}) as span:
            scope = OperationScope(span)
            if resource_id is not None:
                scope.record_resource_id(resource_id)
            _quietly(self._logging.operation_started, operation, dict(scope.log_fields))
            yield scope

    def record_resource_count(self, count: int) -> None:
        """The store holds `count` resources (read outside any operation)."""
        _quietly(self._metrics.set_resource_count, count)

    def validation(self) -> AbstractContextManager[object]:
        """Input checks, in a child span."""
        # Disabled: the no-op span's one reusable context, entered again and again.
        return self._tracing.span(VALIDATE_SPAN) if self._enabled else NO_OP_SPAN_CONTEXT

    def traced(self, repository: ResourceRepository) -> ResourceRepository:
        """`repository` with every call timed, in a child span `resource.repository.<method>`."""
        if not self._enabled:
            return repository
        return _TracedRepository(repository, self._database, self._tracing, self._metrics, self._clock)

    def traced_autocommit(self, repository: AutocommitRepository) -> AutocommitRepository:
        """`repository` (calls outside a transaction) traced as `traced` traces a transaction's."""
        if not self._enabled:
            return repository
        return _TracedAutocommitRepository(repository, self._database, self._tracing, self._metrics, self._clock)

    def _succeeded(self, operation: Operation, scope: OperationScope, elapsed: float) -> None:
        _quietly(self._metrics.record_operation, operation, elapsed, None)
        if scope.cascade_size is not None:
            _quietly(self._metrics.record_cascade, scope.cascade_size)
        if scope.resource_count is not None:
            _quietly(self._metrics.set_resource_count, scope.resource_count)
        _quietly(self._logging.operation_completed, operation, elapsed * 1000, dict(scope.log_fields))

    def _failed(
        self, operation: Operation, scope: OperationScope, exc: BaseException, error_type: ErrorType, elapsed: float
    ) -> None:
        self._last_failure.set(exc)
        _quietly(scope.span.fail, exc, error_type)
        _quietly(self._metrics.record_operation, operation, elapsed, error_type)
        if error_type == "circular_dependency":
            _quietly(self._metrics.record_circular_dependency, operation)
        _quietly(self._logging.operation_failed, operation, elapsed * 1000, error_type, exc, dict(scope.log_fields))


class _TracedAutocommitRepository(AutocommitRepository):
    """Implements the autocommit repository port by delegating each method, each call timed and in its own child span.

    Every port method is written out and goes through `_traced`, so the type checker sees the port: a method the
    port gains and this class lacks leaves it abstract, an error where `Instrumentation` builds it.

    On a DBMS the span is a database client call: kind CLIENT, with the database conventions' attributes. The
    in-memory store is no DBMS: its spans stay INTERNAL, without them.
    """

    def __init__(
        self,
        repository: AutocommitRepository,
        database: Database,
        tracing: TracingPort,
        metrics: MetricsPort,
        clock: Callable[[], float],
    ) -> None:
        self._repository = repository
        self._database = database
        self._kind: SpanKind = "INTERNAL" if database.system is None else "CLIENT"
        self._tracing = tracing
        self._metrics = metrics
        self._clock = clock

    async def get(self, resource_id: UUID) -> Resource | None:
        return await self._traced("get", self._repository.get, resource_id)

    async def add(self, resource: Resource) -> None:
        return await self._traced("add", self._repository.add, resource)

    async def count(self) -> int:
        return await self._traced("count", self._repository.count)

    async def list_page(self, page: PageRequest) -> tuple[list[Resource], int]:
        return await self._traced("list_page", self._repository.list_page, page)

    async def search(self, text: str, page: PageRequest) -> tuple[list[Resource], int]:
        return await self._traced("search", self._repository.search, text, page)

    async def _traced(self, method: str, call: Callable[_P, Awaitable[_T]], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """`call`, the repository's `method`, timed and in its span; a failure is marked on the span and re-raised."""
        attributes = repository_call_attributes(method, self._database)
        started = self._clock()
        error_type: ErrorType | None = None
        try:
            with self._tracing.span(repository_span_name(method), attributes, self._kind) as span:
                try:
                    return await call(*args, **kwargs)
                except Exception as exc:
                    error_type = _call_error_type(exc)
                    # The operation span records the exception; this call says only that it failed, and how.
                    _quietly(span.fail, exc, error_type, record_exception=False)
                    raise
        finally:
            elapsed = self._clock() - started
            _quietly(self._metrics.record_repository_call, method, elapsed, self._database, error_type)


class _TracedRepository(_TracedAutocommitRepository, ResourceRepository):
    """The same for the whole repository port, inside a transaction."""

    _repository: ResourceRepository

    async def get_many(self, resource_ids: Collection[UUID]) -> list[Resource]:
        return await self._traced("get_many", self._repository.get_many, resource_ids)

    async def existing_ids(self, resource_ids: Collection[UUID]) -> set[UUID]:
        return await self._traced("existing_ids", self._repository.existing_ids, resource_ids)

    async def replace(self, resource: Resource) -> None:
        return await self._traced("replace", self._repository.replace, resource)

    async def delete(self, resource_ids: Collection[UUID]) -> None:
        return await self._traced("delete", self._repository.delete, resource_ids)

    async def direct_dependents(self, resource_id: UUID) -> list[UUID]:
        return await self._traced("direct_dependents", self._repository.direct_dependents, resource_id)

    async def transitive_dependents(self, resource_id: UUID) -> list[UUID]:
        return await self._traced("transitive_dependents", self._repository.transitive_dependents, resource_id)

    async def transitive_dependencies(self, resource_id: UUID) -> list[Resource]:
        return await self._traced("transitive_dependencies", self._repository.transitive_dependencies, resource_id)

    async def dependency_path(self, starts: Sequence[UUID], goal: UUID) -> list[UUID] | None:
        return await self._traced("dependency_path", self._repository.dependency_path, starts, goal)


def _call_error_type(exc: Exception) -> ErrorType:
    """A refusal the store decided (a taken name) keeps its type; any other failure of the call is the database's."""
    return exc.error_type if isinstance(exc, DomainError) else "database"
