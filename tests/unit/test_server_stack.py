"""`serve` and the benchmarks' floor leave uvicorn's loop and HTTP parser on "auto": it must pick the fast pair."""

from __future__ import annotations

import sys

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


async def _app(scope: object, receive: object, send: object) -> None:
    pass


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not installed on Windows")
def test_uvicorn_defaults_to_uvloop_and_httptools() -> None:
    import uvloop

    config = uvicorn.Config(_app, log_config=None)
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    assert config.get_loop_factory() is uvloop.new_event_loop
