"""How both apps run a route: read the request, call the endpoint, turn any error into a problem.

A HEAD request gets what GET would answer, status and headers alike, without the body (RFC 9110 §9.3.2).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl

import msgspec

from core.errors import DomainError
from core.instrumentation import recorded_by_an_operation
from entrypoints.http.decoding import InvalidRequest, RequestError, ensure_json_content_type, read_body
from entrypoints.http.dto import Problem
from entrypoints.http.problems import PROBLEM_MEDIA_TYPE, problem_for, problem_for_status
from entrypoints.http.routes import ApiContext, ApiRequest, ApiResponse, Route, allow_header

logger = logging.getLogger("resource_service.http")


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> ApiResponse:
    """A problem details body as a response."""
    return ApiResponse(problem.status, msgspec.json.encode(problem), headers or {}, PROBLEM_MEDIA_TYPE)


def answer_to(method: str, response: ApiResponse) -> ApiResponse:
    """`response` as sent to `method`: to HEAD, without its body but with the headers that describe it."""
    if method != "HEAD" or not response.body:
        return response
    # Both frameworks keep these as given rather than describe the empty body they send.
    described = {"content-type": response.media_type, "content-length": str(len(response.body))}
    return ApiResponse(response.status, b"", {**response.headers, **described}, response.media_type)


def raw_headers(response: ApiResponse, framework: str) -> list[tuple[bytes, bytes]]:
    """The headers both apps send with `response`: its own, `x-framework`, then what describes the body.

    As each framework adds them: Content-Length unless given or the status has no body (1xx, 204, 304), and the
    media type as Content-Type unless given, when there is a body.
    """
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()]
    headers.append((b"x-framework", framework.encode("latin-1")))
    given = response.headers.keys()
    if "content-length" not in given and not (response.status < 200 or response.status in (204, 304)):
        headers.append((b"content-length", str(len(response.body)).encode("latin-1")))
    if response.body and "content-type" not in given:
        headers.append((b"content-type", response.media_type.encode("latin-1")))
    return headers


def status_response(status: int, path: str, method: str) -> ApiResponse:
    """The problem response for an HTTP error raised by the framework itself (unknown path, wrong method)."""
    headers = {"allow": allow_header(path)} if status == 405 else None
    return answer_to(method, problem_response(problem_for_status(status), headers))


def options_response(path: str) -> ApiResponse:
    """The answer to OPTIONS: no body, the methods in `Allow`."""
    return ApiResponse(204, headers={"allow": allow_header(path)})


class FrameworkRequest(Protocol):
    """What this module reads of a Starlette or a Litestar request."""

    @property
    def method(self) -> str: ...

    @property
    def path_params(self) -> Mapping[str, Any]: ...

    @property
    def url(self) -> _Url: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


class _Url(Protocol):
    @property
    def query(self) -> str: ...


async def dispatch(route: Route, api: ApiContext, request: FrameworkRequest, max_body_size: int) -> ApiResponse:
    """Run `route` for one request; every error becomes a problem response."""
    return answer_to(request.method, await _run(route, api, request, max_body_size))


async def _run(route: Route, api: ApiContext, request: FrameworkRequest, max_body_size: int) -> ApiResponse:
    try:
        body = b""
        if route.body is not None:
            ensure_json_content_type(request.headers.get("content-type"))
            body = await read_body(request.stream(), request.headers.get("content-length"), max_body_size)
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        return await route.endpoint(api, ApiRequest(request.path_params, query, body))
    except Exception as exc:
        if route.operation is not None and isinstance(exc, InvalidRequest | RequestError):
            api.service.reject(route.operation, exc)
        problem = problem_for(exc)
        # A failure is logged once: by the operation it ended (operation.failed), or else here.
        if problem.status >= 500 and not isinstance(exc, DomainError) and not recorded_by_an_operation(exc):
            logger.error("%s %s failed", route.method, route.path, exc_info=exc)
        return problem_response(problem)
