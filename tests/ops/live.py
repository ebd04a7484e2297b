"""A real Prometheus 3 (tools.py) scraping the running service, and the traffic that fills its series.

`PrometheusServer` runs `prometheus` on 127.0.0.1 with a one-second scrape of the given targets and answers
instant queries through the HTTP API. `CollectorTelemetry` stands in for the collector's own metrics endpoint.
The `drive_*` functions send the traffic the live check needs: a healthy mix, then each fault an alert rule watches
(errors, circular dependencies, slow operations, database errors, and an overload that keeps the event loop and the
connection pool behind and makes admission control shed).
"""

from __future__ import annotations

import asyncio
import http.server
import math
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import asyncpg
import httpx
import yaml
from integration.otlp_receiver import HOST, free_port

from adapters.sqla.engine import GRAPH_LOCK_KEY

from .tools import MISSING, PROMETHEUS

WRK = shutil.which("wrk")

SCRAPE_INTERVAL_S = 1.0
# The collector's exporter failure counters in both spellings, one exporter of ops/otel-collector-config.yaml each:
# 0.159 (the pinned collector) writes no `_total`, 0.119 to 0.151 do.
COLLECTOR_COUNTERS: Mapping[str, str] = {
    "otlp_grpc/tempo": "otelcol_exporter_send_failed_spans",
    "otlp_http/loki": "otelcol_exporter_send_failed_log_records_total",
}
FAILURES_PER_SCRAPE = 5


