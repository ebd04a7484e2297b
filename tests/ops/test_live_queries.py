"""Every PromQL query of every dashboard and alert, run by a real Prometheus against the running service.

FastAPI on SQLite (one process) and Litestar on PostgreSQL (`--workers 2`, a scrape port per worker) serve with
`OTEL_METRICS_EXPORTER=prometheus`; Prometheus scrapes all three endpoints every second. First healthy traffic,
after which no alert may fire; then each fault an alert watches, overload last, after which every alert whose
series the service produces must fire, and every dashboard query must return series. The collector's own failure
counters come from a stand-in endpoint that writes them in both spellings; queries on series only Tempo's metrics
generator produces are checked to parse.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from integration.otlp_receiver import HttpReceiver, ServiceProcess, free_ports, service_environment
from prometheus_client.parser import text_string_to_metric_families

from .live import (
    COLLECTOR_COUNTERS,
    Client,
    CollectorTelemetry,
    PrometheusServer,
    drive_errors,
    drive_healthy,
    drive_overload,
    drive_slow_writes,
    fires,
    resources_table_hidden,
)
from .provisioning import AlertRule, PanelQuery, alert_rules, prometheus_queries

SLOW_WRITES = 40
LOCK_HOLD_S = 1.5
DATABASE_ERRORS = 12
# The export-failure alert fires above 10 in 5 minutes: produce a few more on one signal of each service.
EXPORT_FAILURES = 14
EXPORT_FAILURES_WITHIN_S = 120
WORKERS = 2
# The overload: bursts of wrk's clients, each for a few seconds, until every saturation alert fires (their p99
# over 5 minutes needs 1 % of the event loop's checks and of the pool's waits to be slow).
OVERLOAD_CONNECTIONS = 400
OVERLOAD_BURST_S = 5.0
OVERLOAD_WITHIN_S = 90
SATURATION_ALERTS = ("resource-event-loop-delay", "resource-connection-pool-wait", "resource-admission-shedding")
# Admission control's bound in the live stack: three quarters of the overload's connections served at once, over
# the workers of each service, none waiting, so that the rest are shed while the event loop and the pool still
# fall behind as under the whole overload.
ADMISSION_BOUND = OVERLOAD_CONNECTIONS * 3 // 4


@dataclass
class Service:
    framework: str
    database_url: str
    metrics_ports: range
    process: ServiceProcess
    client: Client

    def export_failures(self) -> float:
        """The most failed exports of one signal, summed over the workers' scrape endpoints."""
        by_signal: dict[str, float] = {}
        for port in self.metrics_ports:
            exposition = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            for family in text_string_to_metric_families(exposition):
                for sample in family.samples:
                    if sample.name == "telemetry_export_failures_total":
                        signal = sample.labels["signal"]
                        by_signal[signal] = by_signal.get(signal, 0.0) + sample.value
        return max(by_signal.values(), default=0.0)


@dataclass
class LiveStack:
    prometheus: PrometheusServer
    services: list[Service]
    receiver: HttpReceiver
    collector: CollectorTelemetry
    healthy_alert_values: dict[str, list[float]]


