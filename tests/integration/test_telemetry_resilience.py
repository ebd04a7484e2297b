"""Telemetry must never hurt the service: an export that fails is counted, never raised; disabled, nothing is sent.

Export failures are checked on the guarded exporters of `adapters/otel/resilience.py`, with real exporters sending
to a black hole (a listener that never answers). The disabled SDK is checked on the real `resource-service serve`
subprocess with OTEL_SDK_DISABLED=true beside a receiver that must get nothing. An unavailable endpoint under load
is in tests/reliability/test_faults_otlp_endpoint.py.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

from adapters.memory.repository import InMemoryUnitOfWork
from adapters.otel import OtelMetrics, OtelTracing
from adapters.otel.providers import build_providers, build_resource
from adapters.otel.resilience import (
    SIGNALS,
    ExportFailures,
    GuardedLogExporter,
    GuardedMetricExporter,
    GuardedSpanExporter,
    Signal,
)
from core.instrumentation import Instrumentation, Telemetry
from core.model import PageRequest, ResourceDraft
from core.semantic_conventions import EXPORT_FAILURES, LOGGER_NAME
from core.service import ResourceService
from entrypoints.settings import Settings
from ports.noop import NoOpLogging

from .otlp_receiver import (
    BlackHole,
    HttpReceiver,
    ServiceProcess,
    closed_port,
    service_environment,
)
from .service_load import (
    EXPECTED_STATUS,
    SHUTDOWN_MARGIN_S,
    SHUTDOWN_TIMEOUT_S,
    LoadClients,
    paced_load,
    telemetry_environment,
)

RESILIENCE_LOGGER = "adapters.otel.resilience"

# --- An export that fails is counted, never raised ----------------------------------------------------------------


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class RaisingSpanExporter(SpanExporter):
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise self.error


class RaisingLogExporter(LogRecordExporter):
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.calls += 1
        raise self.error

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class RaisingMetricExporter(MetricExporter):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.calls = 0

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.calls += 1
        raise self.error

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


class FailingSpanExporter(SpanExporter):
    """Reports failure without raising, as the OTLP exporters do when the collector refuses."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.FAILURE


ERRORS: list[Exception] = [
    ConnectionRefusedError("connection refused"),
    TimeoutError("the export timed out"),
    RuntimeError("the exporter broke"),
]


def _export_once(signal: Signal, error: Exception, failures: ExportFailures) -> object:
    if signal == "traces":
        return GuardedSpanExporter(RaisingSpanExporter(error), failures).export([])
    if signal == "logs":
        return GuardedLogExporter(RaisingLogExporter(error), failures).export([])
    return GuardedMetricExporter(RaisingMetricExporter(error), failures).export(MetricsData(resource_metrics=[]))


FAILURE = {
    "traces": SpanExportResult.FAILURE,
    "metrics": MetricExportResult.FAILURE,
    "logs": LogRecordExportResult.FAILURE,
}


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_an_export_that_raises_returns_failure_and_is_counted_for_its_signal(signal: Signal, error: Exception) -> None:
    failures = ExportFailures(FakeClock())
    for _ in range(3):
        assert _export_once(signal, error, failures) is FAILURE[signal]
    assert failures.counts == {s: (3 if s == signal else 0) for s in ("traces", "metrics", "logs")}


def test_an_export_that_reports_failure_is_counted_too() -> None:
    failures = ExportFailures(FakeClock())
    assert GuardedSpanExporter(FailingSpanExporter(), failures).export([]) is SpanExportResult.FAILURE
    assert failures.counts["traces"] == 1


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_an_export_to_a_black_hole_times_out_as_a_failure(protocol: str) -> None:
    """The real OTLP span exporter, 0.5 s timeout, against a listener that never answers: FAILURE, in bounded time."""
    failures = ExportFailures(FakeClock())
    with BlackHole() as hole:
        inner: SpanExporter
        if protocol == "grpc":
            inner = GrpcSpanExporter(endpoint=f"127.0.0.1:{hole.port}", insecure=True, timeout=0.5)
        else:
            inner = HttpSpanExporter(endpoint=f"{hole.endpoint}/v1/traces", timeout=0.5)
        provider = TracerProvider(resource=Resource({"service.name": "resilience-test"}), shutdown_on_exit=False)
        exporter = _CapturingSpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("test").start_as_current_span("one"):
            pass
        guarded = GuardedSpanExporter(inner, failures)
        started = time.monotonic()
        result = guarded.export(exporter.spans)
        elapsed = time.monotonic() - started
        inner.shutdown()
    assert result is SpanExportResult.FAILURE
    assert failures.counts["traces"] == 1
    assert elapsed < 5.0, f"the export took {elapsed:.1f} s"


