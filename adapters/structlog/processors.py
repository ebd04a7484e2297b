"""StructlogLogging: the logging port as JSON lines on stdout (orjson), the same records exported over OTLP logs.

One processor chain serves both structlog and the standard `logging` module (uvicorn, SQLAlchemy), so
every line on stdout has the same shape and carries the trace and span ids current when it was emitted.
structlog's own records skip the `logging` bridge (two `LogRecord`s a line): they are rendered by structlog
and written through the same stdout handler, under its lock, so lines of the two sources never interleave.
"""

from __future__ import annotations

import calendar
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Literal, TextIO

import orjson
import structlog
from opentelemetry import trace
from opentelemetry._logs import Logger, LoggerProvider, SeverityNumber
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from adapters.log_fields import (
    completed_fields,
    exception_fields,
    failed_fields,
    failure_level,
    is_service_failure,
)
from core.semantic_conventions import (
    EVENT_COMPLETED,
    EVENT_FAILED,
    EVENT_STARTED,
    INSTRUMENTATION_SCOPE,
    LOGGER_NAME,
    ErrorType,
    Operation,
)
from ports.logging import LoggingPort, LogValue

LogFormat = Literal["json", "console"]

_SEVERITY = {
    "debug": SeverityNumber.DEBUG,
    "info": SeverityNumber.INFO,
    "warning": SeverityNumber.WARN,
    "error": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}
# During a collector outage the exporters log every retry, and those records would be exported too: the
# guarded exporters (adapters/otel/resilience.py) report failures instead, at most once a minute. aiosqlite
# logs every call at debug level.
_QUIETER_LOGGERS = {
    "opentelemetry.exporter": logging.ERROR,
    "opentelemetry.sdk": logging.ERROR,
    "aiosqlite": logging.INFO,
}
# Fields that OTLP carries in fields of its own rather than as attributes.
_NOT_ATTRIBUTES = frozenset({"event", "timestamp", "level", "trace_id", "span_id", "exc_info"})
# `bool` is an `int`.
_PRIMITIVES = (str, int, float)


def add_trace_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """`trace_id` and `span_id` of the span current at emit time, if one is recording."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace_id"] = trace.format_trace_id(span_context.trace_id)
        event_dict["span_id"] = trace.format_span_id(span_context.span_id)
    return event_dict


class UtcTimestamp:
    """`timestamp` in RFC 3339, UTC, with microseconds and a `Z`; the date and time of day are formatted once a second.

    structlog's `TimeStamper(fmt="iso")` builds a `datetime` and calls its `isoformat()` for every record: 2 to 3
    times the cost of this, and a third of what a whole line costs once the `logging` bridge is gone.
    """

    def __init__(self) -> None:
        # One tuple, replaced whole, so that threads never see the prefix of another second.
        self._second_and_prefix: tuple[int, str] = (-1, "")

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
        second, prefix = self._second_and_prefix
        if second != seconds:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            self._second_and_prefix = (seconds, prefix)
        event_dict["timestamp"] = f"{prefix}.{micros:06d}Z"
        return event_dict


def add_service_name(service_name: str) -> Processor:
    """`service.name` on every record."""

    def processor(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service.name", service_name)
        return event_dict

    return processor


def _logged_exception(event_dict: EventDict) -> BaseException | None:
    """The exception of the record's `exc_info`: an exception, an `exc_info` tuple, or True for the one handled."""
    exc_info = event_dict.get("exc_info")
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, tuple):
        exc_info = exc_info[1]
    return exc_info if isinstance(exc_info, BaseException) else None