def _service(framework: str, database_url: str, directory: Path, otlp_port: int, workers: int) -> Service:
    metrics_ports = range(first := free_ports(workers), first + workers)
    env = service_environment(
        database_url,
        {
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(first),
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "500",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "RESOURCE_COUNT_INTERVAL_SECONDS": "1",
            "ADMISSION_MAX_CONCURRENCY": str(ADMISSION_BOUND // workers),
            "ADMISSION_MAX_WAITING": "0",
        },
    )
    process = ServiceProcess(framework, directory / framework, env, workers=workers).start()
    return Service(framework, database_url, metrics_ports, process, Client(process.base_url))


def _alert_values(prometheus: PrometheusServer) -> dict[str, list[float]]:
    return {rule.uid: prometheus.values(rule.expr) for rule in alert_rules("service") + alert_rules("collector")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_database: str) -> Iterator[LiveStack]:
    directory = tmp_path_factory.mktemp("live")
    receiver = HttpReceiver().start()
    collector = CollectorTelemetry().start()
    databases = {"fastapi": f"sqlite+aiosqlite:///{directory / 'resources.db'}", "litestar": postgres_database}
    workers = {"fastapi": 1, "litestar": WORKERS}
    services: list[Service] = []
    prometheus: PrometheusServer | None = None
    try:
        for framework, database_url in databases.items():
            services.append(_service(framework, database_url, directory, receiver.port, workers[framework]))
        targets = [f"127.0.0.1:{port}" for service in services for port in service.metrics_ports] + [collector.target]
        prometheus = PrometheusServer(directory / "prometheus", targets).start()
        for service in services:
            drive_healthy(service.client, f"healthy-{service.framework}")
        prometheus.wait_for_scrapes()
        yield LiveStack(prometheus, services, receiver, collector, _alert_values(prometheus))
    finally:
        if prometheus is not None:
            prometheus.stop()
        for service in services:
            service.process.terminate(10)
            service.process.kill()
        receiver.stop()
        collector.stop()


@pytest.fixture(scope="module")
def faulted(stack: LiveStack) -> LiveStack:
    """The stack after every fault an alert watches, with healthy traffic around it."""
    for service in stack.services:
        drive_errors(service.client, f"faulty-{service.framework}")
        durations = drive_slow_writes(
            service.process.base_url, service.database_url, f"slow-{service.framework}", SLOW_WRITES, LOCK_HOLD_S
        )
        assert min(durations) > 1.0, f"the writes held back from outside did not hold the creates: {durations}"
    postgres = next(service for service in stack.services if service.database_url.startswith("postgresql"))
    with resources_table_hidden(postgres.database_url):
        statuses = [postgres.client.request("GET", "/resources").status_code for _ in range(DATABASE_ERRORS)]
    assert all(status >= 500 for status in statuses), f"the hidden table caused no database error: {statuses}"
    stack.receiver.refuse()
    stack.collector.fail()
    _fail_exports(stack.services)
    _overload(stack)
    stack.prometheus.wait_for_scrapes(6)
    return stack


def _overload(stack: LiveStack) -> None:
    """Bursts of more load than the services serve, until the saturation alerts fire (or the time is up)."""
    rules = [rule for rule in alert_rules("service") if rule.uid in SATURATION_ALERTS]
    assert {rule.uid for rule in rules} == set(SATURATION_ALERTS)
    deadline = time.monotonic() + OVERLOAD_WITHIN_S
    while True:
        with ThreadPoolExecutor(max_workers=len(stack.services)) as pool:
            bursts = [
                pool.submit(drive_overload, service.process.base_url, OVERLOAD_CONNECTIONS, OVERLOAD_BURST_S)
                for service in stack.services
            ]
            for burst in bursts:
                burst.result()
        stack.prometheus.wait_for_scrapes(2)
        values = {rule.uid: stack.prometheus.values(rule.expr) for rule in rules}
        if all(fires(values[rule.uid], rule.threshold) for rule in rules):
            return
        assert time.monotonic() < deadline, f"the overload did not make the saturation alerts fire: {values}"


def _fail_exports(services: list[Service]) -> None:
    """Traffic while the receiver refuses, until each service counted more export failures than the alert allows."""
    deadline = time.monotonic() + EXPORT_FAILURES_WITHIN_S
    for round_ in itertools.count():
        if all(service.export_failures() >= EXPORT_FAILURES for service in services):
            return
        assert time.monotonic() < deadline, {s.framework: s.export_failures() for s in services}
        for service in services:
            drive_healthy(service.client, f"unexported-{service.framework}-{round_}", rounds=1)


def test_no_alert_fires_on_healthy_traffic(stack: LiveStack) -> None:
    firing = {
        uid: values
        for uid, values in stack.healthy_alert_values.items()
        if fires(values, next(rule.threshold for rule in alert_rules() if rule.uid == uid))
    }
    assert not firing, f"alerts firing on healthy traffic: {firing}"


@pytest.mark.parametrize("rule", alert_rules("service"), ids=lambda rule: rule.uid)
def test_the_alert_fires_when_its_condition_is_produced(faulted: LiveStack, rule: AlertRule) -> None:
    values = faulted.prometheus.values(rule.expr)
    assert fires(values, rule.threshold), f"{rule.title}: {rule.expr} gave {values}, threshold {rule.threshold}"


def test_the_collector_alert_fires_on_either_spelling_of_its_counters(faulted: LiveStack) -> None:
    (rule,) = alert_rules("collector")
    values = {sample["metric"]["exporter"]: float(sample["value"][1]) for sample in faulted.prometheus.query(rule.expr)}
    assert {exporter for exporter, value in values.items() if fires([value], rule.threshold)} == set(
        COLLECTOR_COUNTERS
    ), values


@pytest.mark.parametrize(
    "query",
    prometheus_queries("service") + prometheus_queries("collector"),
    ids=lambda query: f"{query.dashboard}:{query.panel}:{query.ref_id}",
)
def test_the_dashboard_query_returns_series(faulted: LiveStack, query: PanelQuery) -> None:
    result = faulted.prometheus.query(query.expr)
    assert result, f"{query.dashboard} / {query.panel}: no series for {query.expr}"
    frameworks = {sample["metric"].get("framework_name") for sample in result}
    assert frameworks <= {"fastapi", "litestar", None}


TEMPO_QUERIES = {f"{query.dashboard}:{query.panel}:{query.ref_id}": query.expr for query in prometheus_queries("tempo")}
TEMPO_QUERIES.update({rule.uid: rule.expr for rule in alert_rules("tempo")})


@pytest.mark.parametrize("where", sorted(TEMPO_QUERIES))
def test_dashboard_and_alert_queries_on_tempo_series_parse(stack: LiveStack, where: str) -> None:
    stack.prometheus.query(TEMPO_QUERIES[where])


def test_both_frameworks_and_both_databases_reach_prometheus(faulted: LiveStack) -> None:
    series = faulted.prometheus.query(
        "sum by (framework_name, db_system_name) (resource_repository_duration_seconds_count)"
    )
    pairs = {(sample["metric"]["framework_name"], sample["metric"]["db_system_name"]) for sample in series}
    assert pairs == {("fastapi", "sqlite"), ("litestar", "postgresql")}


def test_the_scrape_targets_are_up(stack: LiveStack) -> None:
    assert stack.prometheus.values("up") == [1.0] * (1 + WORKERS + 1), "both services' workers and the collector"
    response = httpx.get(f"{stack.prometheus.url}/api/v1/targets", timeout=5).json()
    assert all(target["health"] == "up" for target in response["data"]["activeTargets"])


def test_every_worker_reports_the_stored_count_and_the_dashboard_reads_it_once(stack: LiveStack) -> None:
    reporting = stack.prometheus.query("count by (framework_name) (resource_count)")
    assert {sample["metric"]["framework_name"]: sample["value"][1] for sample in reporting} == {
        "fastapi": "1",
        "litestar": str(WORKERS),
    }
    for service in stack.services:
        stored = service.client.request("GET", "/resources", params={"limit": 1}).json()["total"]
        query = f'max by (framework_name) (resource_count{{framework_name="{service.framework}"}})'
        deadline = time.monotonic() + 10
        while stack.prometheus.values(query) != [float(stored)]:
            assert time.monotonic() < deadline, f"{query} gave {stack.prometheus.values(query)}, stored {stored}"
            time.sleep(0.5)
