"""The exception handlers: whatever went wrong, and whoever raised it, the answer is its problem document.

The core's errors and the edge's refusals keep their meaning in one table (`entrypoints/http/problems.py`); these
handlers only send what it says, and count or log what `entrypoints/http/failures.py` asks them to.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, status
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.errors import DomainError
from entrypoints.fastapi_app.dependencies import runtime_of
from entrypoints.fastapi_app.responses import ProblemResponse
from entrypoints.fastapi_app.routers import refuse_method
from entrypoints.http.decoding import InvalidRequest, RequestError
from entrypoints.http.failures import log_unexpected, record_refusal
from entrypoints.http.problems import problem_for, problem_for_status


async def refused_request(request: Request, exc: InvalidRequest | RequestError) -> Response:
    """Input refused before the service ran: it still counts as a failure of the operation it asked for."""
    route = request.scope.get("route")
    record_refusal(runtime_of(request).instrumentation, route.name if isinstance(route, APIRoute) else None, exc)
    return ProblemResponse(problem_for(exc))


async def domain_error(request: Request, exc: DomainError) -> Response:
    """An error the core raised on purpose: not found, a conflict, the database away."""
    return ProblemResponse(problem_for(exc))


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """An HTTP error of the routing, Starlette's (such as no route for the path, 404) as well as FastAPI's."""
    return ProblemResponse(problem_for_status(exc.status_code))


async def method_not_allowed(request: Request, exc: StarletteHTTPException) -> Response:
    """A method the path does not serve; OPTIONS asks which ones it does (RFC 9110 §9.3.7), and gets 204."""
    allow = {"allow": allowed_methods(request)}
    if request.method == "OPTIONS":
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers=allow)
    return ProblemResponse(problem_for_status(exc.status_code), allow)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """Any other exception: a 500 that reveals nothing, logged unless the operation it ended logged it."""
    log_unexpected(runtime_of(request).instrumentation, exc, request.method, request.url.path)
    return ProblemResponse(problem_for(exc))


# Unexpected exceptions are not here: FastAPI hands an `Exception` handler to Starlette's ServerErrorMiddleware,
# which answers and then raises the exception again, for the server to log it a second time and for every
# in-process client to raise it. `create_app` installs `unexpected_error` in an ExceptionMiddleware of its own.
EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]] = {
    InvalidRequest: refused_request,
    RequestError: refused_request,
    DomainError: domain_error,
    StarletteHTTPException: http_error,
    status.HTTP_405_METHOD_NOT_ALLOWED: method_not_allowed,
}


def allowed_methods(request: Request) -> str:
    """`Allow` for the request's path, from the app's own routes: OPTIONS and the methods the path serves.

    Those are the methods of the routes with the path template of the first route that matches: routes are tried
    in order, so a static path (/resources/search) shadows a template that also matches it (/resources/{id}).
    """
    matching = [
        route
        for route in iter_route_contexts(request.app.routes)
        if route.endpoint is not refuse_method and route.matches(request.scope)[0] is not Match.NONE
    ]
    template = matching[0].path_format if matching else None
    served = {method for route in matching if route.path_format == template for method in route.methods or ()}
    return ", ".join(sorted(served | {"OPTIONS"}))