def _alive_spans(marker: str) -> int:
    return sum(isinstance(o, ReadableSpan) and o.name.startswith(marker) for o in gc.get_objects())


def _alive_log_records(marker: str) -> int:
    return sum(isinstance(o, ReadableLogRecord) and str(o.log_record.body).startswith(marker) for o in gc.get_objects())


@pytest.mark.parametrize("signal", ["traces", "logs"])
def test_a_failed_export_frees_its_batch_without_the_cyclic_collector(signal: Signal) -> None:
    """Through the SDK's batch processor, an OTLP export to a closed port leaves no span or log record alive.

    The failed export's traceback holds every frame that held the batch, in a reference cycle: unless the guarded
    exporter empties the batch, its items wait there for a full collection, which then pauses the whole service.
    """
    endpoint = f"http://127.0.0.1:{closed_port()}/v1/{signal}"
    marker = f"released-{uuid4()}"
    failures = ExportFailures(FakeClock())
    resource = Resource({"service.name": "resilience-test"})
    gc.collect()
    gc.disable()
    try:
        if signal == "traces":
            tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
            spans = GuardedSpanExporter(HttpSpanExporter(endpoint=endpoint, timeout=0.5), failures)
            tracer_provider.add_span_processor(BatchSpanProcessor(spans, schedule_delay_millis=60_000))
            for k in range(100):
                with tracer_provider.get_tracer("test").start_as_current_span(f"{marker}-{k}"):
                    pass
            tracer_provider.force_flush()
            alive = _alive_spans(marker)
            tracer_provider.shutdown()
        else:
            logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
            records = GuardedLogExporter(HttpLogExporter(endpoint=endpoint, timeout=0.5), failures)
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(records, schedule_delay_millis=60_000))
            for k in range(100):
                logger_provider.get_logger("test").emit(body=f"{marker}-{k}")
            logger_provider.force_flush()
            alive = _alive_log_records(marker)
            logger_provider.shutdown()
    finally:
        gc.enable()
    assert failures.counts[signal] == 1
    assert alive == 0, f"{alive} exported item(s) still alive, waiting for the cyclic collector"


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_export_timeout_variable_is_read_as_milliseconds(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_EXPORTER_OTLP_TIMEOUT=500 is half a second (the Python exporters alone would wait 500 s)."""
    with BlackHole() as hole:
        for name, value in {
            "OTEL_EXPORTER_OTLP_ENDPOINT": hole.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "500",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }.items():
            monkeypatch.setenv(name, value)
        telemetry = Settings.from_env().telemetry
        providers = build_providers(build_resource("0.0.0", "fastapi"), telemetry.export)
        try:
            with providers.tracer_provider.get_tracer("test").start_as_current_span("one"):
                pass
            started = time.monotonic()
            providers.tracer_provider.force_flush(timeout_millis=30_000)
            elapsed = time.monotonic() - started
        finally:
            providers.shutdown(timeout_s=5)
    assert providers.export_failures.counts["traces"] == 1
    assert elapsed < 3.0, f"the export took {elapsed:.1f} s"


class _CapturingSpanExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def test_export_failures_are_logged_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    failures = ExportFailures(clock, log_interval_s=60.0)
    with caplog.at_level(logging.WARNING, logger=RESILIENCE_LOGGER):
        for _ in range(50):
            for signal in SIGNALS:
                failures.record(signal, "ConnectionRefusedError: refused")
            clock.now += 1.0  # 50 s in all: still inside the first interval
        first = [r for r in caplog.records if r.name == RESILIENCE_LOGGER]
        clock.now += 10.0  # 60 s after the first of each
        failures.record("traces", "again")
        second = [r for r in caplog.records if r.name == RESILIENCE_LOGGER]
    assert len(first) == 3, [r.getMessage() for r in first]
    assert sorted(r.getMessage().split()[3] for r in first) == ["logs", "metrics", "traces"]
    assert len(second) == 4
    assert failures.counts == {"traces": 51, "metrics": 50, "logs": 50}


def test_export_failures_are_published_as_the_export_failures_counter() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    failures = ExportFailures(FakeClock())
    failures.observe_with(provider)
    counts: tuple[tuple[Signal, int], ...] = (("traces", 2), ("metrics", 1))
    for signal, times in counts:
        for _ in range(times):
            failures.record(signal, "refused")
    data = reader.get_metrics_data()
    assert data is not None
    values: dict[str, float] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == EXPORT_FAILURES:
                    assert isinstance(metric.data, Sum)
                    assert metric.data.is_monotonic
                    for point in metric.data.data_points:
                        assert isinstance(point, NumberDataPoint)
                        values[str((point.attributes or {})["signal"])] = point.value
    provider.shutdown()
    assert values == {"traces": 2, "metrics": 1, "logs": 0}


async def test_export_failures_never_fail_requests() -> None:
    """Every span and log export raises, synchronously in the request path, and every operation still succeeds."""
    failures = ExportFailures(FakeClock())
    resource = Resource({"service.name": "resilience-test"})
    span_exporter = RaisingSpanExporter(ConnectionRefusedError("connection refused"))
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(GuardedSpanExporter(span_exporter, failures)))
    log_exporter = RaisingLogExporter(TimeoutError("timed out"))
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(GuardedLogExporter(log_exporter, failures)))
    metric_exporter = RaisingMetricExporter(RuntimeError("broken"))
    metric_reader = PeriodicExportingMetricReader(
        GuardedMetricExporter(metric_exporter, failures), export_interval_millis=3_600_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[metric_reader], shutdown_on_exit=False)
    telemetry = Telemetry(OtelMetrics(meter_provider), OtelTracing(tracer_provider), NoOpLogging())
    service = ResourceService(InMemoryUnitOfWork(), Instrumentation(telemetry))
    otel_logger = logger_provider.get_logger(LOGGER_NAME)
    try:
        for index in range(20):
            created = await service.create(ResourceDraft(f"resource-{index}"))
            assert (await service.get(created.id)).name == f"resource-{index}"
            page = await service.search(f"resource-{index}", PageRequest())
            assert page.total >= 1
            otel_logger.emit(body="operation.completed")
        meter_provider.force_flush(timeout_millis=5_000)  # the export raises inside; the flush returns
    finally:
        for provider in (tracer_provider, logger_provider, meter_provider):
            provider.shutdown()
    assert span_exporter.calls > 0
    assert log_exporter.calls > 0
    assert metric_exporter.calls > 0
    assert failures.counts["traces"] == span_exporter.calls
    assert failures.counts["logs"] == log_exporter.calls
    assert failures.counts["metrics"] == metric_exporter.calls


# --- The real service, disabled -----------------------------------------------------------------------------------


async def test_with_the_sdk_disabled_the_service_exports_nothing_and_still_serves_and_logs_json(tmp_path: Path) -> None:
    """OTEL_SDK_DISABLED=true with an endpoint set: nothing is exported, requests work, logs are JSON on stdout."""
    with HttpReceiver() as receiver:
        env = service_environment(
            f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
            {**telemetry_environment(receiver.endpoint), "OTEL_SDK_DISABLED": "true", "LOG_LEVEL": "debug"},
        )
        service = ServiceProcess("litestar", tmp_path, env)
        try:
            await asyncio.to_thread(service.start)
            async with LoadClients([service.base_url]) as clients:
                (samples,) = await paced_load(clients, [service.base_url], "", 30, 0.5)
            await asyncio.sleep(1.0)  # two metric intervals, several batch delays: time enough to export anything
            return_code = await asyncio.to_thread(service.terminate, SHUTDOWN_TIMEOUT_S + SHUTDOWN_MARGIN_S)
        finally:
            service.kill()
        assert receiver.received.request_count() == 0, receiver.received.signals()
    assert [s for s in samples if s.status != EXPECTED_STATUS[s.kind]] == []
    assert return_code == 0, service.output()
    lines = [json.loads(line) for line in service.stdout().splitlines() if line.strip()]
    assert lines, "uvicorn's records still reach stdout"
    assert all(isinstance(line, dict) and {"event", "level", "timestamp"} <= line.keys() for line in lines)
    assert not any("trace_id" in line for line in lines), "no tracing when disabled"
