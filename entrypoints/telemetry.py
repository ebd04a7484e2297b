"""build_telemetry: the process's telemetry, built once in the composition root, and the handle that shuts it down."""

from __future__ import annotations

import os
from dataclasses import dataclass

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from adapters.otel import OtelMetrics, OtelTracing
from adapters.otel.process_metrics import OtelProcessMetrics
from adapters.otel.providers import SDK_INTERNAL_METRICS, OtelProviders, build_providers, build_resource
from adapters.otel.saturation import OtelSaturationMetrics
from adapters.structlog import StructlogLogging, configure_logging
from core.instrumentation import NoTelemetry, Telemetry
from entrypoints.settings import TelemetrySettings
from ports.saturation_metrics import SaturationMetricsPort


@dataclass(slots=True)
class TelemetryHandle:
    """The ports the service reports to, the SDK providers behind them (None when off), and how to stop them.

    `saturation_metrics` is None when observability is off or SATURATION_METRICS=false: then nothing measures the
    event loop or the connection pool, and the process is not observed (`process_metrics` None too).
    """

    telemetry: Telemetry
    providers: OtelProviders | None = None
    shutdown_timeout_s: float = 0.0
    saturation_metrics: SaturationMetricsPort | None = None
    process_metrics: OtelProcessMetrics | None = None

    def http_providers(
        self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
    ) -> tuple[TracerProvider | None, MeterProvider | None]:
        """The providers to instrument HTTP with: those given, else this process's own (None when off)."""
        if self.providers is None:
            return tracer_provider, meter_provider
        return (
            tracer_provider or self.providers.tracer_provider,
            meter_provider or self.providers.meter_provider,
        )

    def shutdown(self) -> bool:
        """Flush and stop the providers within the configured budget; True when they finished in time."""
        if self.process_metrics is not None:
            self.process_metrics.stop()
        return True if self.providers is None else self.providers.shutdown(self.shutdown_timeout_s)


def build_telemetry(settings: TelemetrySettings, *, service_version: str, framework: str) -> TelemetryHandle:
    """Logging to stdout always; metrics, traces and OTLP logs per settings; `NoTelemetry` when disabled.

    Providers are built here, before the app, because the HTTP instrumentations capture theirs when the app is
    instrumented, and they are passed to them and to the service's adapters explicitly. Unless
    OBSERVABILITY_GLOBAL_PROVIDERS=false they are also installed as OpenTelemetry's global providers, so that any
    other instrumentation (httpx, asyncpg, a library's own spans) reports through them; the API lets a process set
    each global once, so the first set wins and a second is ignored, with the API's warning.
    """
    if settings.disabled:
        configure_logging(level=settings.log_level, log_format=settings.log_format, service_name=settings.service_name)
        return TelemetryHandle(NoTelemetry())
    # The SDK's own metrics (spans processed, and dropped when a queue is full) are off unless this says
    # otherwise, and the SDK reads it from the environment only; a deployment that sets it keeps its choice.
    os.environ.setdefault(SDK_INTERNAL_METRICS, "true")
    resource = build_resource(service_version, framework, settings.deployment_environment)
    providers = build_providers(resource, settings.export)
    if settings.global_providers:
        providers.install_globally()
    configure_logging(
        level=settings.log_level,
        log_format=settings.log_format,
        service_name=settings.service_name,
        logger_provider=providers.logger_provider if settings.export.logs_exporter != "none" else None,
    )
    telemetry = Telemetry(
        OtelMetrics(providers.meter_provider, service_version),
        OtelTracing(providers.tracer_provider, service_version),
        StructlogLogging(),
    )
    handle = TelemetryHandle(telemetry, providers, settings.shutdown_timeout_s)
    if settings.saturation_metrics:
        handle.process_metrics = OtelProcessMetrics()
        handle.process_metrics.start(providers.meter_provider)
        handle.saturation_metrics = OtelSaturationMetrics(providers.meter_provider, service_version)
    return handle
