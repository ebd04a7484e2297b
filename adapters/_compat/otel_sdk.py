"""The OpenTelemetry SDK: what the guarded exporters (`adapters/otel/resilience.py`) need beyond its public API.

- **A metric exporter's preferences.** `MetricExporter.__init__` keeps the temporality and aggregation it asks
  for as `_preferred_temporality` and `_preferred_aggregation`, which `PeriodicExportingMetricReader` reads
  itself; there is no public getter. The OTLP metric exporters resolve them from
  OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE and OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION,
  so a wrapper that did not ask for the same would export cumulative sums and explicit-bucket histograms
  whatever a deployment sets.
- **The batches are the processor's own.** The batch processors build a new list for each export and never
  read it again (`BatchProcessor._export`, `opentelemetry.sdk._shared_internal`), so an exporter may empty it.
  A failed OTLP export keeps its error, whose traceback holds the exporter's frames and with them the batch, in
  a reference cycle. Measured on 1.45.2, HTTP and gRPC exporters to a closed port, 128 spans and 128 log records,
  the cyclic collector off: the batch kept, all 128 items outlive the export, and the next full collection frees
  840-1 590 objects; the batch emptied, none do, and it frees 70-180. In the served process that collection
  paused requests for 40-110 ms (docs/reliability.md). No upstream issue was found for the cycle;
  tests/integration/test_compat_otel_exporters.py fails once the exporters no longer leave it.

Canary: tests/unit/test_compat_otel_sdk.py. Bounded in pyproject.toml: opentelemetry-sdk<1.46, which pins
opentelemetry-api and the OTLP exporters to its own version.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter
from opentelemetry.sdk.metrics.view import Aggregation

Temporalities = dict[type, AggregationTemporality] | None
Aggregations = dict[type, Aggregation] | None


def preferences_of(exporter: MetricExporter) -> tuple[Temporalities, Aggregations]:
    """The temporality and aggregation `exporter` asks its reader for, for a wrapper to ask for in its place."""
    return exporter._preferred_temporality, exporter._preferred_aggregation


def release_batch(batch: Sequence[object]) -> None:
    """Empty an exported batch, so that what a failed export leaves behind cannot keep its items alive.

    A one-item tuple (what the simple processors export) holds too little to matter and stays as it is.
    """
    if isinstance(batch, list):
        batch.clear()
