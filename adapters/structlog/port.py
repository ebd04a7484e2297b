"""StructlogLogging: the logging port's adapter, writing operation events through the configured chain."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import structlog
from structlog.typing import FilteringBoundLogger

from adapters.log_fields import completed_fields, failed_fields, failure_level, is_service_failure
from core.semantic_conventions import EVENT_COMPLETED, EVENT_FAILED, EVENT_STARTED, LOGGER_NAME, ErrorType, Operation
from ports.logging import LoggingPort, LogValue


class StructlogLogging(LoggingPort):
    """Operation events through the chain `configure_logging` set up, which must be configured first, or `logger`'s."""

    def __init__(self, logger: FilteringBoundLogger | None = None) -> None:
        # Bound now rather than through structlog's lazy proxy, which would rebuild the logger on every call.
        self._logger: FilteringBoundLogger = structlog.get_logger(LOGGER_NAME).bind() if logger is None else logger
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
