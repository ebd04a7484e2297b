"""The structlog adapter: the logging port as JSON lines on stdout, the same records exported over OTLP logs."""

from adapters.structlog.processors import LogFormat, StructlogLogging, UtcTimestamp, configure_logging

__all__ = ["LogFormat", "StructlogLogging", "UtcTimestamp", "configure_logging"]
