"""The HTTP contract, checked against each framework on each database kind.

Every response also passes the client's check that `x-framework` names the framework (see `apps.py`).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from integration.otlp_receiver import HOST, ServiceProcess, service_environment

from adapters.memory.repository import InMemoryUnitOfWork
from core.instrumentation import NoTelemetry
from entrypoints import fastapi_app, litestar_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings

from .apps import Framework
from .support import (
    JSON,
    MAX_BODY_BYTES,
    MISSING_ID,
    assert_problem,
    circular,
    create,
    duplicate_name,
    encoded,
    everything,
    fetch,
    has_dependents,
    ids,
    invalid,
    json_body,
    not_found,
    problem,
    unknown_dependencies,
    uuid_n,
)

U1, U2, U3 = uuid_n(1), uuid_n(2), uuid_n(3)
MALFORMED = problem(400, "malformed-body", "Malformed JSON body", "the body is not valid JSON")
TOO_DEEP = problem(400, "malformed-body", "Malformed JSON body", "the body is nested too deeply")
TOO_LARGE = problem(
    413, "payload-too-large", "Request body too large", f"the body must be at most {MAX_BODY_BYTES} bytes"
)
NO_ROUTE = problem(404, "not-found", "Not Found", "Not Found")
WRONG_METHOD = problem(405, "method-not-allowed", "Method Not Allowed", "Method Not Allowed")
OVERSIZED_BODY = b'{"name": "big", "description": "' + b"x" * MAX_BODY_BYTES + b'"}'


def not_json(media_type: str) -> JSON:
    return problem(
        415, "unsupported-media-type", "Unsupported media type", f"the body must be application/json, not {media_type}"
    )


def control_char(field: str, code_point: str) -> tuple[str, str]:
    return field, f"must not contain the control character U+{code_point}"


Placeholders = dict[str, str]


def filled(value: Any, placeholders: Placeholders) -> Any:
    """`value` with every placeholder (such as `{id}`) in its strings replaced by the id it stands for."""
    if isinstance(value, str):
        for placeholder, resource_id in placeholders.items():
            value = value.replace(placeholder, resource_id)
        return value
    if isinstance(value, list):
        return [filled(item, placeholders) for item in value]
    if isinstance(value, dict):
        return {key: filled(item, placeholders) for key, item in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Refused:
    """A request the API must refuse with exactly `expected`; `{id}` and `{dependent}` name seeded resources."""

    id: str
    method: str
    path: str
    expected: JSON
    body: bytes | None = None
    content_type: str = "application/json"

    def headers(self) -> dict[str, str]:
        return {"content-type": self.content_type} if self.body is not None and self.content_type else {}

    def filled_body(self, placeholders: Placeholders) -> bytes | None:
        if self.body is None:
            return None
        text: str = filled(self.body.decode("latin-1"), placeholders)
        return text.encode("latin-1")


def refused(
    case_id: str, method: str, path: str, expected: JSON, body: object = None, content_type: str = "application/json"
) -> Refused:
    raw = body if isinstance(body, bytes) or body is None else encoded(body)
    return Refused(case_id, method, path, expected, raw, content_type)


def create_refused(case_id: str, body: object, expected: JSON, content_type: str = "application/json") -> Refused:
    return refused(case_id, "POST", "/resources", expected, body, content_type)


def patch_refused(case_id: str, body: object, expected: JSON, content_type: str = "application/json") -> Refused:
    return refused(case_id, "PATCH", "/resources/{id}", expected, body, content_type)


def query_refused(case_id: str, path: str, *errors: tuple[str, str]) -> Refused:
    return refused(case_id, "GET", path, invalid(*errors))


REFUSED = [
    create_refused(
        "create-three-invalid-fields",
        {"name": 5, "description": 6, "extra": True},
        invalid(
            ("extra", "is not a known field"),
            ("name", "Expected `str`, got `int`"),
            ("description", "Expected `str`, got `int`"),
        ),
    ),
    create_refused("create-name-missing", {}, invalid(("name", "is required"))),
    create_refused("create-name-null", {"name": None}, invalid(("name", "Expected `str`, got `null`"))),
    create_refused("create-name-empty", {"name": ""}, invalid(("name", "Expected `str` of length >= 1"))),
    create_refused(
        "create-name-white-space", {"name": " \t\n "}, invalid(("name", "must not be empty or only white space"))
    ),
    create_refused("create-name-201-chars", {"name": "n" * 201}, invalid(("name", "must be at most 200 characters"))),
    create_refused("create-name-nul", {"name": "a\x00b"}, invalid(control_char("name", "0000"))),
    create_refused("create-name-escape", {"name": "a\x1bb"}, invalid(control_char("name", "001B"))),
    create_refused("create-name-tab", {"name": "a\tb"}, invalid(control_char("name", "0009"))),
    create_refused("create-name-delete", {"name": "a\x7fb"}, invalid(control_char("name", "007F"))),
    create_refused(
        "create-name-long-and-control",
        {"name": "\x07" + "n" * 200},
        invalid(("name", "must be at most 200 characters"), control_char("name", "0007")),
    ),
    create_refused(
        "create-description-carriage-return",
        {"name": "a", "description": "line\r\n"},
        invalid(control_char("description", "000D")),
    ),
    create_refused(
        "create-description-nul", {"name": "a", "description": "\x00"}, invalid(control_char("description", "0000"))
    ),
    create_refused(
        "create-description-10001-chars",
        {"name": "a", "description": "d" * 10_001},
        invalid(("description", "Expected `str` of length <= 10000")),
    ),
    create_refused(
        "create-1001-dependencies",
        {"name": "a", "dependencies": [uuid_n(n) for n in range(1, 1002)]},
        invalid(("dependencies", "Expected `array` of length <= 1000")),
    ),
    create_refused(
        "create-repeated-dependency",
        {"name": "a", "dependencies": [U1, U2, U1]},
        invalid(("dependencies[2]", f"repeats {U1}")),
    ),
    create_refused(
        "create-dependency-not-uuid",
        {"name": "a", "dependencies": [U1, "nope"]},
        invalid(("dependencies[1]", "Invalid UUID")),
    ),
    create_refused(
        "create-dependencies-not-array",
        {"name": "a", "dependencies": U1},
        invalid(("dependencies", "Expected `array`, got `str`")),
    ),
    create_refused(
        "create-every-rule-broken",
        {"name": "  ", "description": "\x01", "dependencies": [U1, U1]},
        invalid(
            ("name", "must not be empty or only white space"),
            control_char("description", "0001"),
            ("dependencies[1]", f"repeats {U1}"),
        ),
    ),
    create_refused("create-body-array", [], invalid(("body", "must be a JSON object"))),
    create_refused("create-body-null", b"null", invalid(("body", "must be a JSON object"))),
    create_refused(
        "create-unknown-dependencies", {"name": "new", "dependencies": [U1, U2]}, unknown_dependencies(U1, U2)
    ),
    create_refused(
        "create-one-unknown-dependency", {"name": "new", "dependencies": ["{id}", U3]}, unknown_dependencies(U3)
    ),
    create_refused("create-duplicate-name", {"name": " seed "}, duplicate_name("seed")),
    create_refused("create-malformed-json", b'{"name": "a",}', MALFORMED),
    create_refused("create-empty-body", b"", MALFORMED),
    create_refused("create-deeply-nested", b"[" * 100_000, TOO_DEEP),
    create_refused("create-deeply-nested-value", b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", TOO_DEEP),
    create_refused("create-over-1-mib", OVERSIZED_BODY, TOO_LARGE),
    create_refused("create-text-plain", {"name": "a"}, not_json("text/plain"), content_type="text/plain"),
    create_refused("create-undeclared-type", {"name": "a"}, not_json("undeclared"), content_type=""),
    patch_refused("patch-name-white-space", {"name": "  "}, invalid(("name", "must not be empty or only white space"))),
    patch_refused("patch-name-null", {"name": None}, invalid(("name", "Expected `str`, got `null`"))),
    patch_refused("patch-unknown-field", {"id": U1}, invalid(("id", "is not a known field"))),
    patch_refused("patch-description-control", {"description": "\x0b"}, invalid(control_char("description", "000B"))),
    patch_refused(
        "patch-repeated-dependency", {"dependencies": [U1, U1]}, invalid(("dependencies[1]", f"repeats {U1}"))
    ),
    patch_refused("patch-unknown-dependency", {"dependencies": [U2]}, unknown_dependencies(U2)),
    patch_refused("patch-duplicate-name", {"name": "dependent"}, duplicate_name("dependent")),
    patch_refused("patch-self-dependency", {"dependencies": ["{id}"]}, circular("{id}", "{id}")),
    patch_refused("patch-malformed-json", b"{", MALFORMED),
    patch_refused("patch-over-1-mib", OVERSIZED_BODY, TOO_LARGE),
    patch_refused("patch-text-plain", {"name": "a"}, not_json("text/plain"), content_type="text/plain"),
    refused("patch-id-not-uuid", "PATCH", "/resources/not-a-uuid", invalid(("id", "must be a UUID")), {"name": "a"}),
    refused("get-id-not-uuid", "GET", "/resources/not-a-uuid", invalid(("id", "must be a UUID"))),
    refused("delete-id-not-uuid", "DELETE", "/resources/not-a-uuid", invalid(("id", "must be a UUID"))),
    refused("dependencies-id-not-uuid", "GET", "/resources/12345/dependencies", invalid(("id", "must be a UUID"))),
    refused("get-missing", "GET", f"/resources/{MISSING_ID}", not_found(MISSING_ID)),
    refused("patch-missing", "PATCH", f"/resources/{MISSING_ID}", not_found(MISSING_ID), {"name": "a"}),
    refused("delete-missing", "DELETE", f"/resources/{MISSING_ID}", not_found(MISSING_ID)),
    refused("cascade-missing", "DELETE", f"/resources/{MISSING_ID}?cascade=true", not_found(MISSING_ID)),
    refused("dependencies-of-missing", "GET", f"/resources/{MISSING_ID}/dependencies", not_found(MISSING_ID)),
    refused("delete-has-dependents", "DELETE", "/resources/{id}", has_dependents("{id}", "{dependent}")),
    refused(
        "cascade-not-bool",
        "DELETE",
        "/resources/{id}?cascade=maybe",
        invalid(("cascade", "Expected `bool`, got `str`")),
    ),
    query_refused(
        "transitive-not-bool", "/resources/{id}/dependencies?transitive=2", ("transitive", "Expected `bool`, got `str`")
    ),
    query_refused("limit-0", "/resources?limit=0", ("limit", "Expected `int` >= 1")),
    query_refused("limit-501", "/resources?limit=501", ("limit", "Expected `int` <= 500")),
    query_refused("limit-negative", "/resources?limit=-1", ("limit", "Expected `int` >= 1")),
    query_refused("limit-not-int", "/resources?limit=abc", ("limit", "Expected `int`, got `str`")),
    query_refused("offset-negative", "/resources?offset=-1", ("offset", "Expected `int` >= 0")),
    query_refused("offset-over-2**53", f"/resources?offset={2**53 + 1}", ("offset", f"Expected `int` <= {2**53}")),
    query_refused(
        "limit-and-offset",
        "/resources?limit=0&offset=-1",
        ("limit", "Expected `int` >= 1"),
        ("offset", "Expected `int` >= 0"),
    ),
    query_refused(
        "limit-and-offset-not-int",
        "/resources?offset=x&limit=y",
        ("limit", "Expected `int`, got `str`"),
        ("offset", "Expected `int`, got `str`"),
    ),
    query_refused("search-q-missing", "/resources/search", ("q", "is required")),
    query_refused("search-q-empty", "/resources/search?q=", ("q", "Expected `str` of length >= 1")),
    query_refused("search-q-201-chars", f"/resources/search?q={'q' * 201}", ("q", "Expected `str` of length <= 200")),
    query_refused("search-q-control", "/resources/search?q=a%07", control_char("q", "0007")),
    query_refused("search-limit-501", "/resources/search?q=a&limit=501", ("limit", "Expected `int` <= 500")),
    refused("unknown-route", "GET", "/nope", NO_ROUTE),
    refused("unknown-sub-route", "GET", "/resources/{id}/dependents", NO_ROUTE),
    refused("put-resources", "PUT", "/resources", WRONG_METHOD, {"name": "a"}),
    refused("post-resource", "POST", "/resources/{id}", WRONG_METHOD, {"name": "a"}),
    refused("delete-health", "DELETE", "/health/live", WRONG_METHOD),
]


async def seed(client: httpx.AsyncClient) -> Placeholders:
    seeded = await create(client, "seed", description="the seed")
    dependent = await create(client, "dependent", dependencies=(seeded["id"],))
    return {"{id}": seeded["id"], "{dependent}": dependent["id"]}


async def test_refused_requests_answer_their_problem_and_change_nothing(
    client: httpx.AsyncClient, subtests: pytest.Subtests
) -> None:
    placeholders = await seed(client)
    before = await everything(client)
    for case in REFUSED:
        with subtests.test(case.id):
            response = await client.request(
                case.method,
                filled(case.path, placeholders),
                content=case.filled_body(placeholders),
                headers=case.headers(),
            )
            assert_problem(response, filled(case.expected, placeholders))
            assert await everything(client) == before


def test_refused_case_ids_are_unique() -> None:
    assert len({case.id for case in REFUSED}) == len(REFUSED)


async def test_body_that_is_not_utf8_is_malformed(client: httpx.AsyncClient, request: pytest.FixtureRequest) -> None:
    response = await client.post(
        "/resources", content=b'{"name": "\xff"}', headers={"content-type": "application/json"}
    )
    assert_problem(response, MALFORMED)


HIDDEN_ERRORS: dict[str, tuple[str, str, object]] = {
    "blank name, int description": ("POST", "/resources", {"name": " ", "description": 6}),
    "nul in name, unknown field": ("POST", "/resources", {"name": "a\x00", "extra": 1}),
    "bad id, int name": ("PATCH", "/resources/not-a-uuid", {"name": 5}),
    "bad id, bad transitive": ("GET", "/resources/not-a-uuid/dependencies?transitive=2", None),
    "control char in q, limit 0": ("GET", "/resources/search?q=a%07&limit=0", None),
}
HIDDEN_ERROR_FIELDS = {
    "blank name, int description": ["description", "name"],
    "nul in name, unknown field": ["extra", "name"],
    "bad id, int name": ["id", "name"],
    "bad id, bad transitive": ["id", "transitive"],
    "control char in q, limit 0": ["limit", "q"],
}


async def test_every_invalid_field_is_named_whatever_else_is_invalid(
    client: httpx.AsyncClient, request: pytest.FixtureRequest
) -> None:
    named = {}
    for label, (method, path, body) in HIDDEN_ERRORS.items():
        response = await client.request(method, path, json=body)
        assert response.status_code == 422
        named[label] = sorted(error["field"] for error in response.json()["errors"])
    assert named == HIDDEN_ERROR_FIELDS


def parsed_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, value
    return moment


async def test_create_answers_201_with_location_and_the_stored_resource(client: httpx.AsyncClient) -> None:
    response = await client.post("/resources", json={"name": "  api gateway \n", "description": "routes\ttraffic\n"})
    body = json_body(response, 201)
    assert response.headers["location"] == f"/resources/{body['id']}"
    assert str(UUID(body["id"])) == body["id"]
    assert {key: body[key] for key in ("name", "description", "dependencies")} == {
        "name": "api gateway",
        "description": "routes\ttraffic\n",
        "dependencies": [],
    }
    assert set(body) == {"id", "name", "description", "dependencies", "created_at", "updated_at"}
    assert parsed_time(body["created_at"]) == parsed_time(body["updated_at"])
    assert json_body(await client.get(response.headers["location"]), 200) == body


async def test_create_defaults_description_and_dependencies(client: httpx.AsyncClient) -> None:
    body = json_body(await client.post("/resources", json={"name": "bare"}), 201)
    assert (body["description"], body["dependencies"]) == ("", [])


async def test_longest_name_and_description_are_accepted(client: httpx.AsyncClient) -> None:
    description = ("tab\tnewline\n" * 1_000)[:10_000]
    body = await create(client, " " + "n" * 200 + "\t", description=description)
    assert (body["name"], body["description"]) == ("n" * 200, description)
    assert await fetch(client, body["id"]) == body


async def test_non_ascii_text_round_trips(client: httpx.AsyncClient) -> None:
    body = await create(client, "Grüße ☃ 名前", description="naïve — ✓")
    assert (body["name"], body["description"]) == ("Grüße ☃ 名前", "naïve — ✓")
    assert await fetch(client, body["id"]) == body


@pytest.mark.parametrize("media_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
async def test_json_media_type_variants_are_accepted(client: httpx.AsyncClient, media_type: str) -> None:
    response = await client.post("/resources", content=encoded({"name": "a"}), headers={"content-type": media_type})
    assert json_body(response, 201)["name"] == "a"


async def test_body_of_exactly_1_mib_is_accepted(client: httpx.AsyncClient) -> None:
    body = encoded({"name": "big"})
    response = await client.post(
        "/resources", content=body.ljust(MAX_BODY_BYTES), headers={"content-type": "application/json"}
    )
    assert json_body(response, 201)["name"] == "big"


async def test_streamed_body_over_1_mib_is_refused_with_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "big", "description": "'
        for _ in range(17):
            yield b"x" * 65_536
        yield b'"}'

    response = await client.post("/resources", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, TOO_LARGE)
    assert (await everything(client))["total"] == 0


async def test_dependencies_keep_the_clients_order(client: httpx.AsyncClient) -> None:
    a, b, c = [await create(client, name) for name in "abc"]
    body = await create(client, "d", dependencies=(c["id"], a["id"], b["id"]))
    assert body["dependencies"] == [c["id"], a["id"], b["id"]]
    assert await fetch(client, body["id"]) == body


async def test_list_defaults_to_the_first_50_in_creation_order(client: httpx.AsyncClient) -> None:
    created = [await create(client, name) for name in ("c", "a", "b")]
    page = json_body(await client.get("/resources"), 200)
    assert page == {"items": created, "total": 3, "limit": 50, "offset": 0}


def order_key(resource: JSON) -> tuple[datetime, UUID]:
    return parsed_time(resource["created_at"]), UUID(resource["id"])


async def test_pages_partition_the_list_in_created_at_then_id_order(client: httpx.AsyncClient) -> None:
    created = [await create(client, f"r{n}") for n in range(5)]
    pages = [json_body(await client.get("/resources", params={"limit": 2, "offset": o}), 200) for o in (0, 2, 4, 6)]
    assert [(p["total"], p["limit"], p["offset"]) for p in pages] == [(5, 2, 0), (5, 2, 2), (5, 2, 4), (5, 2, 6)]
    listed = [item for page in pages for item in page["items"]]
    assert listed == created
    assert listed == sorted(listed, key=order_key)


async def test_largest_limit_and_offset_are_accepted(client: httpx.AsyncClient) -> None:
    only = await create(client, "only")
    widest = json_body(await client.get("/resources", params={"limit": 500}), 200)
    farthest = json_body(await client.get("/resources", params={"offset": 2**53}), 200)
    assert widest == {"items": [only], "total": 1, "limit": 500, "offset": 0}
    assert farthest == {"items": [], "total": 1, "limit": 50, "offset": 2**53}


async def patch(client: httpx.AsyncClient, resource_id: str, changes: JSON) -> httpx.Response:
    return await client.patch(f"/resources/{resource_id}", json=changes)


async def test_patch_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    dependency = await create(client, "dependency")
    original = await create(client, "svc", description="old", dependencies=(dependency["id"],))
    updated = json_body(await patch(client, original["id"], {"description": "new"}), 200)
    assert updated == {**original, "description": "new", "updated_at": updated["updated_at"]}
    assert parsed_time(updated["updated_at"]) > parsed_time(original["updated_at"])
    assert await fetch(client, original["id"]) == updated


async def test_patch_trims_the_new_name(client: httpx.AsyncClient) -> None:
    original = await create(client, "svc")
    assert json_body(await patch(client, original["id"], {"name": "  renamed\n"}), 200)["name"] == "renamed"
    assert (await fetch(client, original["id"]))["name"] == "renamed"


@pytest.mark.parametrize("changes", [{}, {"name": " svc "}, {"name": "svc", "description": "same"}])
async def test_patch_to_the_current_values_changes_nothing(client: httpx.AsyncClient, changes: JSON) -> None:
    original = await create(client, "svc", description="same")
    assert json_body(await patch(client, original["id"], changes), 200) == original
    assert await fetch(client, original["id"]) == original


async def test_patch_dependencies_replace_the_whole_set_in_the_clients_order(client: httpx.AsyncClient) -> None:
    a, b, c = [await create(client, name) for name in "abc"]
    resource = await create(client, "r", dependencies=(a["id"], b["id"]))
    assert json_body(await patch(client, resource["id"], {"dependencies": [c["id"], a["id"]]}), 200)[
        "dependencies"
    ] == [
        c["id"],
        a["id"],
    ]
    assert (await fetch(client, resource["id"]))["dependencies"] == [c["id"], a["id"]]
    assert (await client.delete(f"/resources/{b['id']}")).status_code == 204
    assert json_body(await patch(client, resource["id"], {"dependencies": []}), 200)["dependencies"] == []


async def test_patch_to_a_diamond_is_not_a_cycle(client: httpx.AsyncClient) -> None:
    bottom = await create(client, "bottom")
    left = await create(client, "left", dependencies=(bottom["id"],))
    right = await create(client, "right", dependencies=(bottom["id"],))
    top = await create(client, "top", dependencies=(left["id"],))
    changed = json_body(await patch(client, top["id"], {"dependencies": [right["id"], left["id"]]}), 200)
    assert changed["dependencies"] == [right["id"], left["id"]]


async def test_closing_a_longer_cycle_is_refused_and_changes_nothing(client: httpx.AsyncClient) -> None:
    c = await create(client, "c")
    b = await create(client, "b", dependencies=(c["id"],))
    a = await create(client, "a", dependencies=(b["id"],))
    response = await patch(client, c["id"], {"name": "renamed", "dependencies": [a["id"]]})
    assert_problem(response, circular(c["id"], a["id"], b["id"], c["id"]))
    assert await fetch(client, c["id"]) == c


async def test_renaming_to_another_resources_name_is_refused(client: httpx.AsyncClient) -> None:
    await create(client, "taken")
    other = await create(client, "other")
    assert_problem(await patch(client, other["id"], {"name": " taken "}), duplicate_name("taken"))
    assert await fetch(client, other["id"]) == other


async def delete(client: httpx.AsyncClient, resource_id: str, **params: str) -> httpx.Response:
    return await client.delete(f"/resources/{resource_id}", params=params)


async def test_delete_without_dependents_answers_204_and_removes_it(client: httpx.AsyncClient) -> None:
    resource = await create(client, "gone")
    response = await delete(client, resource["id"])
    assert (response.status_code, response.content) == (204, b"")
    assert_problem(await client.get(f"/resources/{resource['id']}"), not_found(resource["id"]))
    assert (await everything(client))["total"] == 0


async def test_deleting_a_dependent_frees_its_dependencies(client: httpx.AsyncClient) -> None:
    base = await create(client, "base")
    dependent = await create(client, "dependent", dependencies=(base["id"],))
    assert (await delete(client, dependent["id"])).status_code == 204
    assert (await delete(client, base["id"])).status_code == 204


async def graph(client: httpx.AsyncClient) -> dict[str, JSON]:
    """below <- base <- left, right <- top (top depends on left and right), and an unrelated resource."""
    below = await create(client, "below")
    base = await create(client, "base", dependencies=(below["id"],))
    left = await create(client, "left", dependencies=(base["id"],))
    right = await create(client, "right", dependencies=(base["id"],))
    top = await create(client, "top", dependencies=(left["id"], right["id"]))
    unrelated = await create(client, "unrelated")
    return {r["name"]: r for r in (below, base, left, right, top, unrelated)}


@pytest.mark.parametrize("params", [{}, {"cascade": "false"}])
async def test_delete_with_dependents_is_refused_naming_the_direct_ones(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    resources = await graph(client)
    before = await everything(client)
    response = await delete(client, resources["base"]["id"], **params)
    assert_problem(response, has_dependents(*ids([resources[name] for name in ("base", "left", "right")])))
    assert await everything(client) == before


async def test_cascade_deletes_every_transitive_dependent(client: httpx.AsyncClient) -> None:
    resources = await graph(client)
    doomed = ids([resources[name] for name in ("base", "left", "right", "top")])
    response = await delete(client, resources["base"]["id"], cascade="true")
    assert json_body(response, 200) == {"deleted": doomed, "count": 4}
    for resource_id in doomed:
        assert_problem(await client.get(f"/resources/{resource_id}"), not_found(resource_id))
    assert ids((await everything(client))["items"]) == ids([resources["below"], resources["unrelated"]])
    assert (await delete(client, resources["below"]["id"])).status_code == 204


async def test_cascade_of_a_resource_without_dependents_deletes_just_it(client: httpx.AsyncClient) -> None:
    leaf = await create(client, "leaf")
    assert json_body(await delete(client, leaf["id"], cascade="true"), 200) == {"deleted": [leaf["id"]], "count": 1}
    assert (await everything(client))["total"] == 0


async def search(client: httpx.AsyncClient, text: str) -> list[str]:
    page = json_body(await client.get("/resources/search", params={"q": text}), 200)
    return [item["name"] for item in page["items"]]


async def searches(client: httpx.AsyncClient, *texts: str) -> dict[str, list[str]]:
    return {text: await search(client, text) for text in texts}


async def test_search_ignores_case_including_non_ascii(client: httpx.AsyncClient) -> None:
    for name in ("ärger", "ÖLTANK", "Ελλάδα", "other"):
        await create(client, name)
    assert await searches(client, "ÄRGER", "öltank", "ΕΛΛΆΔΑ", "RG") == {
        "ÄRGER": ["ärger"],
        "öltank": ["ÖLTANK"],
        "ΕΛΛΆΔΑ": ["Ελλάδα"],
        "RG": ["ärger"],
    }


async def test_search_matches_name_or_description(client: httpx.AsyncClient) -> None:
    await create(client, "cache", description="Keeps SESSIONS warm")
    await create(client, "sessions-db")
    await create(client, "web", description="serves pages")
    assert await search(client, "session") == ["cache", "sessions-db"]


async def test_search_text_is_literal(client: httpx.AsyncClient) -> None:
    for name in ("100%", "1000", "a_b", "axb", "back\\slash", "backslash"):
        await create(client, name)
    assert await searches(client, "%", "0%", "_", "a_b", "\\", "k\\s") == {
        "%": ["100%"],
        "0%": ["100%"],
        "_": ["a_b"],
        "a_b": ["a_b"],
        "\\": ["back\\slash"],
        "k\\s": ["back\\slash"],
    }


async def test_search_pages_and_counts_matches(client: httpx.AsyncClient) -> None:
    matching = [await create(client, f"match-{n}") for n in range(3)]
    await create(client, "miss")
    first = json_body(await client.get("/resources/search", params={"q": "MATCH", "limit": 2}), 200)
    rest = json_body(await client.get("/resources/search", params={"q": "MATCH", "limit": 2, "offset": 2}), 200)
    assert first == {"items": matching[:2], "total": 3, "limit": 2, "offset": 0}
    assert rest == {"items": matching[2:], "total": 3, "limit": 2, "offset": 2}


async def test_search_accepts_200_characters(client: httpx.AsyncClient) -> None:
    page = json_body(await client.get("/resources/search", params={"q": "x" * 200}), 200)
    assert page == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def dependencies(client: httpx.AsyncClient, resource_id: str, **params: str) -> JSON:
    body: JSON = json_body(await client.get(f"/resources/{resource_id}/dependencies", params=params), 200)
    return body


async def test_dependencies_direct_and_transitive(client: httpx.AsyncClient) -> None:
    deepest = await create(client, "deepest")
    side = await create(client, "side")
    middle = await create(client, "middle", dependencies=(deepest["id"],))
    top = await create(client, "top", dependencies=(middle["id"], side["id"]))
    direct = {"items": [side, middle]}
    assert await dependencies(client, top["id"]) == direct
    assert await dependencies(client, top["id"], transitive="false") == direct
    assert await dependencies(client, top["id"], transitive="true") == {"items": [deepest, side, middle]}
    assert await dependencies(client, deepest["id"], transitive="true") == {"items": []}


async def test_boolean_parameters_accept_any_case_and_1_or_0(client: httpx.AsyncClient) -> None:
    bottom = await create(client, "bottom")
    middle = await create(client, "middle", dependencies=(bottom["id"],))
    top = await create(client, "top", dependencies=(middle["id"],))
    values = ("TRUE", "True", "1", "FALSE", "0")
    answered = {value: ids((await dependencies(client, top["id"], transitive=value))["items"]) for value in values}
    transitive, direct = ids([bottom, middle]), ids([middle])
    assert answered == {"TRUE": transitive, "True": transitive, "1": transitive, "FALSE": direct, "0": direct}


async def test_the_last_repeated_parameter_counts_and_unknown_ones_are_ignored(client: httpx.AsyncClient) -> None:
    created = [await create(client, name) for name in ("r0", "r1", "r2")]
    page = json_body(await client.get("/resources?limit=500&limit=1&offset=2&offset=1&sort=name"), 200)
    assert page == {"items": [created[1]], "total": 3, "limit": 1, "offset": 1}


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
async def test_health(client: httpx.AsyncClient, path: str) -> None:
    assert json_body(await client.get(path), 200) == {"status": "ok"}


ALLOWED_METHODS = {
    ("PUT", "/resources"): {"GET", "HEAD", "POST", "OPTIONS"},
    ("POST", f"/resources/{MISSING_ID}"): {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"},
    ("PATCH", "/resources/search"): {"GET", "HEAD", "OPTIONS"},
    ("POST", f"/resources/{MISSING_ID}/dependencies"): {"GET", "HEAD", "OPTIONS"},
    ("DELETE", "/health/live"): {"GET", "HEAD", "OPTIONS"},
    ("DELETE", "/health/ready"): {"GET", "HEAD", "OPTIONS"},
    ("POST", "/schema/openapi.json"): {"GET", "HEAD", "OPTIONS"},
    ("POST", "/docs"): {"GET", "HEAD", "OPTIONS"},
    ("PUT", "/docs/swagger-ui-bundle.js"): {"GET", "HEAD", "OPTIONS"},
}


def allowed_methods(response: httpx.Response) -> set[str]:
    return {method.strip() for method in response.headers["allow"].split(",")}


async def test_wrong_method_is_refused_with_405_naming_the_allowed_methods(client: httpx.AsyncClient) -> None:
    answered = {}
    for method, path in ALLOWED_METHODS:
        response = await client.request(method, path)
        assert_problem(response, WRONG_METHOD)
        answered[method, path] = allowed_methods(response)
    assert answered == ALLOWED_METHODS


@pytest.mark.parametrize("path", ["/schema", "/schema/", "/schema/anything", "/schema/openapi.yaml"])
async def test_under_schema_only_the_document_is_served(client: httpx.AsyncClient, path: str) -> None:
    # Litestar's OpenAPI router serves /schema/{path}: none of it may show through, whatever the method.
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert_problem(await client.request(method, path), NO_ROUTE)
    head = await client.head(path)
    assert (head.status_code, head.content) == (404, b"")


async def test_options_answers_204_naming_the_allowed_methods(client: httpx.AsyncClient) -> None:
    answered = {}
    for _, path in ALLOWED_METHODS:
        response = await client.options(path)
        assert (response.status_code, response.content) == (204, b"")
        answered[path] = allowed_methods(response)
    assert answered == {path: methods for (_, path), methods in ALLOWED_METHODS.items()}


# Every GET route, answering and refusing, and the paths no route serves: HEAD must answer each as GET does.
HEAD_PATHS = [
    "/resources/{id}",
    "/resources?limit=1&offset=1",
    "/resources/search?q=HEAD",
    "/resources/{id}/dependencies?transitive=true",
    "/health/live",
    "/health/ready",
    "/schema/openapi.json",
    "/docs",
    "/docs/swagger-ui.css",
    "/resources/",
    "/resources?limit=0",
    "/resources/not-a-uuid",
    f"/resources/{MISSING_ID}",
    f"/resources/{MISSING_ID}/dependencies",
    "/resources/search",
    "/nope",
]


async def test_head_answers_the_status_and_headers_of_get_without_a_body(client: httpx.AsyncClient) -> None:
    first = await create(client, "head first")
    second = await create(client, "head second", dependencies=(first["id"],))
    answered = {}
    for template in HEAD_PATHS:
        path = template.format(id=second["id"])
        get, head = await client.get(path), await client.head(path)
        assert get.content, path
        assert int(get.headers["content-length"]) == len(get.content), path
        answered[path] = (head.status_code, dict(head.headers), head.content)
        assert answered[path] == (get.status_code, dict(get.headers), b""), path
    assert [status for status, _headers, _body in answered.values()] == [200] * 10 + [422, 422, 404, 404, 422, 404]


async def body_sent_to_head(framework: Framework, path: str) -> bytes:
    """The body bytes the app itself sends to HEAD `path`: httpx and uvicorn would both drop them."""
    runtime = bootstrap(Settings(), InMemoryUnitOfWork(), NoTelemetry())
    app: Any = fastapi_app.create_app(runtime) if framework == "fastapi" else litestar_app.create_app(runtime)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "HEAD",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    body: bytes = sent[1]["body"]
    return body


@pytest.mark.parametrize(
    "path", ["/health/live", "/resources/not-a-uuid", "/nope", "/schema/openapi.json", "/docs/swagger-ui-bundle.js"]
)
async def test_the_app_strips_the_head_body_itself(framework: Framework, path: str) -> None:
    assert await body_sent_to_head(framework, path) == b""


def head_then_get_on_one_connection(port: int, path: str) -> tuple[bytes, bytes]:
    """HEAD `path`, then GET /health/live on the same connection: the raw head of the first answer, and the rest."""
    with socket.create_connection((HOST, port), timeout=10) as connection:
        connection.sendall(f"HEAD {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            assert chunk, f"the connection closed after {received!r}"
            received += chunk
        connection.sendall(f"GET /health/live HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        while chunk := connection.recv(65536):
            received += chunk
    head, rest = received.split(b"\r\n\r\n", 1)
    return head, rest


def header_fields(head: bytes) -> dict[str, str]:
    fields = (line.decode().split(":", 1) for line in head.split(b"\r\n")[1:])
    return {name.strip().lower(): value.strip() for name, value in fields}


def test_uvicorn_sends_no_body_bytes_after_a_head_answer(framework: Framework, tmp_path: Path) -> None:
    service = ServiceProcess(framework, tmp_path, service_environment(f"sqlite+aiosqlite:///{tmp_path}/r.db", {}))
    try:
        service.start()
        created = httpx.post(f"{service.base_url}/resources", json={"name": "on the wire"}, timeout=5.0)
        path = f"/resources/{created.json()['id']}"
        get = httpx.get(f"{service.base_url}{path}", timeout=5.0)
        head, rest = head_then_get_on_one_connection(service.port, path)
    finally:
        service.kill()
    assert head.startswith(b"HTTP/1.1 200 ")
    fields = header_fields(head)
    assert (fields["content-type"], fields["content-length"]) == ("application/json", str(len(get.content)))
    # The next bytes on the connection are the next answer's status line: no body came between.
    assert rest.startswith(b"HTTP/1.1 200 "), rest[:200]
    assert rest.endswith(b'{"status":"ok"}')


@pytest.mark.parametrize("path", ["/resources/", "/resources//", "/resources//search/?q=ONL"])
async def test_trailing_and_repeated_slashes_reach_the_same_route(client: httpx.AsyncClient, path: str) -> None:
    created = await create(client, "only")
    page = json_body(await client.get(path), 200)
    assert page == {"items": [created], "total": 1, "limit": 50, "offset": 0}


async def test_every_kind_of_response_names_the_framework(client: httpx.AsyncClient, framework: Framework) -> None:
    created = await client.post("/resources", json={"name": "a"})
    responses = [
        created,
        await client.delete(created.headers["location"]),
        await client.get("/nope"),
        await client.put("/resources"),
        await client.options("/resources"),
        await client.post("/resources", content=b"{}", headers={"content-type": "text/plain"}),
        await client.post("/resources", content=OVERSIZED_BODY, headers={"content-type": "application/json"}),
        await client.get("/schema/openapi.json"),
    ]
    assert [r.status_code for r in responses] == [201, 204, 404, 405, 204, 415, 413, 200]
    assert {r.headers.get("x-framework") for r in responses} == {framework}