@dataclass
class PrometheusServer:
    """`prometheus` scraping `targets` every second, its data and log in `directory`, with `flags` besides its own."""

    directory: Path
    targets: Sequence[str]
    flags: Sequence[str] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Self:
        assert PROMETHEUS.exists(), f"prometheus {MISSING}"
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config()))
        with (self.directory / "prometheus.log").open("wb") as log:
            self.process = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address={HOST}:{self.port}",
                    "--log.level=warn",
                    *self.flags,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar as one sample) `promql` gives now; AssertionError if it does not parse."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert answer["status"] == "success", f"{promql}\n{answer.get('errorType')}: {answer.get('error')}"
        data = answer["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def values(self, promql: str) -> list[float]:
        """The sample values `promql` gives now."""
        return [float(sample["value"][1]) for sample in self.query(promql)]

    def wait_for_scrapes(self, seconds: float = 4 * SCRAPE_INTERVAL_S) -> None:
        """Long enough for every target to be scraped a few times after the traffic just sent."""
        time.sleep(seconds)

    def _config(self) -> dict[str, Any]:
        scrape = {"job_name": "resource-service", "scrape_interval": f"{SCRAPE_INTERVAL_S:g}s"}
        return {"scrape_configs": [{**scrape, "static_configs": [{"targets": list(self.targets)}]}]}

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        log = (self.directory / "prometheus.log").read_text(errors="replace")
        raise AssertionError(f"Prometheus did not become ready:\n{log[-3000:]}")


class CollectorTelemetry:
    """The collector's own metrics endpoint as Prometheus scrapes it: `COLLECTOR_COUNTERS`, flat until `fail()`."""

    def __init__(self) -> None:
        self.failing = False
        self._failed = 0
        self._server = _CollectorMetricsServer((HOST, 0), _CollectorMetricsHandler)
        self._server.telemetry = self
        self.target = f"{HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="otelcol-metrics", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def fail(self) -> None:
        """From now on every exporter fails `FAILURES_PER_SCRAPE` items between two scrapes."""
        self.failing = True

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def exposition(self) -> bytes:
        """The counters' text exposition, counting the failures since the last scrape."""
        if self.failing:
            self._failed += FAILURES_PER_SCRAPE
        lines = [f'{name}{{exporter="{exporter}"}} {self._failed}' for exporter, name in COLLECTOR_COUNTERS.items()]
        return "\n".join([*lines, ""]).encode()


class _CollectorMetricsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    telemetry: CollectorTelemetry


class _CollectorMetricsHandler(http.server.BaseHTTPRequestHandler):
    server: _CollectorMetricsServer

    def do_GET(self) -> None:
        body = self.server.telemetry.exposition()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is for the tests."""


def fires(values: Sequence[float], threshold: float) -> bool:
    """Grafana's threshold `gt`: some series is above the threshold (NaN never is)."""
    return any(not math.isnan(value) and value > threshold for value in values)


# --- Traffic -------------------------------------------------------------------------------------------------


class Client:
    """The resource API of one service, with the statuses it answered counted."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.statuses: list[int] = []

    def create(self, name: str, dependencies: Sequence[str] = ()) -> str:
        response = self._send("POST", "/resources", json={"name": name, "dependencies": list(dependencies)})
        assert response.status_code == 201, response.text
        resource_id: str = response.json()["id"]
        return resource_id

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._send(method, path, **kwargs)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        self.statuses.append(response.status_code)
        return response


def drive_healthy(client: Client, prefix: str, rounds: int = 12) -> None:
    """Every operation succeeding: chains with cascades, reads, lists, searches, updates, plain deletes."""
    for round_ in range(rounds):
        root = client.create(f"{prefix}-root-{round_}")
        middle = client.create(f"{prefix}-mid-{round_}", [root])
        leaf = client.create(f"{prefix}-leaf-{round_}", [middle, root])
        for path in (f"/resources/{leaf}", f"/resources/{leaf}/dependencies", "/resources?limit=5"):
            assert client.request("GET", path).status_code == 200
        assert client.request("GET", "/resources/search", params={"q": prefix}).status_code == 200
        assert client.request("PATCH", f"/resources/{leaf}", json={"dependencies": [root]}).status_code == 200
        assert client.request("DELETE", f"/resources/{leaf}").status_code in (200, 204)
        if round_ % 2 == 0:
            response = client.request("DELETE", f"/resources/{root}", params={"cascade": "true"})
            assert response.status_code in (200, 204), response.text


def drive_errors(client: Client, prefix: str, repeats: int = 6) -> None:
    """Refusals of every kind the client can cause: validation, not found, conflict, cycle, has dependents."""
    for repeat in range(repeats):
        head = client.create(f"{prefix}-head-{repeat}")
        tail = client.create(f"{prefix}-tail-{repeat}", [head])
        refusals: list[tuple[str, str, dict[str, Any], int]] = [
            ("PATCH", f"/resources/{head}", {"json": {"dependencies": [tail]}}, 409),
            ("DELETE", f"/resources/{head}", {}, 409),
            ("POST", "/resources", {"json": {"name": f"{prefix}-head-{repeat}"}}, 409),
            ("POST", "/resources", {"json": {"name": ""}}, 422),
            ("GET", "/resources/00000000-0000-4000-8000-000000000000", {}, 404),
        ]
        for method, path, options, status in refusals:
            response = client.request(method, path, **options)
            assert response.status_code == status, (method, path, response.text)


async def _concurrent_creates(base_url: str, prefix: str, count: int) -> list[float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def timed(index: int) -> float:
            started = time.monotonic()
            response = await client.post("/resources", json={"name": f"{prefix}-{index}"})
            assert response.status_code == 201, response.text
            return time.monotonic() - started

        return list(await asyncio.gather(*(timed(index) for index in range(count))))


@contextmanager
def writers_lock_held(database_url: str) -> Iterator[None]:
    """Hold every write of the service back from outside.

    SQLite: the database's write lock. PostgreSQL: the writers' advisory lock, which a create without dependencies
    does not take, and every row of the kept count, one of which every create and delete updates (its trigger).
    """
    if database_url.startswith("sqlite"):
        import sqlite3

        connection = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    dsn = database_url.replace("postgresql+asyncpg", "postgresql")
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(asyncpg.connect(dsn))
    transaction = connection.transaction()
    loop.run_until_complete(transaction.start())
    loop.run_until_complete(connection.execute("SELECT pg_advisory_xact_lock($1)", GRAPH_LOCK_KEY))
    loop.run_until_complete(connection.execute("SELECT stored FROM resource_count_shards FOR UPDATE"))
    try:
        yield
    finally:
        loop.run_until_complete(transaction.rollback())
        loop.run_until_complete(connection.close())
        loop.close()


def drive_slow_writes(base_url: str, database_url: str, prefix: str, count: int, hold_s: float) -> list[float]:
    """`count` concurrent creates that all wait `hold_s` for the writes held back from outside; their durations."""
    with ThreadPoolExecutor(max_workers=1) as pool, writers_lock_held(database_url):
        durations = pool.submit(asyncio.run, _concurrent_creates(base_url, prefix, count))
        time.sleep(hold_s)
    return durations.result()


def drive_overload(base_url: str, connections: int, seconds: float) -> None:
    """`connections` clients reading as fast as they are answered, for `seconds`: far more than one process serves.

    wrk, not a Python client: on a machine of two cores a Python load generator is slower than the service.
    """
    assert WRK is not None, "Debian's `wrk` package is not installed (.ci/run installs it)"
    subprocess.run(
        [WRK, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", f"{base_url}/resources?limit=5"],
        check=True,
        capture_output=True,
        timeout=seconds + 30,
    )


@contextmanager
def resources_table_hidden(database_url: str) -> Iterator[None]:
    """Make every statement on the resources table fail in PostgreSQL (renamed away), then put it back."""
    dsn = database_url.replace("postgresql+asyncpg", "postgresql")

    async def rename(old: str, new: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(f"ALTER TABLE {old} RENAME TO {new}")
        finally:
            await connection.close()

    asyncio.run(rename("resources", "resources_hidden"))
    try:
        yield
    finally:
        asyncio.run(rename("resources_hidden", "resources"))
