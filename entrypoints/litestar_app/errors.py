"""The app's exception handlers: every error a request can end in, answered as an RFC 9457 problem document.

One mapping, registered on the app: the core's errors and the edge's refusals through the shared table
(`problems.problem_for`), a body past Litestar's `request_max_body_size` as the edge's 413, Litestar's other HTTP
errors (unknown path, wrong method) by their status, anything else as a 500 that reveals nothing. A refusal counts
as a failure of the operation its handler serves; a failure no operation recorded is logged here. Litestar calls
exception handlers without awaiting them, so they are plain functions.
"""

from __future__ import annotations

from litestar import Response
from litestar.exceptions import HTTPException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from core.errors import DomainError
from entrypoints.bootstrap import Runtime
from entrypoints.http.decoding import InvalidRequest, PayloadTooLarge, RequestError
from entrypoints.http.dto import Problem
from entrypoints.http.failures import log_unexpected, record_refusal
from entrypoints.http.problems import PROBLEM_MEDIA_TYPE, problem_for, problem_for_status
from entrypoints.litestar_app.request_parts import AnyRequest


def exception_handlers(runtime: Runtime) -> ExceptionHandlersMap:
    """The app's one mapping from exceptions to problem answers; refusals count against the service's operations."""

    def refusal(request: AnyRequest, exc: InvalidRequest | RequestError) -> Response[Problem]:
        record_refusal(runtime.instrumentation, request.route_handler.handler_name, exc)
        return problem_answer(problem_for(exc))

    def body_too_large(request: AnyRequest, _exc: RequestEntityTooLarge) -> Response[Problem]:
        # Litestar's own limit (`request_max_body_size`), refused as the contract words it.
        return refusal(request, PayloadTooLarge.beyond(runtime.settings.max_body_bytes))

    def http_error(request: AnyRequest, exc: HTTPException) -> Response[Problem]:
        if exc.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
            log_unexpected(runtime.instrumentation, exc, request.method, request.url.path)
        return problem_answer(problem_for_status(exc.status_code), sorted_allow(exc.headers))

    def unexpected_error(request: AnyRequest, exc: Exception) -> Response[Problem]:
        log_unexpected(runtime.instrumentation, exc, request.method, request.url.path)
        return problem_answer(problem_for(exc))

    return {
        InvalidRequest: refusal,
        RequestError: refusal,
        RequestEntityTooLarge: body_too_large,
        DomainError: domain_error,
        HTTPException: http_error,
        Exception: unexpected_error,
    }


def domain_error(_request: AnyRequest, exc: DomainError) -> Response[Problem]:
    # Each ended an operation, which recorded it (and logged it, if it was the server's fault).
    return problem_answer(problem_for(exc))


def problem_answer(problem: Problem, headers: dict[str, str] | None = None) -> Response[Problem]:
    return Response(problem, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def sorted_allow(headers: dict[str, str] | None) -> dict[str, str] | None:
    """The headers with the methods of `Allow` in order: Litestar's router lists them as they were registered."""
    if not headers or "allow" not in headers:
        return headers
    return {**headers, "allow": ", ".join(sorted(method.strip() for method in headers["allow"].split(",")))}
