"""The stack's own configuration files: valid for their tools, complete, and wired to each other."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.semantic_conventions import ATTR_DB_NAMESPACE, ATTR_DB_SYSTEM

from . import tools
from .live import PrometheusServer
from .provisioning import OPS, load_yaml, pinned_grafana

COMPOSE: dict[str, Any] = load_yaml(OPS / "docker-compose.yml")
COLLECTOR: dict[str, Any] = load_yaml(OPS / "otel-collector-config.yaml")
PROMETHEUS: dict[str, Any] = load_yaml(OPS / "prometheus.yml")
TEMPO: dict[str, Any] = load_yaml(OPS / "tempo.yaml")
LOKI: dict[str, Any] = load_yaml(OPS / "loki.yaml")
PINNED = re.compile(r"^[\w./-]+:v?\d+(\.\d+)+[\w.-]*$")
# The compactor's settings at the Loki pinned: the yaml keys of `compactor.Config` in pkg/compactor/config.go
# at grafana/loki v3.7.6. Read them again when the pin moves.
LOKI_PINNED = "grafana/loki:3.7.6"
LOKI_COMPACTOR_KEYS = {
    "working_directory", "compaction_interval", "apply_retention_interval", "retention_enabled",
    "retention_delete_delay", "retention_delete_worker_count", "retention_table_timeout", "retention_backoff_config",
    "delete_request_store", "delete_request_store_key_prefix", "delete_request_store_db_type",
    "backup_delete_request_store_db_type", "delete_batch_size", "delete_request_cancel_period", "delete_max_interval",
    "max_compaction_parallelism", "upload_parallelism", "compactor_ring", "tables_to_compact", "skip_latest_n_tables",
    "horizontal_scaling_mode", "worker_config", "jobs_config", "deletion_marker_object_store_prefix",
}  # fmt: skip


def test_the_checks_run_the_prometheus_major_version_the_stack_pins() -> None:
    pinned = re.fullmatch(r"prom/prometheus:v(\d+)\.\d+\.\d+", COMPOSE["services"]["prometheus"]["image"])
    assert pinned is not None
    for tool in (tools.PROMETHEUS, tools.PROMTOOL):
        assert tools.version(tool).split(".")[0] == pinned.group(1), tool


def test_promtool_accepts_the_prometheus_config() -> None:
    tools.version(tools.PROMTOOL)
    result = subprocess.run(
        [tools.PROMTOOL, "check", "config", str(OPS / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_3_starts_with_every_flag_the_stack_gives_it(tmp_path: Path) -> None:
    """Prometheus refuses an unknown flag; the stack's own config file is checked by promtool above."""
    flags = [flag for flag in COMPOSE["services"]["prometheus"]["command"] if not flag.startswith("--config.file=")]
    assert "--web.enable-remote-write-receiver" in flags
    PrometheusServer(tmp_path, targets=[], flags=flags).start().stop()


# Distroless images (no shell, no wget) are probed from a busybox sidecar named after them: what it asks.
PROBED_BY_SIDECAR = {"otel-collector": "http://otel-collector:13133/", "tempo": "http://tempo:3200/ready"}


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_every_compose_service_is_pinned_and_health_checked(name: str) -> None:
    service = COMPOSE["services"][name]
    assert PINNED.match(service["image"]) or service["image"] == "resource-service:local", service["image"]
    if name in PROBED_BY_SIDECAR:
        sidecar = COMPOSE["services"][f"{name}-health"]
        assert PROBED_BY_SIDECAR[name] in sidecar["healthcheck"]["test"]
        assert "healthcheck" not in service, "its image has nothing to run a probe with"
    elif "build" not in service:
        assert service["healthcheck"]["test"], name


def test_the_collector_health_check_extension_is_where_its_sidecar_asks() -> None:
    assert COLLECTOR["extensions"]["health_check"]["endpoint"].endswith(":13133")


