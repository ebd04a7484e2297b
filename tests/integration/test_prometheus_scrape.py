"""The scrape path (OTEL_METRICS_EXPORTER=prometheus): every series carries the resource labels and the framework."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from .otlp_receiver import ServiceProcess, framework_name, free_port, service_environment

PROMOTED_LABELS = ("service_name", "service_version", "service_instance_id", "deployment_environment_name")
# The saturation metrics as Prometheus names them (docs/metrics-reference.md, "Saturation metrics").
SATURATION_SERIES = (
    "asyncio_eventloop_delay_seconds_bucket",
    "db_client_connection_count",
    "db_client_connection_max",
    "db_client_connection_pending_requests",
    "db_client_connection_timeouts_total",
    "db_client_connection_wait_time_seconds_bucket",
    "db_client_connection_use_time_seconds_bucket",
    "process_cpu_time_seconds_total",
    "process_memory_usage_bytes",
    "process_memory_virtual_bytes",
    "process_thread_count",
    "process_unix_file_descriptor_count",
    "cpython_gc_collections_total",
    "cpython_gc_collected_objects_total",
    "cpython_gc_uncollectable_objects_total",
)


@pytest.mark.parametrize("framework", ["fastapi", "fastapi-native", "litestar"])
def test_every_series_carries_the_resource_labels_and_the_framework(tmp_path: Path, framework: str) -> None:
    port = free_port()
    env = service_environment(
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": str(port)},
    )
    service = ServiceProcess(framework, tmp_path, env).start()
    try:
        assert httpx.post(f"{service.base_url}/resources", json={"name": "scraped"}).status_code == 201
        # The event-loop probe records its first delay one interval after the app started, which a fast start and
        # a quick scrape can both beat: scrape until it has.
        for _ in range(50):
            exposition = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            if "asyncio_eventloop_delay_seconds_bucket{" in exposition:
                break
            time.sleep(0.1)
    finally:
        service.terminate(10)
        service.kill()
    samples = [
        line for line in exposition.splitlines() if line.startswith(("resource_", "http_server_", *SATURATION_SERIES))
    ]
    assert any(line.startswith("resource_operations_total{") for line in samples), exposition[:2000]
    assert {line.split("{", 1)[0] for line in samples} >= set(SATURATION_SERIES)
    assert any(line.startswith("http_server_request_duration_seconds_bucket{") for line in samples)
    for line in samples:
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        assert labels.get("framework_name") == framework_name(framework), line
        assert all(labels.get(label) for label in PROMOTED_LABELS), line
