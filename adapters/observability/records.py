"""Log record pieces shared by every logging adapter, so they all write the same fields."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime

from core.telemetry import SERVER_ERROR_TYPES, ErrorType


def utc_timestamp() -> str:
    """Now, RFC 3339 in UTC with microseconds: `2026-11-27T12:00:00.123456Z`."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def failure_level(error_type: ErrorType) -> str:
    """`error` for failures of the service itself, `warning` for those the client caused."""
    return "error" if error_type in SERVER_ERROR_TYPES else "warning"


def exception_fields(exc: BaseException) -> dict[str, str]:
    """The `exception` field: type, message and stack of `exc`."""
    return {
        "type": type(exc).__qualname__,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(exc)),
    }
