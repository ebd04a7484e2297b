"""The tracing port: spans around the core's work.

Trace context from a caller is continued by the HTTP instrumentation, not through this port: the spans opened here
are children of whatever span is current, the server span included.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Literal, Protocol

from core.semantic_conventions import ErrorType

AttributeValue = str | bool | int | float
# CLIENT for a call to another system (the database); INTERNAL for work inside the service.
SpanKind = Literal["INTERNAL", "CLIENT"]


class SpanPort(Protocol):
    """An open span."""

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        """Add or replace attributes."""
        ...

    def fail(self, exc: BaseException, error_type: ErrorType, *, record_exception: bool = True) -> None:
        """Mark the span failed: status ERROR, `error.type` set, and the exception recorded unless told not to.

        One failure is recorded as an exception event once, on the span that answers for it (the operation's);
        a child the exception merely left (a repository call) says that it failed, and how, without the event.
        """
        ...


class TracingPort(Protocol):
    """Opens spans (INTERNAL unless told otherwise) as children of the current one; never raises.

    An exception that leaves a `span()` block sets that span's status to ERROR unless `fail()` already
    marked it; the exception is recorded as an event only by `fail()`. Spans end when their block ends;
    success leaves the status UNSET.
    """

    def span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None, kind: SpanKind = "INTERNAL"
    ) -> AbstractContextManager[SpanPort]:
        """A span that is current inside the block."""
        ...
