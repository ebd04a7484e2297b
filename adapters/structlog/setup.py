"""configure_logging: assembles the processors and the stdout handler, for structlog and `logging` alike."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog
from opentelemetry._logs import LoggerProvider
from structlog.typing import Processor

from adapters.structlog.output import StdoutHandler, line_loggers
from adapters.structlog.processors import (
    ExportToOtel,
    UtcTimestamp,
    add_service_name,
    add_timestamp,
    add_trace_context,
    exc_info_to_exception,
    render_json,
)

LogFormat = Literal["json", "console"]

# During a collector outage the exporters log every retry, and those records would be exported too: the
# guarded exporters (adapters/otel/resilience.py) report failures instead, at most once a minute. aiosqlite
# logs every call at debug level.
_QUIETER_LOGGERS = {
    "opentelemetry.exporter": logging.ERROR,
    "opentelemetry.sdk": logging.ERROR,
    "aiosqlite": logging.INFO,
}


def processor_chain(
    service_name: str,
    *,
    log_format: LogFormat = "json",
    logger_provider: LoggerProvider | None = None,
    trace_context: Processor = add_trace_context,
) -> tuple[list[Processor], list[Processor]]:
    """The one chain in its two parts: what every record gets, structlog's and `logging`'s, then its rendering.

    `trace_context` adds the current span's ids: OpenTelemetry's, but in the in-memory adapter its own tracing's.
    """
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_timestamp,
        add_service_name(service_name),
        trace_context,
    ]
    # The exporter takes the exception object, before it becomes the fields of the line, and the time as a number.
    rendering: list[Processor] = [] if logger_provider is None else [ExportToOtel(logger_provider)]
    rendering += [
        exc_info_to_exception,
        UtcTimestamp(),
        render_json if log_format == "json" else structlog.dev.ConsoleRenderer(),
    ]
    return shared, rendering


def configure_logging(
    *,
    level: str = "info",
    log_format: LogFormat = "json",
    service_name: str = "resource-service",
    logger_provider: LoggerProvider | None = None,
) -> None:
    """Route structlog and the standard `logging` module through one chain to stdout (and OTLP, if given)."""
    shared, rendering = processor_chain(service_name, log_format=log_format, logger_provider=logger_provider)
    handler = StdoutHandler(sys.stdout)
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
        logger_factory=line_loggers(handler),
        # A call below LOG_LEVEL is a method that returns at once: no processor, no level check, no exception.
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        cache_logger_on_first_use=True,
    )
