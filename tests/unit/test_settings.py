"""Configuration from the environment: defaults, every accepted value, and one clear error per invalid variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.settings import (
    DEFAULT_DATABASE_URL,
    AdmissionSettings,
    HttpSpanSettings,
    Settings,
    SettingsError,
    TelemetrySettings,
)

ROOT = Path(__file__).resolve().parents[2]
EXPORTER_VARIABLES = {
    "OTEL_TRACES_EXPORTER": ("otlp", "console", "none"),
    "OTEL_METRICS_EXPORTER": ("otlp", "console", "prometheus", "none"),
    "OTEL_LOGS_EXPORTER": ("otlp", "console", "none"),
}
CHOICE_VARIABLES = {
    **EXPORTER_VARIABLES,
    "OTEL_EXPORTER_OTLP_PROTOCOL": ("grpc", "http/protobuf"),
    "OTEL_TRACES_SAMPLER": (
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ),
    "OTEL_SDK_DISABLED": ("true", "false"),
    "DATABASE_MIGRATE_ON_START": ("true", "false"),
    "HTTP_TRUST_FORWARDED_HOST": ("true", "false"),
    "HTTP_SPAN_CLIENT_PORT": ("true", "false"),
    "SATURATION_METRICS": ("true", "false"),
    "LOG_LEVEL": ("debug", "info", "warning", "error"),
    "LOG_FORMAT": ("json", "console"),
}
# Each number variable and the values it accepts.
# Each number variable: whole or not, and its range.
NUMBER_VARIABLES: dict[str, tuple[bool, float, float]] = {
    "OTEL_METRIC_EXPORT_INTERVAL": (True, 1, 86_400_000),
    "OTEL_EXPORTER_OTLP_TIMEOUT": (True, 1, 600_000),
    "OBSERVABILITY_SHUTDOWN_TIMEOUT": (False, 0, 300),
    "OTEL_EXPORTER_PROMETHEUS_PORT": (True, 1, 65_535),
    "MAX_BODY_BYTES": (True, 1, 2**40),
    "RESOURCE_COUNT_INTERVAL_SECONDS": (True, 1, 86_400),
    "WEB_CONCURRENCY": (True, 1, 256),
}


def _casings(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from([value, value.upper(), f" {value} "])


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert (settings.database_url, settings.max_body_bytes, settings.resource_count_interval_s) == (
        DEFAULT_DATABASE_URL,
        1024 * 1024,
        15,
    )
    assert settings.telemetry == TelemetrySettings()


def test_http_spans_trust_no_forwarded_host_and_leave_out_the_client_port_unless_told() -> None:
    assert Settings.from_env({}).http_spans == HttpSpanSettings(trust_forwarded_host=False, client_port=False)
    told = Settings.from_env({"HTTP_TRUST_FORWARDED_HOST": "true", "HTTP_SPAN_CLIENT_PORT": "TRUE"}).http_spans
    assert told == HttpSpanSettings(trust_forwarded_host=True, client_port=True)


def test_fastapi_traces_http_with_the_contrib_instrumentor_unless_told_to_use_its_native_telemetry() -> None:
    assert Settings.from_env({}).http_spans.fastapi_telemetry == "instrumentor"
    assert Settings.from_env({"FASTAPI_HTTP_TELEMETRY": "Native"}).http_spans.fastapi_telemetry == "native"
    with pytest.raises(SettingsError, match="FASTAPI_HTTP_TELEMETRY must be one of instrumentor, native"):
        Settings.from_env({"FASTAPI_HTTP_TELEMETRY": "both"})


def test_the_saturation_metrics_are_on_unless_told_not_to() -> None:
    assert TelemetrySettings.from_env({}).saturation_metrics is True
    assert TelemetrySettings.from_env({"SATURATION_METRICS": "FALSE"}).saturation_metrics is False


def test_the_providers_are_installed_as_the_global_ones_unless_told_not_to() -> None:
    assert TelemetrySettings.from_env({}).global_providers is True
    assert TelemetrySettings.from_env({"OBSERVABILITY_GLOBAL_PROVIDERS": "False"}).global_providers is False


def test_start_up_migrates_the_database_unless_told_not_to() -> None:
    assert Settings.from_env({}).migrate_on_start is True
    assert Settings.from_env({"DATABASE_MIGRATE_ON_START": "False"}).migrate_on_start is False


def test_without_an_endpoint_nothing_is_exported_and_with_one_everything_is() -> None:
    assert TelemetrySettings.from_env({}).export.traces_exporter == "none"
    configured = TelemetrySettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}).export
    assert (configured.traces_exporter, configured.metrics_exporter, configured.logs_exporter) == ("otlp",) * 3
    only_traces = TelemetrySettings.from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert only_traces.export.traces_exporter == "otlp"


def test_a_signal_protocol_overrides_the_general_one() -> None:
    settings = TelemetrySettings.from_env(
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/protobuf"}
    ).export
    assert (settings.traces_protocol, settings.metrics_protocol, settings.logs_protocol) == (
        "grpc",
        "grpc",
        "http/protobuf",
    )


@given(data=st.data(), name=st.sampled_from(sorted(CHOICE_VARIABLES)))
def test_every_accepted_choice_loads_in_any_case(data: st.DataObject, name: str) -> None:
    value = data.draw(st.sampled_from(CHOICE_VARIABLES[name]))
    env = {name: data.draw(_casings(value))}
    if value.endswith("traceidratio"):
        env["OTEL_TRACES_SAMPLER_ARG"] = data.draw(st.floats(0, 1).map(str))
    settings = Settings.from_env(env)
    if name in EXPORTER_VARIABLES:
        signal = name.removeprefix("OTEL_").removesuffix("_EXPORTER").lower()
        assert getattr(settings.telemetry.export, f"{signal}_exporter") == value


@given(name=st.sampled_from(sorted(CHOICE_VARIABLES)), value=st.text(min_size=1).filter(str.strip))
def test_an_unknown_choice_is_refused_naming_its_variable(name: str, value: str) -> None:
    if value.strip().lower() in CHOICE_VARIABLES[name]:
        return
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


NUMBERS = st.one_of(
    st.text(min_size=1).filter(str.strip),
    st.integers(-10, 10**9).map(str),
    st.floats(-10, 1_000, allow_nan=False).map(str),
)


@given(name=st.sampled_from(sorted(NUMBER_VARIABLES)), value=NUMBERS)
def test_numbers_are_accepted_exactly_within_their_range(name: str, value: str) -> None:
    whole, low, high = NUMBER_VARIABLES[name]
    try:
        number: float | None = int(value) if whole else float(value)
    except ValueError:
        number = None
    if number is not None and low <= number <= high:
        Settings.from_env({name: value})
        return
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "ftp://collector"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
        ("DATABASE_URL", "mysql://db"),
    ],
)
def test_other_invalid_values_are_refused_naming_their_variable(name: str, value: str) -> None:
    env = {name: value}
    if name == "OTEL_TRACES_SAMPLER_ARG":
        env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


def test_valid_headers_and_numbers_are_accepted() -> None:
    settings = Settings.from_env(
        {
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=secret, tenant=a",
            "OTEL_METRIC_EXPORT_INTERVAL": "5000",
            "RESOURCE_COUNT_INTERVAL_SECONDS": "3",
            "MAX_BODY_BYTES": "2048",
            "OBSERVABILITY_SHUTDOWN_TIMEOUT": "2.5",
        }
    )
    assert (settings.resource_count_interval_s, settings.max_body_bytes) == (3, 2048)
    assert settings.telemetry.shutdown_timeout_s == 2.5


def _example_variables() -> tuple[dict[str, str], set[str]]:
    """The defaults (`NAME=value` lines) and the names of the variables unset by default (`#NAME=` lines)."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    defaults = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z][A-Z_]*=", line))
    optional = {line[1:].split("=", 1)[0] for line in lines if re.match(r"^#[A-Z][A-Z_]*=", line)}
    return defaults, optional