def test_every_service_waited_on_for_its_health_has_a_healthcheck() -> None:
    """A `service_healthy` wait on a service without a probe never ends: nothing after it would start."""
    for name, service in COMPOSE["services"].items():
        depends_on = service.get("depends_on", {})
        for dependency in depends_on if isinstance(depends_on, dict) else ():
            if depends_on[dependency]["condition"] == "service_healthy":
                healthcheck = COMPOSE["services"][dependency].get("healthcheck", {})
                assert healthcheck.get("test"), (name, dependency)
                assert not healthcheck.get("disable"), (name, dependency)


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


# The component types the collector may name at the image pinned: the `type` in core's metadata.yaml at
# open-telemetry/opentelemetry-collector v0.159.0 (receiver/otlpreceiver, processor/memorylimiterprocessor and
# batchprocessor, exporter/otlpexporter `otlp_grpc` and otlphttpexporter `otlp_http`, whose old names `otlp` and
# `otlphttp` are deprecated aliases from 0.144) and contrib's prometheus exporter and health_check extension, all in
# distributions/otelcol-contrib/manifest.yaml at open-telemetry/opentelemetry-collector-releases v0.159.0.
COLLECTOR_PINNED = "otel/opentelemetry-collector-contrib:0.159.0"
COLLECTOR_TYPES = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "batch"},
    "exporters": {"otlp_grpc", "otlp_http", "prometheus"},
    "extensions": {"health_check"},
}
# The yaml keys of the processors at that tag (internal/memorylimiter/config.go, processor/batchprocessor/config.go):
# the collector refuses a key its config struct does not have.
COLLECTOR_PROCESSOR_KEYS = {
    "memory_limiter": {
        "check_interval", "limit_mib", "spike_limit_mib", "limit_percentage", "spike_limit_percentage",
        "min_gc_interval_when_soft_limited", "min_gc_interval_when_hard_limited", "max_gc_interval_when_soft_limited",
        "max_gc_interval_when_hard_limited",
    },
    "batch": {"timeout", "send_batch_size", "send_batch_max_size", "metadata_keys", "metadata_cardinality_limit"},
}  # fmt: skip


def test_the_collector_names_only_component_types_of_the_release_pinned() -> None:
    assert COMPOSE["services"]["otel-collector"]["image"] == COLLECTOR_PINNED
    for kind, types in COLLECTOR_TYPES.items():
        named = {component_id.split("/")[0] for component_id in COLLECTOR[kind]}
        assert named <= types, (kind, named - types)
    pipelines = COLLECTOR["service"]["pipelines"].values()
    assert not {exporter.split("/")[0] for pipeline in pipelines for exporter in pipeline["exporters"]} & {
        "otlp",
        "otlphttp",
    }, "deprecated aliases of otlp_grpc and otlp_http"


def test_the_collector_processors_set_only_keys_of_the_release_pinned() -> None:
    for name, known in COLLECTOR_PROCESSOR_KEYS.items():
        assert set(COLLECTOR["processors"][name]) <= known, (name, set(COLLECTOR["processors"][name]) - known)


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


