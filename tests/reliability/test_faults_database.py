"""The database goes down mid-traffic and comes back: fast 503s, readiness follows, recovery without a restart.

Both apps serve one private PostgreSQL cluster (see `servers.PrivatePostgres`) under steady writes and reads;
the cluster is stopped at once (as a crash would), kept down, then started again. Run with `-s` for the figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from adapters.sqla.engine import CONNECT_TIMEOUT_S
from adapters.sqla.unit_of_work import storage_error
from core.errors import StorageError, StorageUnavailable

from .servers import (
    TRAFFIC_TIMEOUT_S,
    Answer,
    PrivatePostgres,
    ServiceProcess,
    Traffic,
    free_port,
    keep_writing,
    prometheus_samples,
    service_environment,
)

FRAMEWORKS = ("fastapi", "litestar")
WRITERS_PER_SERVICE = 4
READERS_PER_SERVICE = 2
PAUSE_S = 0.02
UP_BEFORE_S = 2.0
DOWN_FOR_S = 4.0
UP_AFTER_S = 7.0
# The outage starts and ends at the moment pg_ctl returns; answers this close to either edge may go either way.
EDGE_S = 0.5
# A dead database costs a request at most one connection attempt; on this shared 2-core machine even a refused
# connection can take a second or two to be answered, so the bound is the attempt's own timeout.
FAST_FAIL_S = CONNECT_TIMEOUT_S
RECOVERY_BOUND_S = 5.0
UNAVAILABLE = "database-unavailable"


async def _reader(traffic: Traffic, service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=TRAFFIC_TIMEOUT_S) as client:
        while traffic.running:
            request = client.build_request("GET", "/resources", params={"limit": 5})
            await traffic.send(client, service.framework, "list", request)
            await traffic.send(client, service.framework, "ready", client.build_request("GET", "/health/ready"))
            await asyncio.sleep(PAUSE_S)


@dataclass(frozen=True, slots=True)
class Outage:
    down_at: float
    up_at: float


async def _outage_under_traffic(database: PrivatePostgres, services: list[ServiceProcess], traffic: Traffic) -> Outage:
    clients = [
        *(keep_writing(traffic, service, PAUSE_S) for service in services for _ in range(WRITERS_PER_SERVICE)),
        *(_reader(traffic, service) for service in services for _ in range(READERS_PER_SERVICE)),
    ]
    load = asyncio.gather(*clients)
    try:
        await asyncio.sleep(UP_BEFORE_S)
        await asyncio.to_thread(database.stop)
        down_at = time.monotonic()
        await asyncio.sleep(DOWN_FOR_S)
        await asyncio.to_thread(database.start)
        up_at = time.monotonic()
        await asyncio.sleep(UP_AFTER_S)
    finally:
        traffic.running = False
        await load
    return Outage(down_at, up_at)


async def _stored_ids(url: str) -> set[str]:
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        return {str(row["id"]) for row in await connection.fetch("SELECT id FROM resources")}
    finally:
        await connection.close()


def _database_errors(metrics_port: int) -> float:
    samples = prometheus_samples(metrics_port, "resource_operation_errors_total")
    return sum(value for labels, value in samples if labels.get("error_type") == "database")


@pytest.fixture
def database() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test's own, which it may stop and start."""
    cluster = PrivatePostgres()
    try:
        yield cluster.start()
    finally:
        cluster.remove()


def _recovery_s(answers: list[Answer], service: str, up_at: float) -> float:
    """From the database's return to the first write this service acknowledged afterwards."""
    return (
        min(a.sent + a.seconds for a in answers if a.service == service and a.sent >= up_at and a.status == 201) - up_at
    )


