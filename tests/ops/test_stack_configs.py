"""The stack's own configuration files: valid for their tools, complete, and wired to each other."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from core.semantic_conventions import ATTR_DB_NAMESPACE, ATTR_DB_SYSTEM

from .provisioning import OPS, load_yaml

COMPOSE: dict[str, Any] = load_yaml(OPS / "docker-compose.yml")
COLLECTOR: dict[str, Any] = load_yaml(OPS / "otel-collector-config.yaml")
PROMETHEUS: dict[str, Any] = load_yaml(OPS / "prometheus.yml")
TEMPO: dict[str, Any] = load_yaml(OPS / "tempo.yaml")
LOKI: dict[str, Any] = load_yaml(OPS / "loki.yaml")
PINNED = re.compile(r"^[\w./-]+:v?\d+(\.\d+)+[\w.-]*$")


def test_promtool_accepts_the_prometheus_config() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "Debian's `prometheus` package is not installed (.ci/run installs it)"
    result = subprocess.run(
        [promtool, "check", "config", str(OPS / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_every_compose_service_is_pinned_and_health_checked(name: str) -> None:
    service = COMPOSE["services"][name]
    assert PINNED.match(service["image"]) or service["image"] == "resource-service:local", service["image"]
    if name == "otel-collector":
        # Distroless: its health_check extension is probed by the sidecar the services wait for.
        sidecar = COMPOSE["services"]["otel-collector-health"]
        assert "13133" in " ".join(sidecar["healthcheck"]["test"])
        assert COLLECTOR["extensions"]["health_check"]["endpoint"].endswith(":13133")
    elif "build" not in service:
        assert service["healthcheck"]["test"], name


def test_the_service_runs_twice_one_per_framework_both_exporting_to_the_collector() -> None:
    services = COMPOSE["services"]
    assert services["fastapi"]["command"] == ["--framework", "fastapi"]
    assert services["litestar"]["command"] == ["--framework", "litestar"]
    for name in ("fastapi", "litestar"):
        environment = services[name]["environment"]
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
        assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_a_one_shot_service_upgrades_the_schema_before_either_app_starts_and_the_apps_only_check_it() -> None:
    services = COMPOSE["services"]
    migrate = services["migrate"]
    assert migrate["image"] == "resource-service:local"
    assert migrate["entrypoint"] == ["resource-service", "db", "upgrade"]
    assert migrate.get("restart", "no") == "no", "a one-shot: it runs once and exits"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("fastapi", "litestar"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"]["DATABASE_URL"] == migrate["environment"]["DATABASE_URL"]
        assert services[name]["environment"]["DATABASE_MIGRATE_ON_START"] == "false"


def test_the_dockerfile_builds_one_non_root_image_serving_either_framework() -> None:
    dockerfile = (OPS / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") == 2, "multi-stage"
    assert re.search(r"^USER app$", dockerfile, re.M)
    assert 'ENTRYPOINT ["resource-service", "serve"' in dockerfile
    assert "HEALTHCHECK" in dockerfile


def test_every_collector_pipeline_limits_memory_first_and_batches() -> None:
    pipelines = COLLECTOR["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for name, pipeline in pipelines.items():
        assert pipeline["receivers"] == ["otlp"], name
        assert pipeline["processors"] == ["memory_limiter", "batch"], name
        assert all(exporter in COLLECTOR["exporters"] for exporter in pipeline["exporters"]), name
    protocols = COLLECTOR["receivers"]["otlp"]["protocols"]
    assert (protocols["grpc"]["endpoint"], protocols["http"]["endpoint"]) == ("0.0.0.0:4317", "0.0.0.0:4318")


def test_the_collector_turns_resource_attributes_into_labels_and_exposes_its_own_metrics() -> None:
    exporter = COLLECTOR["exporters"]["prometheus"]
    assert exporter["resource_to_telemetry_conversion"]["enabled"] is True, "framework_name must become a label"
    readers = COLLECTOR["service"]["telemetry"]["metrics"]["readers"]
    assert readers[0]["pull"]["exporter"]["prometheus"]["port"] == 8888
    targets = {
        target
        for job in PROMETHEUS["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    assert {"otel-collector:8889", "otel-collector:8888"} <= targets
    (service_job,) = [job for job in PROMETHEUS["scrape_configs"] if job["job_name"] == "resource-service"]
    assert service_job["honor_labels"] is True


def test_tempo_writes_span_metrics_with_exemplars_to_prometheus_and_loki_keeps_metadata() -> None:
    generator = TEMPO["metrics_generator"]
    (remote_write,) = generator["storage"]["remote_write"]
    assert remote_write == {"url": "http://prometheus:9090/api/v1/write", "send_exemplars": True}
    processors = TEMPO["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert {"service-graphs", "span-metrics"} <= set(processors)
    assert "--web.enable-remote-write-receiver" in COMPOSE["services"]["prometheus"]["command"]
    assert LOKI["limits_config"]["allow_structured_metadata"] is True
    assert COLLECTOR["exporters"]["otlphttp/loki"]["endpoint"] == "http://loki:3100/otlp"


def test_tempo_draws_the_database_from_the_repository_client_spans() -> None:
    """The service graph names a CLIENT span's peer by the first of these it carries: ours carry the current names."""
    service_graphs = TEMPO["metrics_generator"]["processor"]["service_graphs"]
    assert {ATTR_DB_NAMESPACE, ATTR_DB_SYSTEM} <= set(service_graphs["peer_attributes"])
    assert service_graphs["enable_virtual_node_label"] is True