def exc_info_to_exception(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """The record's `exc_info`, the service's or a standard-library one, becomes the `exception.*` fields."""
    exception = _logged_exception(event_dict)
    event_dict.pop("exc_info", None)
    if exception is not None:
        event_dict.update(exception_fields(exception))
    return event_dict


class ExportToOtel:
    """A processor that sends each record to an OpenTelemetry LoggerProvider, in the current trace context.

    The OTLP record gets the time the record was written (`timestamp`), the service's events their event name,
    and the record's exception, from which the SDK sets `exception.type`, `.message` and `.stacktrace`.
    """

    def __init__(self, provider: LoggerProvider) -> None:
        self._logger: Logger = provider.get_logger(INSTRUMENTATION_SCOPE)
        # The last second seen, as `timestamp` writes it and in Unix seconds: replaced whole, as in UtcTimestamp.
        self._second: tuple[str, int] = ("", 0)

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        level = str(event_dict.get("level", "info"))
        event = str(event_dict.get("event", ""))
        self._logger.emit(
            timestamp=self._unix_nanos(event_dict["timestamp"]),
            severity_number=_SEVERITY.get(level, SeverityNumber.INFO),
            severity_text=level.upper(),
            body=event,
            attributes=_attributes(event_dict),
            event_name=event if event_dict.get("logger") == LOGGER_NAME else None,
            exception=_logged_exception(event_dict),
        )
        return event_dict

    def _unix_nanos(self, timestamp: str) -> int:
        """UtcTimestamp's `2026-11-27T12:00:00.123456Z` in nanoseconds since the epoch."""
        second, micros = timestamp[:19], int(timestamp[20:26])
        seen, seconds = self._second
        if seen != second:
            seconds = calendar.timegm(time.strptime(second, "%Y-%m-%dT%H:%M:%S"))
            self._second = (second, seconds)
        return seconds * 1_000_000_000 + micros * 1_000


def _attributes(event_dict: EventDict) -> dict[str, str | int | float | bool]:
    attributes: dict[str, str | int | float | bool] = {}
    for key, value in event_dict.items():
        if key in _NOT_ATTRIBUTES:
            continue
        # Most values are primitives: checked first, since `Mapping` is an ABC and slow to test against.
        if isinstance(value, _PRIMITIVES):
            attributes[key] = value
        elif isinstance(value, Mapping):
            attributes.update({f"{key}.{inner}": _primitive(item) for inner, item in value.items()})
        else:
            attributes[key] = str(value)
    return attributes


def _primitive(value: object) -> str | int | float | bool:
    return value if isinstance(value, _PRIMITIVES) else str(value)


def _render_json(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> str:
    return orjson.dumps(event_dict, default=str).decode()


# Shared by every stdout handler: a structlog logger bound before a later configure_logging keeps writing
# through the earlier handler, and its lines must not interleave with the new one's.
_WRITE_LOCK = threading.RLock()


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """The stdout handler of both sources: `logging` records through `emit`, structlog's through `write_line`."""

    def createLock(self) -> None:
        self.lock = _WRITE_LOCK

    def write_line(self, line: str) -> None:
        """One rendered line, written whole and flushed under the handler's lock, as `emit` writes a record."""
        self.acquire()
        try:
            self.stream.write(line + self.terminator)
            self.stream.flush()
        except Exception:  # as in `emit`: a failed write is reported on stderr, never raised
            self.handleError(logging.makeLogRecord({"msg": line}))
        finally:
            self.release()


class _LineLogger:
    """The logger structlog wraps: hands each line its processors rendered to the stdout handler."""

    __slots__ = ("_handler", "name")

    def __init__(self, handler: _StdoutHandler, name: str) -> None:
        self._handler = handler
        self.name = name

    def msg(self, line: str) -> None:
        self._handler.write_line(line)

    debug = info = warning = error = critical = msg


def _line_loggers(handler: _StdoutHandler) -> Callable[..., _LineLogger]:
    """A structlog logger factory; a logger's name is the one stdlib's factory would give (the caller's module)."""
    stdlib_loggers = structlog.stdlib.LoggerFactory(ignore_frame_names=[__name__])
    return lambda *args: _LineLogger(handler, stdlib_loggers(*args).name)


def configure_logging(
    *,
    level: str = "info",
    log_format: LogFormat = "json",
    service_name: str = "resource-service",
    logger_provider: LoggerProvider | None = None,
) -> None:
    """Route structlog and the standard `logging` module through one chain to stdout (and OTLP, if given)."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        UtcTimestamp(),
        add_service_name(service_name),
        add_trace_context,
    ]
    # The exporter takes the exception object, before it becomes the fields of the line.
    rendering: list[Processor] = [] if logger_provider is None else [ExportToOtel(logger_provider)]
    rendering += [exc_info_to_exception, _render_json if log_format == "json" else structlog.dev.ConsoleRenderer()]
    handler = _StdoutHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name, quieter in _QUIETER_LOGGERS.items():
        logging.getLogger(name).setLevel(quieter)
    structlog.configure(
        processors=[*shared, *rendering],
        logger_factory=_line_loggers(handler),
        # A call below LOG_LEVEL is a method that returns at once: no processor, no level check, no exception.
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        cache_logger_on_first_use=True,
    )


class StructlogLogging(LoggingPort):
    """Operation events through the chain `configure_logging` set up, which must be configured first."""

    def __init__(self) -> None:
        # Bound now rather than through structlog's lazy proxy, which would rebuild the logger on every call.
        self._logger: FilteringBoundLogger = structlog.get_logger(LOGGER_NAME).bind()
        # Checked once, as the bound logger's level is fixed: below it, not even the fields are unpacked.
        self._logs_started = self._logger.is_enabled_for(logging.DEBUG)

    def operation_started(self, operation: Operation, fields: Mapping[str, LogValue]) -> None:
        if self._logs_started:
            self._logger.debug(EVENT_STARTED, operation=operation, **fields)

    def operation_completed(self, operation: Operation, duration_ms: float, fields: Mapping[str, LogValue]) -> None:
        self._logger.info(EVENT_COMPLETED, operation=operation, **fields, **completed_fields(duration_ms))

    def operation_failed(
        self,
        operation: Operation,
        duration_ms: float,
        error_type: ErrorType,
        exc: BaseException,
        fields: Mapping[str, LogValue],
    ) -> None:
        level = logging.getLevelNamesMapping()[failure_level(error_type).upper()]
        failure = failed_fields(duration_ms, error_type, exc)
        if is_service_failure(error_type):
            failure["exc_info"] = exc
        self._logger.log(level, EVENT_FAILED, operation=operation, **fields, **failure)
