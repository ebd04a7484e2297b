"""The API docs page and the files it loads: one answer in both apps, from the installed package, and nothing else.

HEAD, OPTIONS and 405 at these paths are pinned with every other path's in test_http_contract.py, their
telemetry in test_http_instrumentation.py; tests/ops/test_docs_page_in_chromium.py opens the page in a real
browser.
"""

from __future__ import annotations

import re
from importlib.resources import files

import httpx
import pytest

from entrypoints.http.docs_page import DOCS_ASSET_PATHS, DOCS_PATH, OPENAPI_PATH

from .apps import FRAMEWORKS, Framework, serving
from .support import assert_problem, problem

DOCS_PATHS = (DOCS_PATH, *DOCS_ASSET_PATHS)
ASSET_MEDIA_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}
PACKAGED_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js")
REFERENCE = re.compile(r'(?:src|href)="([^"]*)"')
NO_ROUTE = problem(404, "not-found", "Not Found", "Not Found")
UNSAFE_SOURCES = ("'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:")


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header's directives, each with its sources."""
    parsed = (directive.split() for directive in policy.split(";") if directive.strip())
    return {name: sources for name, *sources in parsed}


async def test_the_page_is_html_under_a_policy_that_allows_only_its_own_origin(client: httpx.AsyncClient) -> None:
    response = await client.get(DOCS_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert (policy["object-src"], policy["base-uri"], policy["frame-ancestors"]) == (["'none'"],) * 3
    assert [source for sources in policy.values() for source in sources if source in UNSAFE_SOURCES] == []


async def test_the_page_has_no_inline_script_or_style(client: httpx.AsyncClient) -> None:
    page = (await client.get(DOCS_PATH)).text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) == 2
    assert all(' src="' in attributes and body == "" for attributes, body in scripts)
    assert "<style" not in page
    assert "style=" not in page


async def test_the_page_loads_exactly_the_docs_files_each_with_its_type(client: httpx.AsyncClient) -> None:
    page = (await client.get(DOCS_PATH)).text
    # The icon is an empty data: URL, so that the browser does not ask for /favicon.ico.
    assert sorted(reference for reference in REFERENCE.findall(page) if reference != "data:,") == sorted(
        DOCS_ASSET_PATHS
    )
    for path in DOCS_ASSET_PATHS:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == ASSET_MEDIA_TYPES[path.rsplit(".", 1)[-1]], path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["cache-control"] == "public, max-age=3600", path
        assert int(response.headers["content-length"]) == len(response.content) > 0, path


async def test_swagger_ui_reads_the_shared_document_and_names_no_other_host(client: httpx.AsyncClient) -> None:
    page = (await client.get(DOCS_PATH)).text
    init = (await client.get("/docs/init.js")).text
    assert f'url: "{OPENAPI_PATH}"' in init
    # Whatever its layout, Swagger UI must never send the document to the public validator.
    assert "validatorUrl: null" in init
    assert re.findall(r"(?:https?:)?//[\w.-]+", page + init) == []


async def test_swagger_ui_is_the_installed_packages_copy_which_renders_openapi_31(client: httpx.AsyncClient) -> None:
    static = files("fastapi_offline") / "static"
    for name in PACKAGED_ASSETS:
        assert (await client.get(f"{DOCS_PATH}/{name}")).content == (static / name).read_bytes(), name
    bundle = (await client.get("/docs/swagger-ui-bundle.js")).content
    version = re.search(rb'PACKAGE_VERSION:"(\d+)\.\d+\.\d+"', bundle)
    assert version is not None
    # Swagger UI renders OpenAPI 3.1 from version 5 on; version 4 refuses the document outright.
    assert int(version.group(1)) >= 5


@pytest.mark.parametrize(
    "path",
    [
        "/docs/index.html",
        "/docs/swagger-ui.js",
        "/docs/swagger-ui-bundle.js.map",
        "/docs/favicon.png",
        "/docs/../pyproject.toml",
        "/docs/..%2F..%2Fpyproject.toml",
        "/docs/%2e%2e/%2e%2e/etc/passwd",
        "/docs/init.js%00",
        "/docs/init.js/x",
        "/docsx",
        "/favicon.ico",
    ],
)
async def test_any_other_file_is_an_unknown_path(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), NO_ROUTE)


async def docs_answers(framework: Framework, database_url: str) -> dict[str, tuple[int, dict[str, str], bytes]]:
    """Each method's answer at each docs path, headers without `x-framework`."""
    answers = {}
    async with serving(framework, database_url) as client:
        for path in DOCS_PATHS:
            for method in ("GET", "HEAD", "OPTIONS", "POST"):
                response = await client.request(method, path)
                headers = {name: value for name, value in response.headers.items() if name != "x-framework"}
                answers[f"{method} {path}"] = (response.status_code, headers, response.content)
    return answers


async def test_both_apps_answer_every_docs_request_identically(sqlite_url: str) -> None:
    fastapi, litestar = [await docs_answers(framework, sqlite_url) for framework in FRAMEWORKS]
    assert fastapi == litestar
    assert {key: status for key, (status, _headers, _body) in fastapi.items()} == {
        f"{method} {path}": status
        for path in DOCS_PATHS
        for method, status in (("GET", 200), ("HEAD", 200), ("OPTIONS", 204), ("POST", 405))
    }
