"""Canary for `adapters/_compat/otel_sdk.py`: what the guarded exporters rely on in the OpenTelemetry SDK.

A failure here means the SDK release under test changed what that module relies on: read its docstring before
raising the bound on opentelemetry-sdk in pyproject.toml.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
    Sum,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from adapters._compat.otel_sdk import preferences_of, release_batch
from adapters.otel.resilience import ExportFailures, GuardedMetricExporter

CHANGED = f"opentelemetry-sdk {version('opentelemetry-sdk')} changed under adapters/_compat/otel_sdk.py"


class RecordingMetricExporter(MetricExporter):
    def __init__(self, **preferences: Any) -> None:
        super().__init__(**preferences)
        self.exported: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


class ReleasingSpanExporter(SpanExporter):
    """Records what each batch was, then empties it as the guarded exporters do."""

    def __init__(self) -> None:
        self.batches: list[tuple[type, int]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches.append((type(spans), len(spans)))
        release_batch(spans)
        return SpanExportResult.SUCCESS


def test_an_exporters_preferences_are_where_the_constructor_put_them() -> None:
    temporality = {Counter: AggregationTemporality.DELTA}
    aggregation = {Histogram: ExponentialBucketHistogramAggregation()}
    exporter = RecordingMetricExporter(preferred_temporality=temporality, preferred_aggregation=aggregation)
    assert preferences_of(exporter) == (temporality, aggregation), f"{CHANGED}: MetricExporter keeps them elsewhere"


def test_the_otlp_exporter_resolves_the_standard_variables_into_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram")
    temporality, aggregation = preferences_of(OTLPMetricExporter(endpoint="http://127.0.0.1:9/v1/metrics"))
    assert temporality is not None, f"{CHANGED}: the OTLP exporter keeps no temporality"
    assert temporality[Counter] is AggregationTemporality.DELTA, f"{CHANGED}: {temporality}"
    assert aggregation is not None, f"{CHANGED}: the OTLP exporter keeps no aggregation"
    assert isinstance(aggregation[Histogram], ExponentialBucketHistogramAggregation), f"{CHANGED}: {aggregation}"


def test_the_periodic_reader_asks_for_what_the_guarded_exporter_passes_on() -> None:
    inner = RecordingMetricExporter(preferred_temporality={Counter: AggregationTemporality.DELTA})
    reader = PeriodicExportingMetricReader(
        GuardedMetricExporter(inner, ExportFailures(lambda: 0.0)), export_interval_millis=math.inf
    )
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    provider.get_meter("canary").create_counter("canary.count").add(1)
    reader.collect()
    provider.shutdown()
    (resource_metrics,) = inner.exported[0].resource_metrics
    (sum_,) = [metric.data for scope in resource_metrics.scope_metrics for metric in scope.metrics]
    assert isinstance(sum_, Sum)
    assert sum_.aggregation_temporality is AggregationTemporality.DELTA, f"{CHANGED}: the reader ignored it"


def test_each_batch_is_a_list_of_its_own_that_the_processor_never_reads_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics], shutdown_on_exit=False)
    exporter = ReleasingSpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            exporter, max_export_batch_size=8, schedule_delay_millis=60_000, meter_provider=meter_provider
        )
    )
    for index in range(20):
        with tracer_provider.get_tracer("canary").start_as_current_span(f"span-{index}"):
            pass
    tracer_provider.force_flush()
    tracer_provider.shutdown()

    kinds = {kind for kind, _ in exporter.batches}
    assert kinds == {list}, f"{CHANGED}: the batch processor exports {kinds}, not lists it built for the export"
    assert sum(size for _, size in exporter.batches) == 20
    # An emptied batch must not change what the processor reports afterwards.
    processed = _points(metrics, "otel.sdk.processor.span.processed")
    meter_provider.shutdown()
    assert processed == 20, f"{CHANGED}: {processed} spans counted processed after their batches were emptied"


def _points(reader: InMemoryMetricReader, name: str) -> int:
    data = reader.get_metrics_data()
    assert data is not None
    return sum(
        int(point.value)
        for resource_metrics in data.resource_metrics
        for scope in resource_metrics.scope_metrics
        for metric in scope.metrics
        if metric.name == name and isinstance(metric.data, Sum)
        for point in metric.data.data_points
    )
