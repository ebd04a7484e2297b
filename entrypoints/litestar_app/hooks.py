"""The app's `before_send` hooks: what every response gets on its way out, whoever produced it.

Handlers, exception handlers and Litestar's router (404, 405) all send through these, so each rule of the contract
that holds for every response is written once:
- `x-framework` names the framework;
- a HEAD request gets the answer GET would get without its body (RFC 9110 §9.3.2): the GET handlers answer HEAD too
  and the body is dropped here, so that status and headers, Content-Length included, stay GET's;
- Litestar's automatic OPTIONS answer lists in `Allow` only the methods of the first handler registered at the path
  (litestar#4169, fixed in 3.0): its `Allow` is rewritten with every method the path serves.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Scope


def name_the_framework(framework: str) -> BeforeMessageSendHookHandler:
    """A hook that adds `x-framework: <framework>` to every response."""

    async def add_framework_header(message: Message, _scope: Scope) -> None:
        if message["type"] == "http.response.start":
            MutableScopeHeaders.from_message(message).add("x-framework", framework)

    return add_framework_header


async def drop_the_body_of_head_answers(message: Message, scope: Scope) -> None:
    if message["type"] == "http.response.body" and scope.get("method") == "HEAD":
        message["body"] = b""


async def allow_every_method_of_the_path(message: Message, scope: Scope) -> None:
    if message["type"] == "http.response.start" and scope.get("method") == "OPTIONS" and message["status"] == 204:
        allowed = methods_at(Litestar.from_scope(scope), scope["path_template"])
        MutableScopeHeaders.from_message(message)["allow"] = ", ".join(sorted(allowed))


def methods_at(app: Litestar, path_template: str) -> set[str]:
    """Every method some handler of `app` serves at `path_template` (such as `/resources/{id}`)."""
    return {method for route in app.routes if route.path_format == path_template for method in route.methods}
