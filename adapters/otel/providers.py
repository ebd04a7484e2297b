"""The OpenTelemetry SDK providers: resource, exporters chosen by configuration, bounded shutdown."""

from __future__ import annotations

import errno
import importlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, Literal, TypeVar

from opentelemetry import _logs, metrics, trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from adapters.otel.process_metrics import PROCESS_METRIC_VIEWS
from adapters.otel.resilience import ExportFailures, GuardedLogExporter, GuardedMetricExporter, GuardedSpanExporter

Exporter = Literal["otlp", "console", "none"]
MetricsExporter = Literal["otlp", "console", "prometheus", "none"]
Protocol = Literal["grpc", "http/protobuf"]
_E = TypeVar("_E")

FRAMEWORK_ATTRIBUTE = "framework.name"
DEFAULT_SERVICE_NAME = "resource-service"
SDK_INTERNAL_METRICS = "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"
DEFAULT_EXPORT_TIMEOUT_S = 10.0
# Spans and log records per export unless OTEL_BSP_MAX_EXPORT_BATCH_SIZE / OTEL_BLRP_MAX_EXPORT_BATCH_SIZE say
# otherwise. Encoding a batch holds the GIL, so requests wait on it: 512 spans (the SDK's default) take about
# 14 ms here, 128 about 3 ms. Full batches are what a busy service, or one whose collector is down, exports.
EXPORT_BATCH_SIZE = 128
SPAN_BATCH_SIZE_VARIABLE = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
LOG_BATCH_SIZE_VARIABLE = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"
# Resource attributes that become labels on every Prometheus series of the scrape path (the collector
# path promotes the same ones): enough to tell instances and frameworks apart, nothing per-request.
PROMOTED_RESOURCE_ATTRIBUTES = frozenset(
    {"service.name", "service.version", "service.instance.id", "deployment.environment.name", FRAMEWORK_ATTRIBUTE}
)

# Of the SDK's own metrics only the batch processors' are reported (given the meter provider). The providers' and
# the OTLP exporters' (otel.sdk.span.*, otel.sdk.log.*, otel.sdk.exporter.*: points on every span) are not: left
# to the global meter provider, they would start once these providers are installed as the global ones.
_UNMEASURED: Final = NoOpMeterProvider()

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """Where each signal goes: its exporter, protocol and timeout, and the Prometheus scrape endpoint.

    Endpoints and headers are read by the exporters themselves from the OTEL_EXPORTER_OTLP_* variables.
    """

    traces_exporter: Exporter = "none"
    metrics_exporter: MetricsExporter = "none"
    logs_exporter: Exporter = "none"
    traces_protocol: Protocol = "http/protobuf"
    metrics_protocol: Protocol = "http/protobuf"
    logs_protocol: Protocol = "http/protobuf"
    # Seconds, passed to the exporters: the Python exporters would read OTEL_EXPORTER_OTLP_*TIMEOUT as seconds,
    # where the specification (and every other SDK) says milliseconds.
    traces_timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S
    metrics_timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S
    logs_timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S
    prometheus_host: str = "127.0.0.1"
    # One scrape endpoint per worker process: each serves its own metrics on the first port of the range that
    # no other worker holds (prometheus_client has no way to merge the SDK's metrics across processes).
    prometheus_ports: range = range(9464, 9465)


@dataclass(slots=True)
class OtelProviders:
    """The three SDK providers of this process, and how to stop them within a time budget."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    export_failures: ExportFailures
    _stopped: bool = field(default=False)

    def install_globally(self) -> None:
        """Make these OpenTelemetry's global providers, which any instrumentation not given providers reports to.

        The API sets each global once per process: a second call is ignored, with the API's warning.
        """
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)
        _logs.set_logger_provider(self.logger_provider)

    def shutdown(self, timeout_s: float) -> bool:
        """Flush and stop every provider; give up after `timeout_s` (a dead collector would hold it 30 s or more)."""
        if self._stopped:
            return True
        self._stopped = True
        done = threading.Event()

        def stop_all() -> None:
            for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
                try:
                    provider.shutdown()
                except Exception:
                    _log.warning("telemetry provider %s failed to shut down", type(provider).__name__, exc_info=True)
            done.set()

        # A daemon thread: when the budget runs out the process may exit while an export still waits.
        threading.Thread(target=stop_all, name="otel-shutdown", daemon=True).start()
        return done.wait(timeout_s)


def build_resource(service_version: str, framework: str, deployment_environment: str = "development") -> Resource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, plus version, a per-process instance id and the framework."""
    defaults = Resource(
        {
            "service.version": service_version,
            "service.instance.id": str(uuid.uuid4()),
            "deployment.environment.name": deployment_environment,
        }
    )
    # Resource.create() reads both variables and wins over our defaults (recent SDKs also set their own
    # per-process service.instance.id); but with neither variable naming the service
    # it says "unknown_service:python3", so our name goes in then. The framework is always the real one.
    detected = Resource.create()
    name = detected.attributes.get("service.name")
    if not isinstance(name, str) or name.startswith("unknown_service"):
        name = DEFAULT_SERVICE_NAME
    return defaults.merge(detected).merge(Resource({"service.name": name, FRAMEWORK_ATTRIBUTE: framework}))


