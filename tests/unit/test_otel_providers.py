"""The SDK set-up: the resource every signal carries, and the standard variables the SDK reads itself."""

from __future__ import annotations

import uuid

import pytest

from adapters.otel.providers import EXPORT_BATCH_SIZE, ExportSettings, build_providers, build_resource

RESOURCE = ("1.2.3", "litestar", "test")  # service version, framework, deployment environment


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        monkeypatch.delenv(name, raising=False)


def test_the_resource_names_service_version_instance_environment_and_framework() -> None:
    attributes = build_resource(*RESOURCE).attributes
    assert attributes["service.name"] == "resource-service"
    assert (attributes["service.version"], attributes["deployment.environment.name"]) == ("1.2.3", "test")
    assert attributes["framework.name"] == "litestar"
    assert uuid.UUID(str(attributes["service.instance.id"]))


def test_the_standard_variables_win_except_for_the_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "graph-api")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,framework.name=other,team=a")
    attributes = build_resource(*RESOURCE).attributes
    assert (attributes["service.name"], attributes["deployment.environment.name"]) == ("graph-api", "prod")
    assert (attributes["framework.name"], attributes["team"]) == ("litestar", "a")


def test_a_service_name_in_the_resource_attributes_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    assert build_resource(*RESOURCE).attributes["service.name"] == "from-attributes"


def test_the_sampler_comes_from_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    providers = build_providers(build_resource(*RESOURCE))
    try:
        description = providers.tracer_provider.sampler.get_description()
        assert "ParentBased" in description
        assert "0.25" in description
    finally:
        assert providers.shutdown(5)


def _export_batch_sizes(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """The span and log batch processors' batch sizes, as build_providers sets them (SDK internals, read only)."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    export = ExportSettings(traces_exporter="otlp", metrics_exporter="none", logs_exporter="otlp")
    providers = build_providers(build_resource("1.2.3", "fastapi"), export)
    try:
        (spans,) = providers.tracer_provider._active_span_processor._span_processors
        (logs,) = providers.logger_provider._multi_log_record_processor._log_record_processors
        return spans._batch_processor._max_export_batch_size, logs._batch_processor._max_export_batch_size  # type: ignore[attr-defined]
    finally:
        providers.shutdown(1.0)


def test_batches_hold_128_items_unless_the_standard_variables_say_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoding a batch holds the GIL while requests wait: 128 spans take a quarter of the SDK's default 512."""
    monkeypatch.delenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", raising=False)
    monkeypatch.delenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", raising=False)
    assert _export_batch_sizes(monkeypatch) == (EXPORT_BATCH_SIZE, EXPORT_BATCH_SIZE) == (128, 128)
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "256")
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "64")
    assert _export_batch_sizes(monkeypatch) == (256, 64)
