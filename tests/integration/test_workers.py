"""`serve --workers N` with real processes: every worker serves and is counted, a killed one is replaced.

Each worker is its own process with its own SDK: over OTLP its own `service.instance.id`, with the Prometheus
exporter its own scrape endpoint on the first free port from OTEL_EXPORTER_PROMETHEUS_PORT.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from entrypoints.cli import WORKER_HEALTHCHECK_TIMEOUT_S

from .otlp_receiver import HttpReceiver, ServiceProcess, free_ports, service_environment

pytestmark = pytest.mark.slow

WORKERS = 2
CREATES = 60
DRAIN_S = 2
FLUSH_S = 2
# SIGTERM to exit: the drain and the flush budget, plus the interpreters' own exit on a loaded two-core machine.
STOP_MARGIN_S = 5.0
WAIT_S = 30.0


def _wait_for(condition_met: Callable[[], bool], what: str, wait_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + wait_s
    while not condition_met():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _started(service: ServiceProcess, count: int = WORKERS) -> bool:
    """Whether `count` workers have finished their start-up (each logs it once) and so accept connections."""
    return service.stdout().count("Application startup complete.") >= count


def _samples(port: int, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples named `name` one worker's scrape endpoint gives, as (labels, value); none when it is down."""
    try:
        exposition = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return []
    return [
        (dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    ]


def _creates_counted(port: int) -> float:
    return sum(
        value
        for labels, value in _samples(port, "resource_operations_total")
        if labels["operation"] == "create" and labels["outcome"] == "success"
    )


def _resource_count(port: int) -> float | None:
    values = [value for _, value in _samples(port, "resource_count")]
    return values[0] if values else None


async def _create_concurrently(base_url: str, count: int, concurrency: int = 8) -> list[int]:
    """`count` creates, `concurrency` at a time, each on a new connection so that any worker may accept it."""
    limits = httpx.Limits(max_keepalive_connections=0)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=15) as client:

        async def create() -> int:
            async with gate:
                response = await client.post("/resources", json={"name": f"w-{uuid4().hex}"})
                return response.status_code

        return list(await asyncio.gather(*(create() for _ in range(count))))


def _create(service: ServiceProcess, count: int) -> None:
    statuses = asyncio.run(_create_concurrently(service.base_url, count))
    assert statuses == [201] * count, f"{statuses}\n{service.output()}"


def _stored(service: ServiceProcess) -> int:
    total: int = httpx.get(f"{service.base_url}/resources", params={"limit": 1}, timeout=5).json()["total"]
    return total


def _assert_no_traceback(service: ServiceProcess) -> None:
    output = service.stdout() + service.stderr()
    assert "Traceback" not in output, service.output()


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[tuple[ServiceProcess, range]]:
    """One `serve --workers 2` with the Prometheus exporter: FastAPI on SQLite, Litestar on PostgreSQL."""
    framework: str = request.param
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'resources.db'}" if framework == "fastapi" else postgres_url
    first = free_ports(WORKERS)
    env = service_environment(
        database_url,
        {
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(first),
            "RESOURCE_COUNT_INTERVAL_SECONDS": "1",
            "SHUTDOWN_DRAIN_SECONDS": str(DRAIN_S),
            "OBSERVABILITY_SHUTDOWN_TIMEOUT": str(FLUSH_S),
        },
    )
    service = ServiceProcess(framework, tmp_path / framework, env, workers=WORKERS).start()
    ports = range(first, first + WORKERS)
    try:
        _wait_for(lambda: len(service.worker_pids()) == WORKERS and _started(service), "both workers")
        _wait_for(lambda: all(_samples(port, "resource_count") for port in ports), "both scrape endpoints")
        yield service, ports
    finally:
        service.kill()


@pytest.mark.parametrize("served", ["fastapi", "litestar"], indirect=True)
def test_every_worker_serves_and_every_create_is_counted_once(served: tuple[ServiceProcess, range]) -> None:
    service, ports = served
    _create(service, CREATES)
    per_worker = [_creates_counted(port) for port in ports]
    assert sum(per_worker) == CREATES, per_worker
    assert all(count > 0 for count in per_worker), f"a worker served nothing: {per_worker}"
    stored = _stored(service)
    assert stored == CREATES
    # Every worker reads the count from the store: each reports the rows, so `max` across them is the truth.
    _wait_for(lambda: [_resource_count(port) for port in ports] == [stored] * WORKERS, "resource_count = rows")
    _assert_no_traceback(service)


