"""The telemetry keeps secrets, stays one record per line under injection, and has a bounded set of series.

Secrets and injection: each app runs as `resource-service serve` on PostgreSQL with a password in DATABASE_URL,
exporting every signal over OTLP (with an API key in OTEL_EXPORTER_OTLP_HEADERS) to a receiver in this process,
and logging JSON to stdout at debug level. Every request carries an `Authorization` and a `Cookie` header, and
many carry newlines, quotes and JSON in names, search text and ids. Everything that came out is searched.

Cardinality: each app in process, with the SDK's in-memory metric reader, takes 10 000 requests to random
unknown paths and random ids; the attribute sets of every metric must stay those a handful of requests made.
"""

from __future__ import annotations

import json
import logging
import random
import re
import string
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID, uuid4

import httpx
import pytest
import structlog
from e2e.apps import BASE_URL, INSTRUMENTED, Instrumented, instrumented_with
from e2e.support import ROUTE_TEMPLATES
from integration.otlp_receiver import (
    CONSOLE_SCRIPT,
    HttpReceiver,
    Received,
    ServiceProcess,
    free_port,
    service_environment,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlalchemy.engine import make_url

from adapters.memory.repository import InMemoryUnitOfWork
from adapters.otel import OtelMetrics
from adapters.structlog import configure_logging
from core.instrumentation import Telemetry
from entrypoints import fastapi_app, litestar_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import HttpSpanSettings, Settings
from ports.noop import NoOpLogging, NoOpTracing

DATABASE_PASSWORD = "Db-Pa55word-3c9f1e"
API_KEY = "Otlp-Api-Key-7d0b42"
BEARER_TOKEN = "Bearer-Token-a61c5e"
SESSION_COOKIE = "Session-Cookie-e28d97"
SECRETS = (DATABASE_PASSWORD, API_KEY, BEARER_TOKEN, SESSION_COOKIE)
CLIENT_HEADERS = {"authorization": f"Bearer {BEARER_TOKEN}", "cookie": f"session={SESSION_COOKIE}; theme=dark"}
SHUTDOWN_SECONDS = 15.0

# What a forged record would say, were user input able to end a JSON line and start another.
FORGED_RECORD = '{"event": "forged", "level": "critical", "logger": "attacker"}'
FORGED = f'"}}\n{FORGED_RECORD}\n{{"x": "'
INJECTED_NAME = f"inj {FORGED_RECORD} ' \" \\ </script>"
INJECTED_SEARCH = f'x" OR "1"="1 {FORGED_RECORD}'


@dataclass(frozen=True, slots=True)
class Run:
    """One service process's run: what went to the receiver, to stdout and to stderr."""

    received: Received
    stdout: str
    stderr: str
    return_code: int | None


def _send_traffic(base_url: str, prefix: str) -> None:
    """A mix of successes and refusals, every request with credentials, many with hostile text."""
    with httpx.Client(base_url=base_url, headers=CLIENT_HEADERS, timeout=10.0) as client:
        created = client.post("/resources", json={"name": f"{prefix} {INJECTED_NAME}", "description": FORGED})
        assert created.status_code == 201, created.text
        resource_id = created.json()["id"]
        statuses = [
            client.post("/resources", json={"name": f"{prefix} {INJECTED_NAME}"}).status_code,
            client.post("/resources", json={"name": f"{prefix}{FORGED}"}).status_code,
            client.get("/resources/search", params={"q": INJECTED_SEARCH}).status_code,
            client.get("/resources/search", params={"q": FORGED}).status_code,
            client.get(f"/resources/{quote(FORGED, safe='')}").status_code,
            client.get(f"/resources/{resource_id}").status_code,
            client.patch(f"/resources/{resource_id}", json={"name": FORGED}).status_code,
            client.get(f"/nowhere/{quote(FORGED, safe='')}").status_code,
            client.post(
                "/resources", content=FORGED.encode(), headers={"content-type": "application/json"}
            ).status_code,
            client.delete(f"/resources/{resource_id}").status_code,
        ]
    assert statuses == [409, 422, 200, 422, 422, 200, 422, 404, 400, 204]


def _run(framework: Instrumented, database_url: str, directory: Path) -> Run:
    receiver = HttpReceiver().start()
    env = service_environment(
        make_url(database_url).set(password=DATABASE_PASSWORD).render_as_string(hide_password=False),
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_HEADERS": f"api-key={API_KEY}",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "json",
        },
    )
    service = ServiceProcess(framework, directory, env)
    try:
        service.start()
        _send_traffic(service.base_url, f"{framework}-{uuid4().hex[:8]}")
        return_code = service.terminate(SHUTDOWN_SECONDS)
    finally:
        service.kill()
        receiver.stop()
    return Run(receiver.received, service.stdout(), service.stderr(), return_code)


