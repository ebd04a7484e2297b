"""OpenTelemetry adapters: the metrics and tracing ports on the OpenTelemetry SDK."""

from adapters.otel.metrics import OtelMetrics
from adapters.otel.tracing import OtelTracing

__all__ = ["OtelMetrics", "OtelTracing"]
