"""The tracing port: spans around the core's work, and trace context carried across process boundaries."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

from core.telemetry import ErrorType

AttributeValue = str | bool | int | float
# CLIENT for a call to another system (the database); INTERNAL for work inside the service.
SpanKind = Literal["INTERNAL", "CLIENT"]


@dataclass(frozen=True, slots=True)
class TraceIds:
    """The current trace and span ids, lower-case hex (32 and 16 digits)."""

    trace_id: str
    span_id: str


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

    def current_ids(self) -> TraceIds | None:
        """The ids of the current span, if one is recording."""
        ...

    def inject(self, carrier: MutableMapping[str, str]) -> None:
        """Write the current trace context into `carrier` (W3C `traceparent` headers)."""
        ...

    def continue_trace(self, carrier: Mapping[str, str]) -> AbstractContextManager[None]:
        """Inside the block, new spans continue the trace whose context `carrier` holds."""
        ...