# The yaml keys Tempo reads (strictly: an unknown key stops it) at the tag pinned, grafana/tempo v3.0.3: the
# structs of cmd/tempo/app/config.go, modules/generator/config.go and its processors', registry's and storage's
# config.go, and modules/overrides/config.go. Read them again when the pin moves.
TEMPO_PINNED = "grafana/tempo:3.0.3"
TEMPO_KEYS: dict[tuple[str, ...], set[str]] = {
    (): {
        "target", "auth_enabled", "multitenancy_enabled", "shutdown_delay", "stream_over_http_enabled",
        "http_api_prefix", "enable_go_runtime_metrics", "span_profiling", "memory", "server", "internal_server",
        "distributor", "metrics_generator_client", "live_store_client", "querier", "query_frontend",
        "metrics_generator", "ingest", "block_builder", "storage", "overrides", "memberlist", "usage_report", "cache",
        "backend_scheduler", "backend_scheduler_client", "backend_worker", "live_store",
    },
    ("metrics_generator",): {
        "ring", "processor", "registry", "storage", "metrics_ingestion_time_range_slack", "override_ring_key",
        "ring_mode", "codec", "limiter_type", "ingest_concurrency", "instance_id", "leave_consumer_group_on_shutdown",
    },
    ("metrics_generator", "processor"): {"service_graphs", "span_metrics", "host_info"},
    ("metrics_generator", "processor", "service_graphs"): {
        "wait", "max_items", "workers", "histogram_buckets", "dimensions", "enable_client_server_prefix",
        "enable_messaging_system_latency_histogram", "peer_attributes", "span_multiplier_key",
        "enable_tracestate_span_multiplier", "enable_virtual_node_label", "database_name_attributes",
        "filter_policies",
    },
    ("metrics_generator", "processor", "span_metrics"): {
        "histogram_buckets", "intrinsic_dimensions", "dimensions", "dimension_mappings", "enable_target_info",
        "span_multiplier_key", "enable_tracestate_span_multiplier", "filter_policies",
        "target_info_excluded_dimensions", "enable_instance_label",
    },
    ("metrics_generator", "registry"): {
        "collection_interval", "stale_duration", "external_labels", "inject_tenant_id_as", "max_label_name_length",
        "max_label_value_length",
    },
    ("metrics_generator", "storage"): {
        "path", "wal", "remote_write_flush_deadline", "remote_write_add_org_id_header", "remote_write",
    },
    ("overrides", "defaults"): {
        "ingestion", "read", "compaction", "metrics_generator", "forwarders", "global", "storage", "cost_attribution",
    },
    ("overrides", "defaults", "compaction"): {"block_retention", "compaction_window", "compaction_disabled"},
}  # fmt: skip


def test_tempo_reads_every_key_of_its_config_at_the_tag_pinned() -> None:
    assert COMPOSE["services"]["tempo"]["image"] == TEMPO_PINNED
    for path, known in TEMPO_KEYS.items():
        section = TEMPO
        for key in path:
            section = section[key]
        assert set(section) <= known, (path, set(section) - known)


def test_tempo_keeps_traces_a_day_through_its_backend_and_runs_no_removed_processor() -> None:
    """Tempo 3 applies retention in its backend scheduler, from the `compaction` override; local-blocks is gone."""
    defaults = TEMPO["overrides"]["defaults"]
    assert defaults["compaction"]["block_retention"] == "24h"
    assert "compaction_disabled" not in defaults["compaction"], "only while a 2.x compactor shares the storage"
    assert set(defaults["metrics_generator"]["processors"]) == {"service-graphs", "span-metrics"}


