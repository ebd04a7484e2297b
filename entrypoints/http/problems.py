"""The one table from errors to RFC 9457 problem details, used by both apps."""

from __future__ import annotations

from http import HTTPStatus

from core.errors import (
    CircularDependency,
    DuplicateName,
    HasDependents,
    InvalidInput,
    ResourceNotFound,
    StorageError,
    StorageUnavailable,
    UnknownDependencies,
)
from entrypoints.http.decoding import RequestError
from entrypoints.http.dto import InvalidField, Problem

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:resource-service:problem:"
# What each problem status an operation can answer means, as both apps' OpenAPI documents describe it.
PROBLEM_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed JSON body",
    404: "No resource has this id",
    409: "Conflict: duplicate name, circular dependency or dependents",
    413: "Request body too large",
    415: "Body is not JSON",
    422: "Invalid input",
    500: "Internal error",
    503: "Database unavailable, or the service overloaded (with Retry-After)",
}


def _problem(status: int, slug: str, title: str, detail: str) -> Problem:
    return Problem(type=_TYPE_PREFIX + slug, title=title, status=status, detail=detail)


def problem_for(exc: Exception) -> Problem:
    """The problem body for any exception; unexpected ones reveal nothing about themselves."""
    match exc:
        case InvalidInput(errors=errors):
            problem = _problem(422, "validation-error", "Invalid input", "one or more fields are invalid")
            problem.errors = [InvalidField(e.field, e.message) for e in errors]
        case UnknownDependencies(unknown_ids=unknown_ids):
            problem = _problem(422, "unknown-dependencies", "Unknown dependencies", str(exc))
            problem.unknown_ids = unknown_ids
        case CircularDependency(cycle=cycle):
            problem = _problem(409, "circular-dependency", "Circular dependency", str(exc))
            problem.cycle = cycle
        case HasDependents(dependents=dependents):
            problem = _problem(409, "has-dependents", "Resource has dependents", str(exc))
            problem.dependents = dependents
        case DuplicateName():
            problem = _problem(409, "duplicate-name", "Duplicate name", str(exc))
        case ResourceNotFound():
            problem = _problem(404, "resource-not-found", "Resource not found", str(exc))
        case StorageUnavailable():
            problem = _problem(503, "database-unavailable", "Database unavailable", str(exc))
        case StorageError():
            problem = _problem(500, "database-error", "Database error", str(exc))
        case RequestError():
            problem = _problem(exc.status, exc.slug, exc.title, str(exc))
        case _:
            problem = _problem(500, "internal-error", "Internal server error", "the server failed unexpectedly")
    return problem


def overloaded_problem(retry_after_s: int) -> Problem:
    """The answer to a request refused at admission: the worker serves as many requests as it is bounded to."""
    return _problem(
        503,
        "overloaded",
        "Service overloaded",
        f"the service is serving as many requests as it can; retry after {retry_after_s} s",
    )


def problem_for_status(status: int, detail: str | None = None) -> Problem:
    """The problem body for an HTTP error the framework raised itself (unknown route, wrong method)."""
    phrase = HTTPStatus(status).phrase
    return _problem(status, phrase.lower().replace(" ", "-"), phrase, detail or phrase)
