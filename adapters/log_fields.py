"""The fields of the operation records, built once for the structlog adapter and its processors."""

from __future__ import annotations

import traceback
from typing import Any

from core.semantic_conventions import (
    ATTR_ERROR_TYPE,
    LOG_DURATION_MS,
    LOG_EXCEPTION_MESSAGE,
    LOG_EXCEPTION_STACKTRACE,
    LOG_EXCEPTION_TYPE,
    LOG_OUTCOME,
    SERVER_ERROR_TYPES,
    ErrorType,
    outcome_of,
)


def failure_level(error_type: ErrorType) -> str:
    """`error` for failures of the service itself, `warning` for those the client caused."""
    return "error" if is_service_failure(error_type) else "warning"


def is_service_failure(error_type: ErrorType) -> bool:
    """The service itself failed (database, internal): its log record carries the stack trace, a refusal's does not."""
    return error_type in SERVER_ERROR_TYPES


def exception_type(exc: BaseException) -> str:
    """The fully qualified class name of `exc`, as a traceback names it: `core.errors.StorageError`, `ValueError`."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def exception_fields(exc: BaseException) -> dict[str, str]:
    """`exception.type`, `exception.message` and `exception.stacktrace` of `exc`."""
    return {
        LOG_EXCEPTION_TYPE: exception_type(exc),
        LOG_EXCEPTION_MESSAGE: str(exc),
        LOG_EXCEPTION_STACKTRACE: "".join(traceback.format_exception(exc)),
    }


def completed_fields(duration_ms: float) -> dict[str, Any]:
    """The fields `operation.completed` adds to the operation's own."""
    return {LOG_DURATION_MS: duration_ms, LOG_OUTCOME: outcome_of(None)}


def failed_fields(duration_ms: float, error_type: ErrorType, exc: BaseException) -> dict[str, Any]:
    """The fields `operation.failed` adds to the operation's own, but `exception.stacktrace`.

    An adapter adds the stack trace to the failures of the service itself (`is_service_failure`) in its own way.
    """
    return {
        LOG_DURATION_MS: duration_ms,
        LOG_OUTCOME: outcome_of(error_type),
        ATTR_ERROR_TYPE: error_type,
        LOG_EXCEPTION_TYPE: exception_type(exc),
        LOG_EXCEPTION_MESSAGE: str(exc),
    }
