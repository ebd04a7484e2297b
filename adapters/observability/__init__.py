"""Observability adapters: in-memory ones that record everything, for tests (the no-op ones are in `ports.noop`)."""

from adapters.observability.memory import (
    InMemoryLogging,
    InMemoryMetrics,
    InMemoryTracing,
    MetricPoint,
    RecordedSpan,
    in_memory_telemetry,
)

__all__ = [
    "InMemoryLogging",
    "InMemoryMetrics",
    "InMemoryTracing",
    "MetricPoint",
    "RecordedSpan",
    "in_memory_telemetry",
]
