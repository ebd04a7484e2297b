"""The `client` fixture: each framework's app on each database kind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from .apps import FRAMEWORKS, Framework, serving


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> Framework:
    """The web framework serving the app."""
    name: Framework = request.param
    return name


@pytest.fixture
async def client(framework: Framework, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `framework`'s app over an empty database of each kind."""
    async with serving(framework, database_url) as http:
        yield http
