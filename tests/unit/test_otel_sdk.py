"""The SDK set-up: the resource every signal carries, and the standard variables the SDK reads itself."""

from __future__ import annotations

import uuid

import pytest

from adapters.otel.sdk import OtelConfig, build_providers, build_resource

CONFIG = OtelConfig(service_version="1.2.3", framework="litestar", deployment_environment="test")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        monkeypatch.delenv(name, raising=False)


def test_the_resource_names_service_version_instance_environment_and_framework() -> None:
    attributes = build_resource(CONFIG).attributes
    assert attributes["service.name"] == "resource-service"
    assert (attributes["service.version"], attributes["deployment.environment.name"]) == ("1.2.3", "test")
    assert attributes["framework.name"] == "litestar"
    assert uuid.UUID(str(attributes["service.instance.id"]))


def test_the_standard_variables_win_except_for_the_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "graph-api")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,framework.name=other,team=a")
    attributes = build_resource(CONFIG).attributes
    assert (attributes["service.name"], attributes["deployment.environment.name"]) == ("graph-api", "prod")
    assert (attributes["framework.name"], attributes["team"]) == ("litestar", "a")


def test_a_service_name_in_the_resource_attributes_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    assert build_resource(CONFIG).attributes["service.name"] == "from-attributes"


def test_the_sampler_comes_from_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    providers = build_providers(CONFIG)
    try:
        description = providers.tracer_provider.sampler.get_description()
        assert "ParentBased" in description
        assert "0.25" in description
    finally:
        assert providers.shutdown(5)