async def test_database_down_mid_traffic_fails_fast_and_recovers_by_itself(
    database: PrivatePostgres, tmp_path: Path
) -> None:
    metrics_ports = {framework: free_port() for framework in FRAMEWORKS}
    services = [
        ServiceProcess(
            framework,
            tmp_path / framework,
            service_environment(
                database.url,
                {
                    "OTEL_METRICS_EXPORTER": "prometheus",
                    "OTEL_EXPORTER_PROMETHEUS_PORT": str(metrics_ports[framework]),
                    "LOG_LEVEL": "warning",
                },
            ),
        )
        for framework in FRAMEWORKS
    ]
    traffic = Traffic()
    try:
        for service in services:  # one at a time: two imports at once can outlast the start timeout here
            await asyncio.to_thread(service.start)
        outage = await _outage_under_traffic(database, services, traffic)
        errors = {framework: _database_errors(port) for framework, port in metrics_ports.items()}
        pids_alive = [service.process is not None and service.process.poll() is None for service in services]
    finally:
        for service in services:
            service.kill()
    stored = await _stored_ids(database.url)
    answers = traffic.answers
    down = [a for a in answers if outage.down_at + EDGE_S <= a.sent and a.sent + a.seconds <= outage.up_at - EDGE_S]
    recovery = {framework: _recovery_s(answers, framework, outage.up_at) for framework in FRAMEWORKS}
    failed = sorted(a.seconds for a in answers if a.status == 503)
    print(
        f"\ndatabase down {outage.up_at - outage.down_at:.1f} s under traffic: {len(answers)} requests, "
        f"{len(failed)} answered 503 (median {median(failed or [0.0]) * 1000:.0f} ms, slowest "
        f"{max(failed, default=0.0) * 1000:.0f} ms); {len(traffic.acknowledged)} writes acknowledged, "
        f"{len(traffic.acknowledged - stored)} lost; back to serving after "
        + ", ".join(f"{framework} {seconds:.2f} s" for framework, seconds in recovery.items())
        + f"; error.type=database counted {errors}"
    )

    wrong = [a for a in answers if a.status not in (200, 201) and (a.status, a.problem) != (503, UNAVAILABLE)]
    assert not wrong, f"{len(wrong)} answer(s) neither a success nor a 503 problem: {wrong[:5]}"
    assert down, "no request was answered while the database was down"
    assert all(a.status == 503 for a in down), [a for a in down if a.status != 503][:5]
    slow = [a for a in down if a.seconds > FAST_FAIL_S]
    assert not slow, f"{len(slow)} request(s) took over {FAST_FAIL_S} s to fail: {slow[:5]}"
    for framework in FRAMEWORKS:
        assert {a.kind for a in down if a.service == framework} == {"create", "list", "ready"}
        assert errors[framework] > 0, f"{framework} counted no error.type=database"
        assert recovery[framework] <= RECOVERY_BOUND_S, f"{framework} recovered after {recovery[framework]:.1f} s"
    assert all(pids_alive), "a service exited: recovery must need no restart"
    assert traffic.acknowledged, "no write was acknowledged"
    assert traffic.acknowledged <= stored, f"{len(traffic.acknowledged - stored)} acknowledged write(s) lost"
    settled = [a for a in answers if a.sent >= outage.up_at + RECOVERY_BOUND_S]
    assert settled, "no request was sent once the service had recovered"
    assert all(a.status in (200, 201) for a in settled), [a for a in settled if a.status >= 300][:5]


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "unavailable"),
    [
        ("08006", True),  # connection_failure
        ("53300", True),  # too_many_connections
        ("57P01", True),  # admin_shutdown
        ("57P03", True),  # cannot_connect_now: the server is starting up
        ("23505", False),  # unique_violation: retrying cannot help
        ("42P01", False),  # undefined_table
    ],
)
def test_a_server_that_cannot_serve_now_is_unavailable_not_failed(sqlstate: str, unavailable: bool) -> None:
    error = storage_error(DBAPIError("SELECT 1", None, _DriverError(sqlstate)))

    assert isinstance(error, StorageUnavailable) is unavailable
    assert isinstance(error, StorageError)
