"""set_up_telemetry: builds the telemetry adapters and SDK providers once per process, in the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from adapters.otel import OtelMetrics, OtelTracing
from adapters.otel.process_metrics import OtelProcessMetrics
from adapters.otel.providers import OtelProviders, build_providers
from adapters.otel.saturation import OtelSaturationMetrics
from adapters.structlog import StructlogLogging, configure_logging
from core.instrumentation import NoTelemetry, Telemetry
from entrypoints.settings import TelemetrySettings
from ports.saturation_metrics import SaturationMetricsPort


@dataclass(slots=True)
class TelemetrySetup:
    """The adapters the service reports to, and the SDK providers behind them (None when disabled).

    `saturation_metrics` is None when observability is off or SATURATION_METRICS=false: then nothing measures the
    event loop or the connection pool, and the process is not observed (`process_metrics` None too).
    """

    telemetry: Telemetry
    providers: OtelProviders | None
    shutdown_timeout_s: float
    saturation_metrics: SaturationMetricsPort | None = None
    process_metrics: OtelProcessMetrics | None = None

    def http_providers(
        self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
    ) -> tuple[TracerProvider | None, MeterProvider | None]:
        """The providers to instrument HTTP with: those given, else this process's own (None when disabled)."""
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


def set_up_telemetry(settings: TelemetrySettings, *, service_version: str, framework: str) -> TelemetrySetup:
    """Logging to stdout always; metrics, traces and OTLP logs per settings; `NoTelemetry()` when disabled.

    Providers are built here, before the app, because the HTTP instrumentations capture theirs when the
    app is instrumented. They are passed explicitly and never installed as OpenTelemetry globals, so
    that several apps (tests, or one process embedding this service) each keep their own.
    """
    if settings.disabled:
        configure_logging(level=settings.log_level, log_format=settings.log_format, service_name=settings.service_name)
        return TelemetrySetup(NoTelemetry(), None, settings.shutdown_timeout_s)
    providers = build_providers(settings.otel_config(service_version, framework))
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
    if not settings.saturation_metrics:
        return TelemetrySetup(telemetry, providers, settings.shutdown_timeout_s)
    process_metrics = OtelProcessMetrics()
    process_metrics.start(providers.meter_provider)
    saturation_metrics = OtelSaturationMetrics(providers.meter_provider, service_version)
    return TelemetrySetup(telemetry, providers, settings.shutdown_timeout_s, saturation_metrics, process_metrics)