@pytest.fixture(scope="module", params=INSTRUMENTED)
def run(request: pytest.FixtureRequest, postgres_database: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    framework: Instrumented = request.param
    return _run(framework, postgres_database, tmp_path_factory.mktemp(f"secrets-{framework}"))


def _json_records(stdout: str) -> Iterator[dict[str, Any]]:
    for line in stdout.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        yield record


# --- Secrets ----------------------------------------------------------------------------------------------------


def test_the_run_exported_every_signal_and_stopped_cleanly(run: Run) -> None:
    assert run.received.signals() == {"traces", "metrics", "logs"}
    assert run.return_code == 0, run.stderr[-3000:]


@pytest.mark.parametrize("secret", SECRETS)
def test_no_secret_reaches_spans_metrics_logs_or_the_output(run: Run, secret: str) -> None:
    wire = [*run.received.raw_payloads, *run.received.serialized()]
    assert [payload for payload in wire if secret.encode() in payload] == []
    assert secret not in run.stdout
    assert secret not in run.stderr


def test_only_the_configured_api_key_goes_to_the_collector_and_only_as_a_header(run: Run) -> None:
    assert {headers.get("api-key") for headers in run.received.headers} == {API_KEY}
    sent_headers = json.dumps(run.received.headers)
    assert BEARER_TOKEN not in sent_headers
    assert SESSION_COOKIE not in sent_headers


def test_a_database_url_password_stays_out_of_a_failed_start(tmp_path: Path) -> None:
    """The database refuses the connection: the start fails, and says so without the URL's password."""
    url = f"postgresql+asyncpg://postgres:{DATABASE_PASSWORD}@127.0.0.1:{free_port()}/nothing"
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "serve", "--port", str(free_port())],
        env=service_environment(url, {"LOG_LEVEL": "debug"}),
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert b"ConnectionRefusedError" in result.stdout + result.stderr, "the failure is reported"
    assert DATABASE_PASSWORD.encode() not in result.stdout + result.stderr


# --- Log injection ----------------------------------------------------------------------------------------------


def test_every_stdout_line_is_one_json_record_and_none_is_forged(run: Run) -> None:
    records = list(_json_records(run.stdout))
    assert records
    assert [r for r in records if r.get("event") == "forged" or r.get("logger") == "attacker"] == []
    assert {r.get("level") for r in records} <= {"debug", "info", "warning", "error"}


def _strings(value: object) -> Iterator[str]:
    """Every string inside a decoded JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_hostile_text_is_logged_inside_a_field(run: Run) -> None:
    """The duplicate name reached the log with its JSON whole, as the value of a field: data, not structure."""
    values = [text for record in _json_records(run.stdout) for text in _strings(record)]
    assert any(FORGED_RECORD in text for text in values)


def test_exported_log_records_hold_the_hostile_text_as_attribute_values(run: Run) -> None:
    records = run.received.log_records()
    assert "forged" not in {record.body for record in records}
    assert any(FORGED_RECORD in str(value) for record in records for value in record.attributes.values())


def test_newlines_and_json_in_any_field_stay_inside_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The one processor chain, whatever logs through it: structlog fields, stdlib messages and exceptions."""
    root = logging.getLogger()
    handlers, level = root.handlers, root.level
    configure_logging(level="debug", log_format="json")
    try:
        structlog.get_logger("injection").warning(FORGED, name=FORGED, nested={"q": FORGED})
        logging.getLogger("injection").error("path %s", FORGED, exc_info=ValueError(FORGED))
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()
    records = list(_json_records(capsys.readouterr().out))
    assert len(records) == 2
    assert [record["event"] for record in records] == [FORGED, f"path {FORGED}"]
    assert records[0]["name"] == records[0]["nested"]["q"] == records[1]["exception.message"] == FORGED


# --- Metric cardinality -----------------------------------------------------------------------------------------

