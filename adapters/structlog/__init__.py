"""StructlogLogging: the logging port as JSON lines on stdout (orjson), the same records exported over OTLP logs.

One processor chain serves both structlog and the standard `logging` module (uvicorn, SQLAlchemy), so
every line on stdout has the same shape and carries the trace and span ids current when it was emitted.
structlog's own records skip the `logging` bridge (two `LogRecord`s a line): they are rendered by structlog
and written through the same stdout handler, under its lock, so lines of the two sources never interleave.

One concern a module, as structlog keeps them: the processors of the chain (`processors`), the stdout plumbing
both sources write through (`output`), the configuration that assembles them (`setup`), and the logging port's
adapter (`port`).
"""

from adapters.structlog.port import StructlogLogging
from adapters.structlog.processors import UtcTimestamp, add_timestamp
from adapters.structlog.setup import LogFormat, configure_logging, processor_chain

__all__ = ["LogFormat", "StructlogLogging", "UtcTimestamp", "add_timestamp", "configure_logging", "processor_chain"]
