"""Settings read from the environment, with one clear error per invalid variable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from adapters.otel.providers import DEFAULT_EXPORT_TIMEOUT_S, Exporter, ExportSettings, Protocol
from adapters.structlog import LogFormat

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///resources.db"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_RESOURCE_COUNT_INTERVAL_S = 15
DEFAULT_SHUTDOWN_DRAIN_S = 10
DEFAULT_PROMETHEUS_PORT = 9464
# Per worker; measured in docs/performance.md ("Overload").
DEFAULT_ADMISSION_MAX_CONCURRENCY = 64
DEFAULT_ADMISSION_MAX_WAITING = 64
DEFAULT_ADMISSION_MAX_WAIT_MS = 20
DEFAULT_ADMISSION_RETRY_AFTER_S = 1
MAX_WORKERS = 256
_SUPPORTED_DRIVERS = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class SettingsError(ValueError):
    """An environment variable has a value the service cannot use."""


T = TypeVar("T", bound=str)

_ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
)
_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
_HEADERS = re.compile(r"^\s*[^=,\s]+\s*=[^,]*(,\s*[^=,\s]+\s*=[^,]*)*$")
LogLevel = Literal["debug", "info", "warning", "error"]
# How the FastAPI app traces and measures HTTP: opentelemetry-instrumentation-fastapi, or FastAPI's own telemetry.
FastApiTelemetry = Literal["instrumentor", "native"]
DEFAULT_SHUTDOWN_TIMEOUT_S = 5.0
DEFAULT_EXPORT_TIMEOUT_MS = int(DEFAULT_EXPORT_TIMEOUT_S * 1000)


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """How the service observes itself."""

    # OTEL_SDK_DISABLED=true: `NoTelemetry()` and no SDK providers; logging to stdout stays on.
    disabled: bool = False
    export: ExportSettings = field(default_factory=ExportSettings)
    log_level: LogLevel = "info"
    log_format: LogFormat = "json"
    service_name: str = "resource-service"
    deployment_environment: str = "development"
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S
    # The process, event-loop and connection-pool metrics (SATURATION_METRICS); off for a deployment that measures
    # its processes otherwise.
    saturation_metrics: bool = True
    # The providers installed as OpenTelemetry's global ones (OBSERVABILITY_GLOBAL_PROVIDERS), so that any other
    # instrumentation reports through them; off for a host app that installs its own.
    global_providers: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TelemetrySettings:
        """Read and check every variable; the first invalid one raises `SettingsError` naming it."""
        _check_standard_variables(env)
        default_exporter: Exporter = "otlp" if any(env.get(name) for name in _ENDPOINT_VARIABLES) else "none"
        protocols: tuple[Protocol, ...] = ("grpc", "http/protobuf")
        general_protocol = _choice(env, "OTEL_EXPORTER_OTLP_PROTOCOL", protocols, "http/protobuf")
        return cls(
            disabled=_boolean(env, "OTEL_SDK_DISABLED"),
            export=ExportSettings(
                traces_exporter=_choice(env, "OTEL_TRACES_EXPORTER", ("otlp", "console", "none"), default_exporter),
                metrics_exporter=_choice(
                    env, "OTEL_METRICS_EXPORTER", ("otlp", "console", "prometheus", "none"), default_exporter
                ),
                logs_exporter=_choice(env, "OTEL_LOGS_EXPORTER", ("otlp", "console", "none"), default_exporter),
                traces_protocol=_choice(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocols, general_protocol),
                metrics_protocol=_choice(env, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", protocols, general_protocol),
                logs_protocol=_choice(env, "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", protocols, general_protocol),
                traces_timeout_s=_export_timeout_s(env, "TRACES"),
                metrics_timeout_s=_export_timeout_s(env, "METRICS"),
                logs_timeout_s=_export_timeout_s(env, "LOGS"),
                prometheus_host=env.get("OTEL_EXPORTER_PROMETHEUS_HOST") or "127.0.0.1",
                prometheus_ports=_prometheus_ports(env),
            ),
            log_level=_choice(env, "LOG_LEVEL", ("debug", "info", "warning", "error"), "info"),
            log_format=_choice(env, "LOG_FORMAT", ("json", "console"), "json"),
            service_name=env.get("OTEL_SERVICE_NAME") or "resource-service",
            deployment_environment=env.get("DEPLOYMENT_ENVIRONMENT") or "development",
            shutdown_timeout_s=_number(env, "OBSERVABILITY_SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT_S, 0.0, 300.0),
            saturation_metrics=_boolean(env, "SATURATION_METRICS", default=True),
            global_providers=_boolean(env, "OBSERVABILITY_GLOBAL_PROVIDERS", default=True),
        )


def _check_standard_variables(env: Mapping[str, str]) -> None:
    """Values the SDK reads itself: checked here so that a mistake stops the start with one clear sentence."""
    sampler = env.get("OTEL_TRACES_SAMPLER")
    if sampler:
        _choice(env, "OTEL_TRACES_SAMPLER", _SAMPLERS, "parentbased_always_on")
        if sampler.endswith("traceidratio"):
            _number(env, "OTEL_TRACES_SAMPLER_ARG", 1.0, 0.0, 1.0)
    _number(env, "OTEL_METRIC_EXPORT_INTERVAL", 60_000, 1, 86_400_000, whole=True)
    for name in _ENDPOINT_VARIABLES:
        endpoint = env.get(name)
        if endpoint and not re.match(r"^https?://[^\s/]+", endpoint):
            raise SettingsError(f"{name} must be an http:// or https:// URL, not {endpoint!r}")
    headers = env.get("OTEL_EXPORTER_OTLP_HEADERS")
    if headers and not _HEADERS.match(headers):
        raise SettingsError("OTEL_EXPORTER_OTLP_HEADERS must be comma-separated key=value pairs")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[T, ...], default: T) -> T:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    for value in allowed:
        if raw == value:
            return value
    raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")


def _export_timeout_s(env: Mapping[str, str], signal: str) -> float:
    """OTEL_EXPORTER_OTLP_<signal>_TIMEOUT, else OTEL_EXPORTER_OTLP_TIMEOUT: milliseconds, as the spec says."""
    general = _number(env, "OTEL_EXPORTER_OTLP_TIMEOUT", DEFAULT_EXPORT_TIMEOUT_MS, 1, 600_000, whole=True)
    return _number(env, f"OTEL_EXPORTER_OTLP_{signal}_TIMEOUT", general, 1, 600_000, whole=True) / 1000


def _workers(env: Mapping[str, str]) -> int:
    """WEB_CONCURRENCY: the server's worker processes, as uvicorn and gunicorn read it (default 1)."""
    return int(_number(env, "WEB_CONCURRENCY", 1, 1, MAX_WORKERS, whole=True))


