"""Schemathesis against each app's own OpenAPI document, every operation, valid and invalid input alike.

Each operation of each app gets `EXAMPLES` generated requests, half of them fitting the schema and half not,
in process over ASGI, on PostgreSQL (the stricter store: it refuses NUL bytes and out-of-range integers that
SQLite accepts). Ids in paths and dependency lists are drawn from a few seeded resources as often as not, so
that the operations reach the service and the store instead of stopping at "not found".
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any
from uuid import UUID

import pytest
import schemathesis
from e2e.support import OPERATIONS as CONTRACT_OPERATIONS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.transport import Response

from .apps import FRAMEWORKS, Framework, lifespan_app

# 2 apps x 9 operations x 60 examples: about 850 requests (the health checks take no input, so one each), under
# a minute, and each operation still sees its boundary values and every kind of wrong type and shape.
# FUZZ_EXAMPLES=1000 digs deeper, locally.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
SEEDED = 4
PROBLEM_MEDIA_TYPE = "application/problem+json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
OPERATIONS = [f"{method} {path}" for method, path, _operation_id in CONTRACT_OPERATIONS]


def _is_uuid(value: object) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


def _seed(operations: schemathesis.schemas.BaseSchema, app: Any) -> list[str]:
    create = operations["/resources"]["POST"]
    ids: list[str] = []
    for n in range(SEEDED):
        body: dict[str, Any] = {"name": f"seed {n}", "dependencies": ids[-1:]}
        response = create.Case(body=body).call(app=app)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def _aim_at_seeded(case: Case[Any], draw: Any, seeded: list[str]) -> None:
    """Point a valid id, and a valid dependency list, at seeded resources half of the time."""
    if _is_uuid(case.path_parameters.get("id")) and draw(st.booleans()):
        case.path_parameters["id"] = draw(st.sampled_from(seeded))
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("dependencies"), list) and draw(st.booleans()):
        body["dependencies"] = draw(st.lists(st.sampled_from(seeded), unique=True, max_size=SEEDED))


def _assert_problem(response: Response) -> None:
    if response.status_code < 400:
        return
    assert response.headers.get("content-type") == [PROBLEM_MEDIA_TYPE], response.headers
    body = response.json()
    assert body["status"] == response.status_code
    assert all(isinstance(body.get(member), str) and body[member] for member in ("type", "title", "detail")), body


@pytest.fixture(params=FRAMEWORKS)
def app(request: pytest.FixtureRequest, postgres_url: str) -> Any:
    framework: Framework = request.param
    return lifespan_app(framework, postgres_url)


@pytest.mark.parametrize("operation_label", OPERATIONS)
def test_every_generated_request_gets_a_documented_answer(app: Any, operation_label: str) -> None:
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    method, path = operation_label.split(" ", 1)
    operation = schema[path][method]
    seeded = _seed(schema, app)
    statuses: Counter[tuple[str, int]] = Counter()

    @given(data=st.data())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(data: st.DataObject) -> None:
        mode = data.draw(st.sampled_from(GenerationMode))
        case = data.draw(operation.as_strategy(mode))
        if mode is GenerationMode.POSITIVE:
            _aim_at_seeded(case, data.draw, seeded)
        response = case.call(app=app)
        statuses[(mode.value, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)
        _assert_problem(response)

    fuzz()
    print(
        f"\n{operation_label}: {sum(statuses.values())} requests, by (mode, status): {dict(sorted(statuses.items()))}"
    )