def test_tempo_writes_span_metrics_with_exemplars_to_prometheus_and_loki_keeps_metadata() -> None:
    generator = TEMPO["metrics_generator"]
    (remote_write,) = generator["storage"]["remote_write"]
    assert remote_write == {"url": "http://prometheus:9090/api/v1/write", "send_exemplars": True}
    processors = TEMPO["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert {"service-graphs", "span-metrics"} <= set(processors)
    assert "--web.enable-remote-write-receiver" in COMPOSE["services"]["prometheus"]["command"]
    assert LOKI["limits_config"]["allow_structured_metadata"] is True
    assert COLLECTOR["exporters"]["otlp_http/loki"]["endpoint"] == "http://loki:3100/otlp"


def test_tempo_draws_the_database_from_the_repository_client_spans() -> None:
    """The service graph names a CLIENT span's peer by the first of these it carries: ours carry the current names."""
    service_graphs = TEMPO["metrics_generator"]["processor"]["service_graphs"]
    assert {ATTR_DB_NAMESPACE, ATTR_DB_SYSTEM} <= set(service_graphs["peer_attributes"])
    assert service_graphs["enable_virtual_node_label"] is True


def test_loki_deletes_logs_older_than_the_retention_period() -> None:
    """The compactor applies `retention_period` only with retention on and a delete-request store (its Validate)."""
    assert COMPOSE["services"]["loki"]["image"] == LOKI_PINNED
    compactor = LOKI["compactor"]
    assert set(compactor) <= LOKI_COMPACTOR_KEYS, set(compactor) - LOKI_COMPACTOR_KEYS
    assert compactor["retention_enabled"] is True
    schemas = LOKI["schema_config"]["configs"]
    assert compactor["delete_request_store"] in {schema["object_store"] for schema in schemas}
    assert all(schema["index"]["period"] == "24h" for schema in schemas), "retention needs a 24h index period"
    assert LOKI["limits_config"]["retention_period"] == "168h"


def test_grafana_mails_alert_notifications_to_the_local_mailbox() -> None:
    grafana = COMPOSE["services"]["grafana"]
    mailpit = COMPOSE["services"]["mailpit"]
    assert grafana["environment"]["GF_SMTP_ENABLED"] == "true"
    assert grafana["environment"]["GF_SMTP_HOST"] == "mailpit:1025", "Mailpit's SMTP port"
    assert grafana["depends_on"]["mailpit"]["condition"] == "service_healthy"
    assert "8025:8025" in mailpit["ports"], "its inbox, in a browser"


def test_every_grafana_feature_toggle_enabled_is_one_the_release_pinned_registers() -> None:
    """A toggle the release does not register is ignored: the stack would run without what it asked for."""
    version = pinned_grafana()
    asked = COMPOSE["services"]["grafana"]["environment"].get("GF_FEATURE_TOGGLES_ENABLE", "").replace(",", " ").split()
    registered = tools.grafana_feature_toggles(version)
    assert len(registered) > 50, f"the toggles of Grafana {version} were not read: {registered}"
    assert set(asked) <= registered, f"not toggles of Grafana {version}: {sorted(set(asked) - registered)}"


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its folders decides; `!` keeps it."""
    parts = path.split("/")
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    excluded = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        if any(dockerignore_pattern(pattern.removeprefix("!")).fullmatch(candidate) for candidate in candidates):
            excluded = not keep
    return excluded


def dockerignore_pattern(glob: str) -> re.Pattern[str]:
    """Go's filepath.Match with Docker's `**`: `*` and `?` stay within one path segment."""
    wildcards = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    tokens = re.findall(r"\*\*/?|\*|\?|\[[^]]*\]|[^*?\[]+", glob)
    return re.compile("".join(wildcards.get(token, token if token[0] == "[" else re.escape(token)) for token in tokens))


def test_the_dockerignore_patterns_follow_dockers_matching() -> None:
    patterns = ["*", "!core", "**/__pycache__"]
    assert dockerignore_excludes(".git/HEAD", patterns)
    assert not dockerignore_excludes("core/domain.py", patterns)
    assert dockerignore_excludes("core/sub/__pycache__/domain.cpython-311.pyc", patterns)


def test_the_image_build_context_holds_what_the_dockerfile_copies_and_nothing_of_the_workspace() -> None:
    root = OPS.parent
    patterns = [
        line.strip()
        for line in (root / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        source
        for line in (OPS / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    ]
    copied = [
        path.relative_to(root).as_posix()
        for source in sources
        for path in ([root / source] if (root / source).is_file() else (root / source).rglob("*.py"))
        if "__pycache__" not in path.parts
    ]
    assert len(copied) > 20
    assert not [path for path in copied if dockerignore_excludes(path, patterns)]
    workspace = [
        ".git/HEAD",
        ".tox/ops/bin/python",
        ".venv/bin/python",
        "tests/conftest.py",
        "docs/architecture.md",
        "resource_service.egg-info/PKG-INFO",
        "core/__pycache__/domain.cpython-311.pyc",
        ".env.example",
    ]
    assert all(dockerignore_excludes(path, patterns) for path in workspace), [
        path for path in workspace if not dockerignore_excludes(path, patterns)
    ]


def test_loki_is_probed_by_its_own_binary() -> None:
    """Loki's image is distroless from 3.5.8: no wget; `loki -health` asks its /ready (cmd/loki/health.go)."""
    assert COMPOSE["services"]["loki"]["healthcheck"]["test"] == ["CMD", "/usr/bin/loki", "-health"]


def test_postgres_keeps_its_data_where_its_image_declares_the_volume() -> None:
    """PostgreSQL 18's image keeps PGDATA under /var/lib/postgresql and refuses a volume at .../data."""
    service = COMPOSE["services"]["postgres"]
    major = re.fullmatch(r"postgres:(\d+)\.\d+-alpine", service["image"])
    assert major is not None
    assert int(major.group(1)) >= 18
    assert [volume.split(":")[1] for volume in service["volumes"]] == ["/var/lib/postgresql"]