def _variables_the_code_reads() -> set[str]:
    source = (ROOT / "entrypoints" / "settings.py").read_text()
    prefixes = "OTEL|LOG|DATABASE|MAX|RESOURCE|OBSERVABILITY|DEPLOYMENT|SHUTDOWN|WEB|HTTP|FASTAPI|ADMISSION|SATURATION"
    names = set(re.findall(rf'"((?:{prefixes})_[A-Z_]*)"', source))
    signals = ("TRACES", "METRICS", "LOGS")
    names |= {f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT" for signal in signals}
    names |= {f"OTEL_EXPORTER_OTLP_{signal}_{kind}" for signal in signals for kind in ("PROTOCOL", "TIMEOUT")}
    return names | {"OTEL_RESOURCE_ATTRIBUTES"}


def test_env_example_lists_every_variable_and_loads_as_the_defaults() -> None:
    defaults, optional = _example_variables()
    assert set(defaults) | optional >= _variables_the_code_reads()
    assert Settings.from_env(defaults) == Settings.from_env({})


def test_admission_bounds_are_read_with_the_wait_in_milliseconds_and_0_for_no_bound() -> None:
    admission = Settings.from_env(
        {
            "ADMISSION_MAX_CONCURRENCY": "8",
            "ADMISSION_MAX_WAITING": "0",
            "ADMISSION_MAX_WAIT_MS": "250",
            "ADMISSION_RETRY_AFTER_SECONDS": "3",
        }
    ).admission
    assert admission == AdmissionSettings(max_concurrency=8, max_waiting=0, max_wait_s=0.25, retry_after_s=3)
    assert admission.bounded
    assert not Settings.from_env({"ADMISSION_MAX_CONCURRENCY": "0"}).admission.bounded


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADMISSION_MAX_CONCURRENCY", "-1"),
        ("ADMISSION_MAX_WAITING", "many"),
        ("ADMISSION_MAX_WAIT_MS", "0.5"),
        ("ADMISSION_RETRY_AFTER_SECONDS", "0"),
    ],
)
def test_an_invalid_admission_bound_is_refused_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_export_timeouts_are_milliseconds_and_a_signal_s_own_variable_wins() -> None:
    telemetry = Settings.from_env(
        {"OTEL_EXPORTER_OTLP_TIMEOUT": "500", "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "2000"}
    ).telemetry
    export = telemetry.export
    assert (export.traces_timeout_s, export.metrics_timeout_s, export.logs_timeout_s) == (0.5, 0.5, 2.0)
    defaults = Settings.from_env({}).telemetry
    assert defaults.export.traces_timeout_s == 10.0


def test_each_worker_has_a_scrape_port_of_its_own_from_the_configured_one() -> None:
    settings = Settings.from_env({"WEB_CONCURRENCY": "3", "OTEL_EXPORTER_PROMETHEUS_PORT": "9000"})
    assert settings.workers == 3
    assert settings.telemetry.export.prometheus_ports == range(9000, 9003)
    defaults = Settings.from_env({}).telemetry
    assert defaults.export.prometheus_ports == range(9464, 9465)


def test_a_port_range_past_65535_is_refused_naming_the_port_variable() -> None:
    Settings.from_env({"WEB_CONCURRENCY": "2", "OTEL_EXPORTER_PROMETHEUS_PORT": "65534"})
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_PROMETHEUS_PORT"):
        Settings.from_env({"WEB_CONCURRENCY": "3", "OTEL_EXPORTER_PROMETHEUS_PORT": "65534"})
