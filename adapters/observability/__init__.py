"""Observability adapters: in-memory ones that record everything for tests, and no-op ones for "disabled"."""

from adapters.observability.memory import (
    InMemoryLogging,
    InMemoryMetrics,
    InMemoryTracing,
    MetricPoint,
    RecordedSpan,
    in_memory_telemetry,
)
from adapters.observability.noop import NoOpLogging, NoOpMetrics, NoOpTracing, noop_telemetry

__all__ = [
    "InMemoryLogging",
    "InMemoryMetrics",
    "InMemoryTracing",
    "MetricPoint",
    "NoOpLogging",
    "NoOpMetrics",
    "NoOpTracing",
    "RecordedSpan",
    "in_memory_telemetry",
    "noop_telemetry",
]
