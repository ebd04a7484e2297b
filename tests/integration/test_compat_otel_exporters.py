"""Is `release_batch` (`adapters/_compat/otel_sdk.py`) still needed? A failed OTLP export still keeps its batch alive.

The real batch processors and OTLP exporters, sending to a closed port, the guarded exporters' emptying switched
off and the cyclic garbage collector too: every exported item must still be alive, held by what the failed export
left in a reference cycle. When this fails, the exporters no longer do that, and `release_batch` can go.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from uuid import uuid4

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from adapters.otel import resilience
from adapters.otel.resilience import ExportFailures, GuardedLogExporter, GuardedSpanExporter

from .otlp_receiver import closed_port

ITEMS = 32
PROTOCOLS = ("http/protobuf", "grpc")


@pytest.fixture
def without_release_or_cyclic_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def keep(batch: Sequence[object]) -> None:
        pass

    monkeypatch.setattr(resilience, "release_batch", keep)
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _still_needed(signal: str, protocol: str, alive: int) -> str:
    exporter = f"opentelemetry-exporter-otlp-proto-{protocol.partition('/')[0]}"
    outlived = f"{alive} of {ITEMS} {signal} outlived a failed export"
    return f"{exporter} {version(exporter)}: {outlived} (none: the cycle is gone, and release_batch can go)"


def _span_exporter(protocol: str, port: int) -> SpanExporter:
    if protocol == "grpc":
        return GrpcSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=0.5)
    return HttpSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=0.5)


def _log_exporter(protocol: str, port: int) -> LogRecordExporter:
    if protocol == "grpc":
        return GrpcLogExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=0.5)
    return HttpLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs", timeout=0.5)


@pytest.mark.usefixtures("without_release_or_cyclic_collector")
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_failed_span_export_still_keeps_its_batch_alive(protocol: str) -> None:
    marker, failures = f"kept-{uuid4()}", ExportFailures(lambda: 0.0)
    provider = TracerProvider(shutdown_on_exit=False)
    guarded = GuardedSpanExporter(_span_exporter(protocol, closed_port()), failures)
    provider.add_span_processor(BatchSpanProcessor(guarded, schedule_delay_millis=60_000))
    for index in range(ITEMS):
        with provider.get_tracer("canary").start_as_current_span(f"{marker}-{index}"):
            pass
    provider.force_flush()
    alive = sum(isinstance(o, ReadableSpan) and o.name.startswith(marker) for o in gc.get_objects())
    provider.shutdown()
    assert failures.counts["traces"] == 1
    assert alive == ITEMS, _still_needed("spans", protocol, alive)


@pytest.mark.usefixtures("without_release_or_cyclic_collector")
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_failed_log_export_still_keeps_its_batch_alive(protocol: str) -> None:
    marker, failures = f"kept-{uuid4()}", ExportFailures(lambda: 0.0)
    provider = LoggerProvider(shutdown_on_exit=False)
    guarded = GuardedLogExporter(_log_exporter(protocol, closed_port()), failures)
    provider.add_log_record_processor(BatchLogRecordProcessor(guarded, schedule_delay_millis=60_000))
    for index in range(ITEMS):
        provider.get_logger("canary").emit(body=f"{marker}-{index}")
    provider.force_flush()
    alive = sum(
        isinstance(o, ReadableLogRecord) and str(o.log_record.body).startswith(marker) for o in gc.get_objects()
    )
    provider.shutdown()
    assert failures.counts["logs"] == 1
    assert alive == ITEMS, _still_needed("log records", protocol, alive)
