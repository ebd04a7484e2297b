"""Hostile and malformed requests against both apps on SQLite and PostgreSQL: refused, harmless, forgotten.

Every request in `HOSTILE` must get its 4xx as an RFC 9457 problem, leave the database exactly as it was, and
leave the service serving. Search text full of LIKE wildcards, escapes, quotes and SQL is valid input: it must
be matched literally (`test_search_text_is_matched_literally`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import uuid4

import httpx
import pytest
from e2e.apps import serving
from e2e.support import JSON, PROBLEM_MEDIA_TYPE, create, everything, fetch

from .apps import FRAMEWORKS, Framework

TEN_MB = 10 * 1024 * 1024
DEPTH = 100_000
SEED_NAMES = ("alpha", "beta")
# Stands for the id of the seeded resource "alpha" in a path.
SEEDED = "{alpha}"


@dataclass(frozen=True, slots=True)
class Hostile:
    """One request and the problem it must get: its status, and the slug ending its `type`."""

    label: str
    method: str
    path: str
    status: int
    slug: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    # The field the 422 must name first, for validation problems.
    field: str | None = None


def post(label: str, body: bytes, status: int, slug: str, *, field: str | None = None) -> Hostile:
    return Hostile(label, "POST", "/resources", status, slug, body, field=field)


def patch(label: str, body: bytes, status: int, slug: str, *, field: str | None = None) -> Hostile:
    return Hostile(label, "PATCH", f"/resources/{SEEDED}", status, slug, body, field=field)


def get(label: str, path: str, *, field: str) -> Hostile:
    return Hostile(label, "GET", path, 422, "validation-error", field=field, headers={})


def unknown(label: str, path: str) -> Hostile:
    return Hostile(label, "GET", path, 404, "not-found", headers={})


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _ids(count: int) -> list[str]:
    return [str(uuid4()) for _ in range(count)]


def _invalid_name(name: str) -> bytes:
    return _json({"name": name})


HOSTILE = [
    post("invalid JSON", b'{"name": "x",', 400, "malformed-body"),
    post("JSON that is not an object", b'["name", "x"]', 422, "validation-error", field="body"),
    post("unknown field", _json({"name": "x", "admin": True}), 422, "validation-error", field="admin"),
    Hostile(
        "text/plain",
        "POST",
        "/resources",
        415,
        "unsupported-media-type",
        _json({"name": "x"}),
        {"content-type": "text/plain"},
    ),
    Hostile("no content type", "POST", "/resources", 415, "unsupported-media-type", _json({"name": "x"}), {}),
    Hostile(
        "form body",
        "POST",
        "/resources",
        415,
        "unsupported-media-type",
        b"name=x",
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    post("10 MB body", b'{"name": "' + b"x" * TEN_MB + b'"}', 413, "payload-too-large"),
    patch("10 MB body on an update", b'{"description": "' + b"x" * TEN_MB + b'"}', 413, "payload-too-large"),
    post("deeply nested arrays", b"[" * DEPTH + b"]" * DEPTH, 400, "malformed-body"),
    post("deeply nested value", b'{"name": ' + b"[" * DEPTH + b"]" * DEPTH + b"}", 400, "malformed-body"),
    post("deeply nested objects", b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, 400, "malformed-body"),
    post("NUL byte in a name", _invalid_name("a\u0000b"), 422, "validation-error", field="name"),
    post("escape character in a name", _invalid_name("\u001b[31mred"), 422, "validation-error", field="name"),
    post("newline in a name", _invalid_name("one\ntwo"), 422, "validation-error", field="name"),
    post("lone surrogate in a name", b'{"name": "a\\ud800b"}', 400, "malformed-body"),
    post("raw NUL byte in the JSON", b'{"name": "a\x00b"}', 400, "malformed-body"),
    post("invalid UTF-8", b'{"name": "\xff\xfe"}', 400, "malformed-body"),
    patch(
        "NUL byte in a description", _json({"description": "a\u0000b"}), 422, "validation-error", field="description"
    ),
    post("1 000-character name", _invalid_name("\u00e9" * 1_000), 422, "validation-error", field="name"),
    post("1 000 emoji as a name", _invalid_name("\U0001f600" * 1_000), 422, "validation-error", field="name"),
    patch("1 000 CJK characters as a name", _invalid_name("\u6f22" * 1_000), 422, "validation-error", field="name"),
    post(
        "10 000 dependency ids",
        _json({"name": "x", "dependencies": _ids(10_000)}),
        422,
        "validation-error",
        field="dependencies",
    ),
    patch(
        "10 000 dependency ids on an update",
        _json({"dependencies": _ids(10_000)}),
        422,
        "validation-error",
        field="dependencies",
    ),
    post(
        "dependency that is not a UUID",
        _json({"name": "x", "dependencies": ["1 OR 1=1"]}),
        422,
        "validation-error",
        field="dependencies[0]",
    ),
    post("unknown dependencies", _json({"name": "x", "dependencies": _ids(3)}), 422, "unknown-dependencies"),
    get("non-UUID id", "/resources/not-a-uuid", field="id"),
    get("numeric id", "/resources/1", field="id"),
    get("SQL as an id", "/resources/1%27%20OR%20%271%27%3D%271", field="id"),
    get("NUL byte as an id", "/resources/%00", field="id"),
    get("10 000-character id", "/resources/" + "a" * 10_000, field="id"),
    get("non-UUID id of dependencies", "/resources/not-a-uuid/dependencies", field="id"),
    Hostile(
        "non-UUID id on an update", "PATCH", "/resources/x", 422, "validation-error", _json({"name": "y"}), field="id"
    ),
    Hostile(
        "non-UUID id on a delete",
        "DELETE",
        "/resources/x?cascade=true",
        422,
        "validation-error",
        headers={},
        field="id",
    ),
    Hostile(
        "cascade that is not a boolean",
        "DELETE",
        f"/resources/{SEEDED}?cascade=yes%00",
        422,
        "validation-error",
        headers={},
        field="cascade",
    ),
    get("negative limit", "/resources?limit=-1", field="limit"),
    get("zero limit", "/resources?limit=0", field="limit"),
    get("huge limit", f"/resources?limit={10**40}", field="limit"),
    get("fractional limit", "/resources?limit=1.5", field="limit"),
    get("NaN limit", "/resources?limit=NaN", field="limit"),
    get("negative offset", "/resources?offset=-1", field="offset"),
    get("huge offset", f"/resources?offset={2**64}", field="offset"),
    get("infinite offset", "/resources?offset=1e309", field="offset"),
    get("negative search limit", "/resources/search?q=a&limit=-5", field="limit"),
    get("huge search offset", f"/resources/search?q=a&offset={10**30}", field="offset"),
    get("NUL byte in a search", "/resources/search?q=a%00b", field="q"),
    get("control character in a search", "/resources/search?q=%1b", field="q"),
    get("empty search", "/resources/search?q=", field="q"),
    get("search text over 200 characters", "/resources/search?q=" + "%25" * 201, field="q"),
    # The docs page serves a fixed list of files: no name in a request reaches the file system.
    unknown("path traversal out of the docs files", "/docs/..%2F..%2Fpyproject.toml"),
    unknown("encoded dot segments in a docs path", "/docs/%2e%2e/%2e%2e/etc/passwd"),
    unknown("NUL byte in a docs file name", "/docs/init.js%00"),
    unknown("10 000-character docs file name", "/docs/" + "a" * 10_000),
    Hostile("JSON body sent to the docs page", "POST", "/docs", 405, "method-not-allowed", _json({"name": "x"})),
]


@pytest.fixture(params=FRAMEWORKS)
async def client(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    framework: Framework = request.param
    async with serving(framework, database_url) as http:
        yield http


async def _seed(client: httpx.AsyncClient) -> dict[str, str]:
    alpha = await create(client, "alpha")
    beta = await create(client, "beta", dependencies=(alpha["id"],))
    return {"alpha": alpha["id"], "beta": beta["id"]}


async def _assert_still_serving(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/ready")).status_code == 200
    created = await create(client, f"after {uuid4()}")
    assert await fetch(client, created["id"]) == created


def _problem_mismatch(response: httpx.Response, case: Hostile) -> str | None:
    """What is wrong with the answer to `case`, if anything."""
    if response.headers.get("content-type") != PROBLEM_MEDIA_TYPE:
        return f"{response.status_code} {response.headers.get('content-type')}: {response.text[:200]}"
    body: JSON = response.json()
    expected_type = f"urn:resource-service:problem:{case.slug}"
    if (response.status_code, body.get("status"), body.get("type")) != (case.status, case.status, expected_type):
        return f"{response.status_code} {body}"
    if case.field is not None and body["errors"][0]["field"] != case.field:
        return f"names {body['errors'][0]['field']!r}, not {case.field!r}: {body}"
    return None


async def test_hostile_requests_are_refused_and_change_nothing(client: httpx.AsyncClient) -> None:
    """The whole table against one app and database, in order: each request sees the state the last one left."""
    seeded = await _seed(client)
    failures = {}
    for case in HOSTILE:
        before = await everything(client)
        path = case.path.replace(SEEDED, seeded["alpha"])
        response = await client.request(case.method, path, content=case.body, headers=case.headers)
        mismatch = _problem_mismatch(response, case)
        if mismatch is not None:
            failures[case.label] = mismatch
        elif await everything(client) != before:
            failures[case.label] = "the database changed"
    assert failures == {}
    await _assert_still_serving(client)


async def test_a_streamed_10_mb_body_is_refused_without_being_read_whole(client: httpx.AsyncClient) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"name": "'
        for _ in range(TEN_MB // 65_536):
            sent += 65_536
            yield b"x" * 65_536
        yield b'"}'

    await _seed(client)
    before = await everything(client)
    response = await client.post("/resources", content=chunks(), headers={"content-type": "application/json"})
    assert _problem_mismatch(response, post("streamed", b"", 413, "payload-too-large")) is None
    assert sent < TEN_MB, "the body was read to its end"
    assert await everything(client) == before
    await _assert_still_serving(client)


# Names with every character that means something to LIKE, to an escape, to a quote or to SQL.
SEARCHED_NAMES = (
    "100% pure",
    "100 pure",
    "snake_case",
    "snakeXcase",
    "back\\slash",
    "backslash",
    "it's",
    'say "hi"',
    "x'; DROP TABLE resources; --",
    "[a-z]* glob",
    "plain",
)
SEARCHES = (
    "%",
    "%%",
    "0%",
    "_",
    "e_c",
    "\\",
    "\\%",
    "k\\s",
    "'",
    "''",
    '"',
    "'; DROP TABLE resources; --",
    "' OR '1'='1",
    "%' OR 1=1 --",
    "[a-z]",
    "*",
    "PURE",
)


async def test_search_text_is_matched_literally(client: httpx.AsyncClient) -> None:
    for name in SEARCHED_NAMES:
        await create(client, name)
    mismatches = {}
    for text in SEARCHES:
        response = await client.get("/resources/search", params={"q": text, "limit": 500})
        assert response.status_code == 200, (text, response.text)
        found = sorted(item["name"] for item in response.json()["items"])
        expected = sorted(name for name in SEARCHED_NAMES if text.lower() in name.lower())
        if found != expected:
            mismatches[text] = (found, expected)
    assert mismatches == {}
    assert (await everything(client))["total"] == len(SEARCHED_NAMES)