@pytest.mark.parametrize("served", ["fastapi", "litestar"], indirect=True)
def test_a_killed_worker_is_replaced_and_sigterm_stops_them_all_in_time(
    served: tuple[ServiceProcess, range],
) -> None:
    service, ports = served
    before = service.worker_pids()
    killed = min(before)
    os.kill(killed, signal.SIGKILL)
    # The listening socket is shared: the surviving worker accepts everything meanwhile.
    for _ in range(20):
        assert httpx.get(f"{service.base_url}/health/ready", timeout=5).status_code == 200
    # The supervisor may have been waiting on the killed worker's answer to a health check when it died.
    _wait_for(
        lambda: len(service.worker_pids() - before) == 1 and _started(service, WORKERS + 1),
        "a new one",
        WAIT_S + WORKER_HEALTHCHECK_TIMEOUT_S,
    )
    replacement = (service.worker_pids() - before).pop()
    assert f"Child process [{killed}] died" in service.stdout()
    # The replacement took the scrape port the dead worker left, and serves: creates reach both workers again.
    _wait_for(lambda: all(_samples(port, "resource_count") for port in ports), "both scrape endpoints again")
    deadline = time.monotonic() + WAIT_S
    while not all(_creates_counted(port) > 0 for port in ports):
        assert time.monotonic() < deadline, "the replacement served no create"
        _create(service, 8)
    workers = service.worker_pids()
    assert replacement in workers
    code = service.terminate(DRAIN_S + FLUSH_S + STOP_MARGIN_S)
    assert code == 0, service.output()
    assert service.shutdown_seconds is not None
    assert service.shutdown_seconds < DRAIN_S + FLUSH_S + STOP_MARGIN_S
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "a worker outlived the supervisor"
    _assert_no_traceback(service)


EXPORTER_COMBINATIONS = [
    {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_TRACES_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp"},
    {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_TRACES_EXPORTER": "console", "OTEL_LOGS_EXPORTER": "console"},
    {"OTEL_METRICS_EXPORTER": "console", "OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"},
    {"OTEL_METRICS_EXPORTER": "none", "OTEL_TRACES_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "console"},
]


def _instances_that_created(exporters: Mapping[str, str], service: ServiceProcess, receiver: HttpReceiver) -> int:
    """How many workers are seen to have served a create, by whatever the metrics exporter shows of them."""
    metrics = exporters["OTEL_METRICS_EXPORTER"]
    if metrics == "otlp":
        points = receiver.received.metric_points()
        return len(
            {
                point.resource["service.instance.id"]
                for point in points
                if point.name == "resource.operations" and point.attributes.get("operation") == "create"
                if point.value
            }
        )
    if metrics == "console":
        # ConsoleMetricExporter prints each export as JSON, the resource with its instance id first.
        return len(set(re.findall(r'"service\.instance\.id": "([^"]+)"', service.stdout())))
    return WORKERS


@pytest.mark.parametrize("framework", ["fastapi", "litestar"])
@pytest.mark.parametrize("exporters", EXPORTER_COMBINATIONS, ids=lambda e: "-".join(e.values()))
def test_every_exporter_works_with_several_workers(tmp_path: Path, framework: str, exporters: dict[str, str]) -> None:
    with HttpReceiver() as receiver:
        first = free_ports(WORKERS)
        env = service_environment(
            f"sqlite+aiosqlite:///{tmp_path / 'resources.db'}",
            {
                **exporters,
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_EXPORTER_PROMETHEUS_PORT": str(first),
                "OTEL_METRIC_EXPORT_INTERVAL": "300",
                "OTEL_BSP_SCHEDULE_DELAY": "200",
            },
        )
        service = ServiceProcess(framework, tmp_path / framework, env, workers=WORKERS).start()
        try:
            _wait_for(lambda: len(service.worker_pids()) == WORKERS and _started(service), "both workers")
            started = service.worker_pids()
            _create(service, 30)
            if exporters["OTEL_METRICS_EXPORTER"] == "prometheus":
                assert sum(_creates_counted(port) for port in range(first, first + WORKERS)) == 30
            deadline = time.monotonic() + WAIT_S
            while _instances_that_created(exporters, service, receiver) < WORKERS:
                assert time.monotonic() < deadline, f"not every worker was seen serving\n{service.output()}"
                _create(service, 10)
                time.sleep(0.5)
            assert service.worker_pids() == started, f"a worker was replaced\n{service.output()}"
            assert service.terminate(30) == 0, service.output()
        finally:
            service.kill()
    assert "died" not in service.stdout()
    _assert_no_traceback(service)


def test_a_taken_scrape_port_leaves_the_worker_serving_and_says_so(tmp_path: Path) -> None:
    first = free_ports(1)
    # Another program holds the one port of the range.
    with socket.create_server(("127.0.0.1", first)):
        env = service_environment(
            f"sqlite+aiosqlite:///{tmp_path / 'resources.db'}",
            {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": str(first)},
        )
        service = ServiceProcess("fastapi", tmp_path / "fastapi", env).start()
        try:
            assert httpx.post(f"{service.base_url}/resources", json={"name": "still served"}).status_code == 201
        finally:
            service.terminate(30)
            service.kill()
    assert f"no free port in 127.0.0.1:{first}-{first}" in service.stderr()
    _assert_no_traceback(service)
