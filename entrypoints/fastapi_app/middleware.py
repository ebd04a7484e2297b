"""Pure ASGI middleware for what holds for every request, whichever route (if any) answers it.

Pure ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware, which that decorator uses, runs
each request through a task group and memory streams, a cost on every request.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_REPEATED_SLASHES = re.compile("/{2,}")


class NormalizePath:
    """Route `/resources/` and `//resources` as `/resources`, where FastAPI would redirect or answer 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            normalized = "/" + _REPEATED_SLASHES.sub("/", path).strip("/")
            # A copy: the HTTP instrumentation, outside, keeps the path as received.
            if normalized != path:
                scope = {**scope, "path": normalized}
        await self.app(scope, receive, send)


class HeadWithoutBody:
    """Answer HEAD with GET's status and headers and no body (RFC 9110 §9.3.2); the server may not strip it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_without_body)


class FrameworkHeader:
    """Name the framework in an `x-framework` header on every response, error or not."""

    def __init__(self, app: ASGIApp, framework: str) -> None:
        self.app = app
        self.header = (b"x-framework", framework.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new list: a response sent more than once keeps its own headers as they were.
                message = {**message, "headers": [*message.get("headers", ()), self.header]}
            await send(message)

        await self.app(scope, receive, send_with_header)