def _prometheus_ports(env: Mapping[str, str]) -> range:
    """One scrape port per worker, consecutive from OTEL_EXPORTER_PROMETHEUS_PORT."""
    first = int(_number(env, "OTEL_EXPORTER_PROMETHEUS_PORT", DEFAULT_PROMETHEUS_PORT, 1, 65535, whole=True))
    ports = range(first, first + _workers(env))
    if ports[-1] > 65535:
        raise SettingsError(
            f"OTEL_EXPORTER_PROMETHEUS_PORT must leave one port per worker below 65536: {first} + {len(ports)} "
            "workers (WEB_CONCURRENCY, or serve --workers) go past it"
        )
    return ports


def _boolean(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    return _choice(env, name, ("true", "false"), "true" if default else "false") == "true"


def _number(
    env: Mapping[str, str], name: str, default: float, low: float, high: float, *, whole: bool = False
) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {'whole ' if whole else ''}number, not {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, not {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class HttpSpanSettings:
    """Who opens the HTTP server span, and what it records beyond the defaults of the semantic conventions."""

    # Only a proxy that every request passes through, and that sets or strips X-Forwarded-Host, makes it
    # trustworthy: otherwise any client could choose its own `server.address`.
    trust_forwarded_host: bool = False
    # `client.port` is opt-in in the conventions: one value per connection, seldom worth storing.
    client_port: bool = False
    # The same span and duration metric either way; docs/tracing-guide.md says where the two differ.
    fastapi_telemetry: FastApiTelemetry = "instrumentor"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> HttpSpanSettings:
        """HTTP_TRUST_FORWARDED_HOST and HTTP_SPAN_CLIENT_PORT, `true` or `false` (default `false`), and
        FASTAPI_HTTP_TELEMETRY, `instrumentor` or `native` (default `instrumentor`)."""
        return cls(
            trust_forwarded_host=_boolean(env, "HTTP_TRUST_FORWARDED_HOST"),
            client_port=_boolean(env, "HTTP_SPAN_CLIENT_PORT"),
            fastapi_telemetry=_choice(env, "FASTAPI_HTTP_TELEMETRY", ("instrumentor", "native"), "instrumentor"),
        )


@dataclass(frozen=True, slots=True)
class AdmissionSettings:
    """The bound on each worker's load (`entrypoints/http/admission.py`): `max_concurrency` requests served at once
    (0: no bound), `max_waiting` more waiting at most `max_wait_s` for a slot; a refused request is told to come
    back after `retry_after_s`."""

    max_concurrency: int = DEFAULT_ADMISSION_MAX_CONCURRENCY
    max_waiting: int = DEFAULT_ADMISSION_MAX_WAITING
    max_wait_s: float = DEFAULT_ADMISSION_MAX_WAIT_MS / 1000
    retry_after_s: int = DEFAULT_ADMISSION_RETRY_AFTER_S

    @property
    def bounded(self) -> bool:
        return self.max_concurrency > 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AdmissionSettings:
        """ADMISSION_MAX_CONCURRENCY, ADMISSION_MAX_WAITING, ADMISSION_MAX_WAIT_MS, ADMISSION_RETRY_AFTER_SECONDS."""
        return cls(
            max_concurrency=int(
                _number(env, "ADMISSION_MAX_CONCURRENCY", DEFAULT_ADMISSION_MAX_CONCURRENCY, 0, 100_000, whole=True)
            ),
            max_waiting=int(
                _number(env, "ADMISSION_MAX_WAITING", DEFAULT_ADMISSION_MAX_WAITING, 0, 100_000, whole=True)
            ),
            max_wait_s=_number(env, "ADMISSION_MAX_WAIT_MS", DEFAULT_ADMISSION_MAX_WAIT_MS, 0, 60_000, whole=True)
            / 1000,
            retry_after_s=int(
                _number(env, "ADMISSION_RETRY_AFTER_SECONDS", DEFAULT_ADMISSION_RETRY_AFTER_S, 1, 3_600, whole=True)
            ),
        )


@dataclass(frozen=True, slots=True)
class Settings:
    """What the service is configured with."""

    database_url: str = DEFAULT_DATABASE_URL
    # False: start-up only checks that the database is at the head revision (deployments that migrate apart).
    migrate_on_start: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    resource_count_interval_s: float = DEFAULT_RESOURCE_COUNT_INTERVAL_S
    shutdown_drain_s: int = DEFAULT_SHUTDOWN_DRAIN_S
    workers: int = 1
    http_spans: HttpSpanSettings = field(default_factory=HttpSpanSettings)
    admission: AdmissionSettings = field(default_factory=AdmissionSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Settings from the environment (see .env.example); the first invalid variable raises `SettingsError`."""
        database_url = env.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        if not database_url.startswith(_SUPPORTED_DRIVERS):
            raise SettingsError(f"DATABASE_URL must start with one of {', '.join(_SUPPORTED_DRIVERS)}")
        return cls(
            database_url=database_url,
            migrate_on_start=_boolean(env, "DATABASE_MIGRATE_ON_START", default=True),
            max_body_bytes=int(_number(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1, 2**40, whole=True)),
            resource_count_interval_s=_number(
                env, "RESOURCE_COUNT_INTERVAL_SECONDS", DEFAULT_RESOURCE_COUNT_INTERVAL_S, 1, 86_400, whole=True
            ),
            shutdown_drain_s=int(
                _number(env, "SHUTDOWN_DRAIN_SECONDS", DEFAULT_SHUTDOWN_DRAIN_S, 0, 3_600, whole=True)
            ),
            workers=_workers(env),
            http_spans=HttpSpanSettings.from_env(env),
            admission=AdmissionSettings.from_env(env),
            telemetry=TelemetrySettings.from_env(env),
        )
