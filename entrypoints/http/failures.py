"""What both apps' exception handlers do besides answering: count refusals at the edge, log unexpected failures."""

from __future__ import annotations

import logging
from typing import Final

from core.errors import DomainError
from core.instrumentation import Instrumentation
from core.semantic_conventions import Operation
from entrypoints.http.decoding import InvalidRequest, RequestError

logger = logging.getLogger("resource_service.http")

# Each app names its handlers after these (the OpenAPI operationId): a request the edge refuses before the service
# ran still counts as a failure of the operation it asked for.
OPERATION_OF_HANDLER: Final[dict[str, Operation]] = {
    "create_resource": "create",
    "list_resources": "list",
    "search_resources": "search",
    "get_resource": "get",
    "update_resource": "update",
    "delete_resource": "delete",
    "list_dependencies": "dependencies",
}


def record_refusal(instrumentation: Instrumentation, handler: str | None, exc: Exception) -> None:
    """Count a request refused at the edge (unreadable or invalid input) as a failure of its handler's operation."""
    operation = OPERATION_OF_HANDLER.get(handler or "")
    if operation is not None and isinstance(exc, InvalidRequest | RequestError):
        instrumentation.record_rejection(operation, exc)


def log_unexpected(instrumentation: Instrumentation, exc: Exception, method: str, path: str) -> None:
    """Log a failure once: one that ended an operation was recorded by it (`operation.failed`), others here."""
    if not isinstance(exc, DomainError) and not instrumentation.has_recorded(exc):
        logger.error("%s %s failed", method, path, exc_info=exc)