def build_providers(
    resource: Resource, export: ExportSettings = ExportSettings(), clock: Callable[[], float] = time.monotonic
) -> OtelProviders:
    """Providers of `resource` with the exporters `export` names, each wrapped so that a failing export is counted,
    never raised. The SDK's own metrics are recorded only when the environment sets `SDK_INTERNAL_METRICS` true."""
    failures = ExportFailures(clock)
    # shutdown_on_exit=False: the SDK's own exit hooks would repeat the shutdown without any time limit.
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=_metric_readers(export, failures),
        shutdown_on_exit=False,
        views=PROCESS_METRIC_VIEWS,
    )
    failures.observe_with(meter_provider)
    # Given the meter provider, the batch processors count what they process and what a full queue drops
    # (otel.sdk.processor.span.processed / .log.processed, error.type=queue_full).
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False, meter_provider=_UNMEASURED)
    span_exporter = _SPAN_EXPORTERS.build(export.traces_exporter, export.traces_protocol, export.traces_timeout_s)
    if span_exporter is not None:
        guarded_spans = GuardedSpanExporter(span_exporter, failures)
        tracer_provider.add_span_processor(
            BatchSpanProcessor(
                guarded_spans,
                max_export_batch_size=_export_batch_size(SPAN_BATCH_SIZE_VARIABLE),
                meter_provider=meter_provider,
            )
        )
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False, meter_provider=_UNMEASURED)
    log_exporter = _LOG_EXPORTERS.build(export.logs_exporter, export.logs_protocol, export.logs_timeout_s)
    if log_exporter is not None:
        guarded_logs = GuardedLogExporter(log_exporter, failures)
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(
                guarded_logs,
                max_export_batch_size=_export_batch_size(LOG_BATCH_SIZE_VARIABLE),
                meter_provider=meter_provider,
            )
        )
    return OtelProviders(tracer_provider, meter_provider, logger_provider, failures)


def _export_batch_size(variable: str) -> int | None:
    """EXPORT_BATCH_SIZE, unless the deployment sets `variable` (None: the SDK reads it)."""
    return None if variable in os.environ else EXPORT_BATCH_SIZE


def _metric_readers(export: ExportSettings, failures: ExportFailures) -> Sequence[MetricReader]:
    if export.metrics_exporter == "prometheus":
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        if not _serve_prometheus(export.prometheus_host, export.prometheus_ports):
            return []
        return [PrometheusMetricReader(resource_attribute_filter=PROMOTED_RESOURCE_ATTRIBUTES.__contains__)]
    exporter = _METRIC_EXPORTERS.build(export.metrics_exporter, export.metrics_protocol, export.metrics_timeout_s)
    if exporter is None:
        return []
    return [PeriodicExportingMetricReader(GuardedMetricExporter(exporter, failures))]


def _serve_prometheus(host: str, ports: range) -> bool:
    """Serve /metrics on the first port of `ports` that is free; False (logged) when every one is taken."""
    from prometheus_client import start_http_server

    for port in ports:
        try:
            start_http_server(port, addr=host)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return True
    # Telemetry never stops the service: this process serves requests, only its metrics cannot be scraped.
    _log.error(
        "no free port in %s:%d-%d for this process's Prometheus endpoint (OTEL_EXPORTER_PROMETHEUS_PORT gives one "
        "port per worker, WEB_CONCURRENCY or serve --workers the count): its metrics are not served",
        host,
        ports[0],
        ports[-1],
    )
    return False


class _Exporters(Generic[_E]):
    """One signal's exporters: the console's, and OTLP's for each protocol (imported when chosen: gRPC is heavy)."""

    def __init__(self, console: Callable[[], _E], otlp: Mapping[Protocol, str]) -> None:
        self._console = console
        self._otlp = otlp

    def build(self, exporter: str, protocol: Protocol, timeout_s: float) -> _E | None:
        """The exporter named `exporter` (None for `none`, or for `prometheus`, which is a reader)."""
        if exporter == "console":
            return self._console()
        if exporter != "otlp":
            return None
        module, _, name = self._otlp[protocol].partition(":")
        built: _E = getattr(importlib.import_module(module), name)(timeout=timeout_s, meter_provider=_UNMEASURED)
        return built


_OTLP: Final = "opentelemetry.exporter.otlp.proto"
_SPAN_EXPORTERS: Final = _Exporters[SpanExporter](
    ConsoleSpanExporter,
    {
        "grpc": f"{_OTLP}.grpc.trace_exporter:OTLPSpanExporter",
        "http/protobuf": f"{_OTLP}.http.trace_exporter:OTLPSpanExporter",
    },
)
_METRIC_EXPORTERS: Final = _Exporters[MetricExporter](
    ConsoleMetricExporter,
    {
        "grpc": f"{_OTLP}.grpc.metric_exporter:OTLPMetricExporter",
        "http/protobuf": f"{_OTLP}.http.metric_exporter:OTLPMetricExporter",
    },
)
_LOG_EXPORTERS: Final = _Exporters[LogRecordExporter](
    ConsoleLogRecordExporter,
    {
        "grpc": f"{_OTLP}.grpc._log_exporter:OTLPLogExporter",
        "http/protobuf": f"{_OTLP}.http._log_exporter:OTLPLogExporter",
    },
)
