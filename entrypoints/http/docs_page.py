"""The interactive API docs page: Swagger UI over /schema/openapi.json, with every file it loads served from memory.

Swagger UI's script and stylesheet are the copies of swagger-ui-dist that the fastapi-offline package ships, so
the page works offline; they are read once, from a fixed list, and no request path ever names a file. The page
has no inline script or style, so its Content-Security-Policy lets it load and fetch from its own origin only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType

TITLE = "Resource service API"
# Where each app serves its own OpenAPI document, and the page with the only files it loads.
OPENAPI_PATH = "/schema/openapi.json"
DOCS_PATH = "/docs"
INIT_SCRIPT_PATH = "/docs/init.js"
DOCS_ASSET_PATHS: tuple[str, ...] = (INIT_SCRIPT_PATH, "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js")
# `data:` images: Swagger UI's stylesheet draws its icons as inline SVG, and the page's empty icon is one.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)
_ASSET_PACKAGE = "fastapi_offline"
_MEDIA_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}
_PAGE_MEDIA_TYPE = "text/html; charset=utf-8"
_PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
}
# The asset URLs carry no version: an hour bounds how long a browser keeps one across an upgrade.
_ASSET_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "public, max-age=3600"}

# The empty `data:` icon keeps the browser from asking for /favicon.ico, which no route serves.
PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="{INIT_SCRIPT_PATH}"></script>
</body>
</html>
"""

# validatorUrl: null: whatever the layout, Swagger UI never sends the document to the public validator.
INIT_SCRIPT = f"""window.ui = SwaggerUIBundle({{
  url: "{OPENAPI_PATH}",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
}});
"""


@dataclass(frozen=True, slots=True)
class Document:
    """One file of the docs page, as each app sends it: the body, and headers that include its Content-Type."""

    body: bytes
    headers: Mapping[str, str]


@cache
def docs_documents() -> Mapping[str, Document]:
    """The page and each file it loads, by path; the packaged files are read on the first call only."""
    assets = {path: _document(_asset_body(path), _media_type(path), _ASSET_HEADERS) for path in DOCS_ASSET_PATHS}
    return MappingProxyType({DOCS_PATH: _document(PAGE.encode(), _PAGE_MEDIA_TYPE, _PAGE_HEADERS), **assets})


def _document(body: bytes, media_type: str, headers: Mapping[str, str]) -> Document:
    # As a header the type is sent as it is: Litestar would add a second charset to a text/* media type.
    return Document(body, {**headers, "content-type": media_type})


def _media_type(path: str) -> str:
    return _MEDIA_TYPES[path.rsplit(".", 1)[-1]]


def _asset_body(path: str) -> bytes:
    if path == INIT_SCRIPT_PATH:
        return INIT_SCRIPT.encode()
    return (files(_ASSET_PACKAGE) / "static" / path.removeprefix(f"{DOCS_PATH}/")).read_bytes()
