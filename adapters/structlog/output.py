"""The stdout plumbing both sources share: one handler, one lock, and the line logger structlog wraps."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TextIO

import structlog

# Shared by every stdout handler: a structlog logger bound before a later configure_logging keeps writing
# through the earlier handler, and its lines must not interleave with the new one's.
_WRITE_LOCK = threading.RLock()


class StdoutHandler(logging.StreamHandler[TextIO]):
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


class LineLogger:
    """The logger structlog wraps: hands each line its processors rendered to the stdout handler."""

    __slots__ = ("_handler", "name")

    def __init__(self, handler: StdoutHandler, name: str) -> None:
        self._handler = handler
        self.name = name

    def msg(self, line: str) -> None:
        self._handler.write_line(line)

    debug = info = warning = error = critical = msg


def line_loggers(handler: StdoutHandler) -> Callable[..., LineLogger]:
    """A structlog logger factory; a logger's name is the one stdlib's factory would give (the caller's module)."""
    stdlib_loggers = structlog.stdlib.LoggerFactory(ignore_frame_names=[__name__])
    return lambda *args: LineLogger(handler, stdlib_loggers(*args).name)
