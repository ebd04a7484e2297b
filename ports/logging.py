"""The logging port: one structured record per operation event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from core.semantic_conventions import ErrorType, Operation

LogValue = str | int | float | bool


class LoggingPort(Protocol):
    """Emits `operation.started` / `operation.completed` / `operation.failed` records; never raises.

    Each record carries the trace and span ids current when it is emitted, `service.name`,
    `operation` and the given `fields` (such as `resource_id`). The field names are those of
    `core.semantic_conventions` and docs/logging-reference.md.
    """

    def operation_started(self, operation: Operation, fields: Mapping[str, LogValue]) -> None:
        """The operation began."""
        ...

    def operation_completed(self, operation: Operation, duration_ms: float, fields: Mapping[str, LogValue]) -> None:
        """The operation succeeded after `duration_ms`."""
        ...

    def operation_failed(
        self,
        operation: Operation,
        duration_ms: float,
        error_type: ErrorType,
        exc: BaseException,
        fields: Mapping[str, LogValue],
    ) -> None:
        """The operation failed after `duration_ms` with `exc`."""
        ...
