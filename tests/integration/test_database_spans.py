"""Repository calls are database client calls: CLIENT spans and metric points with the conventions' attributes.

The real unit of work on each database, the in-memory telemetry adapters recording what the service emits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from adapters.memory.telemetry import in_memory_telemetry
from adapters.sqla import SqlaUnitOfWork, create_engine, database_of, upgrade_schema
from core.errors import DuplicateName
from core.instrumentation import Instrumentation
from core.model import ResourceDraft
from core.semantic_conventions import REPOSITORY_CALLS, REPOSITORY_DURATION
from core.service import ResourceService


@pytest.fixture
async def unit_of_work(database_url: str) -> AsyncIterator[SqlaUnitOfWork]:
    engine = create_engine(database_url)
    await upgrade_schema(engine)
    yield SqlaUnitOfWork(engine)
    await engine.dispose()


def _expected_database(database_url: str) -> dict[str, str | int]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return {"db.system.name": "sqlite", "db.namespace": str(url.database)}
    return {
        "db.system.name": "postgresql",
        "db.namespace": str(url.database),
        "server.address": str(url.host),
        "server.port": url.port or 5432,
    }


async def test_repository_calls_are_client_spans_with_the_database_conventions(
    unit_of_work: SqlaUnitOfWork, database_url: str
) -> None:
    telemetry, metrics, tracing, _ = in_memory_telemetry()
    service = ResourceService(unit_of_work, Instrumentation(telemetry, database=database_of(make_url(database_url))))
    db = await service.create(ResourceDraft("db"))
    await service.get(db.id)
    with pytest.raises(DuplicateName):
        await service.create(ResourceDraft("db"))

    database = _expected_database(database_url)
    calls = [span for span in tracing.spans if span.name.startswith("resource.repository.")]
    points = metrics.of(REPOSITORY_DURATION)
    assert [span.name for span in calls] == [
        "resource.repository.add",
        "resource.repository.count",
        "resource.repository.get",
        "resource.repository.add",
    ]
    for span, point in zip(calls, points, strict=True):
        method = span.name.removeprefix("resource.repository.")
        operation, collection = REPOSITORY_CALLS[method]
        call = {**database, "db.operation.name": operation, "db.collection.name": collection}
        failure = {"error.type": "conflict"} if span is calls[-1] else {}
        assert span.kind == "CLIENT"
        assert span.attributes == {**call, **failure}
        assert span.status == ("ERROR" if failure else "UNSET")
        assert point.attributes == {"method": method, **call, **failure}