WARM_UP_REQUESTS = 100
# 10 000 random requests in all, half to each app.
RANDOM_REQUESTS = 5_000
# 93 series measured, most of them created up front (every operation by every error type); the bound leaves
# room for a new route or status, never for one series per request.
MAX_SERIES = 120
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-", re.IGNORECASE)
SeriesKey = frozenset[tuple[str, Any]]


def _series(reader: InMemoryMetricReader) -> dict[str, set[SeriesKey]]:
    """The distinct attribute sets of each metric collected so far."""
    found: dict[str, set[SeriesKey]] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                keys = found.setdefault(metric.name, set())
                keys.update(frozenset((point.attributes or {}).items()) for point in metric.data.data_points)
    return found


@dataclass
class RandomTraffic:
    """Requests to random unknown paths and random ids at known routes, and every random value they carried."""

    rng: random.Random
    values: set[str] = field(default_factory=set)

    def request(self) -> tuple[str, str]:
        token = "".join(self.rng.choices(string.ascii_lowercase + string.digits + "-_.~", k=self.rng.randint(1, 40)))
        unknown_id = str(UUID(int=self.rng.getrandbits(128), version=4))
        self.values |= {token, unknown_id}
        return self.rng.choice(
            [
                ("GET", f"/{token}"),
                ("POST", f"/{token}/{unknown_id}"),
                ("GET", f"/resources/{unknown_id}"),
                ("GET", f"/resources/{token}"),
                ("DELETE", f"/resources/{unknown_id}"),
                ("GET", f"/resources/{unknown_id}/dependencies"),
                ("PUT", f"/resources/{unknown_id}"),
                ("GET", f"/resources/{unknown_id}/{token}"),
                (self.rng.choice(["PROPFIND", "BREW", token.upper()]), f"/resources/{unknown_id}"),
            ]
        )


@dataclass
class Measured:
    client: httpx.AsyncClient
    reader: InMemoryMetricReader


@pytest.fixture(params=INSTRUMENTED)
async def measured(request: pytest.FixtureRequest) -> AsyncIterator[Measured]:
    framework, http_spans = instrumented_with(request.param, HttpSpanSettings())
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    telemetry = Telemetry(OtelMetrics(meter_provider), NoOpTracing(), NoOpLogging())
    # The in-memory store: what is measured here is the HTTP layer and the service, not the database.
    runtime = bootstrap(Settings(http_spans=http_spans), InMemoryUnitOfWork(), telemetry)
    await runtime.start()
    module = fastapi_app if framework == "fastapi" else litestar_app
    app: Any = module.create_app(runtime, meter_provider=meter_provider)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
            yield Measured(client, reader)
    finally:
        await runtime.stop()
        meter_provider.shutdown()


def _from_request(value: object, sent: set[str]) -> bool:
    """Whether an attribute value was taken from a request: a concrete path, an id, a token, a method."""
    if not isinstance(value, str):
        return False
    concrete_path = "/" in value and value not in ROUTE_TEMPLATES
    return concrete_path or bool(UUID_TEXT.search(value)) or value.lower() in sent


def _input_in_attributes(series: dict[str, set[SeriesKey]], sent: set[str]) -> list[tuple[str, str, object]]:
    """Attributes that carry a value taken from a request: each would be a new series per request."""
    return [
        (name, key, value)
        for name, keys in series.items()
        for attributes in keys
        for key, value in attributes
        if _from_request(value, sent)
    ]


async def test_random_paths_and_ids_add_no_metric_series(measured: Measured) -> None:
    traffic = RandomTraffic(random.Random(7))
    for _ in range(WARM_UP_REQUESTS):
        await measured.client.request(*traffic.request())
    before = _series(measured.reader)
    started = time.monotonic()
    for _ in range(RANDOM_REQUESTS):
        await measured.client.request(*traffic.request())
    elapsed = time.monotonic() - started
    after = _series(measured.reader)
    counts = {name: (len(before.get(name, ())), len(keys)) for name, keys in sorted(after.items())}
    total = (sum(len(keys) for keys in before.values()), sum(len(keys) for keys in after.values()))
    print(f"\n{RANDOM_REQUESTS} random requests in {elapsed:.1f} s; series (before, after): {total}, {counts}")
    assert _input_in_attributes(after, traffic.values) == []
    assert total[1] <= MAX_SERIES
