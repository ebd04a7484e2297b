"""The peers: the floor apps, instrumented the usual ways, each with its own default telemetry (`FLOOR_PEER`).

- `fastapi`, `litestar`: the floor (`floor.py`, `floor_litestar.py`) as it is, uninstrumented: each peer's "off";
- `fastapi-instrumentor`: OpenTelemetry's `FastAPIInstrumentor.instrument_app`, its defaults;
- `fastapi-instrumentor-lean`: the same without its `http send` and `http receive` spans
  (`exclude_spans=["send", "receive"]`): one server span per request, and the HTTP metrics;
- `fastapi-native`: FastAPI's own telemetry (`FastAPI(telemetry=...)`, since 0.142) given the providers, its
  defaults: the server span, the HTTP metrics, and spans for dependency resolution, the endpoint and serialization;
- `fastapi-native-lean`: the same without those operation spans (`operation_spans: False`): one server span per
  request, and the HTTP metrics;
- `logfire`: Pydantic Logfire, `logfire.configure(send_to_logfire=False, console=False)` and
  `logfire.instrument_fastapi(app)`, its defaults (Logfire itself exports spans, metrics and logs over
  OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set);
- `litestar-plugin`: Litestar's `OpenTelemetryPlugin(OpenTelemetryConfig(...))`, its defaults;
- `litestar-plugin-lean`: the same without its `http send` and `http receive` spans (`exclude_spans`).

The OpenTelemetry peers get the SDK's defaults but for the exporters: a TracerProvider with a BatchSpanProcessor
and a MeterProvider with a PeriodicExportingMetricReader, both exporting over OTLP/HTTP to
OTEL_EXPORTER_OTLP_ENDPOINT (the suite's sink), and the resource's `service.name`.

    FLOOR_PEER=litestar-plugin python -m uvicorn tests.benchmarks.peer_apps:create_app --factory
"""

from __future__ import annotations

import os
from typing import Final, Literal

from fastapi import FastAPI
from litestar import Litestar
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import floor, floor_litestar

Peer = Literal[
    "fastapi",
    "litestar",
    "fastapi-instrumentor",
    "fastapi-instrumentor-lean",
    "fastapi-native",
    "fastapi-native-lean",
    "logfire",
    "litestar-plugin",
    "litestar-plugin-lean",
]
# Each peer's framework: its "off" is that framework's floor, uninstrumented.
FRAMEWORK_OF: Final[dict[Peer, Literal["fastapi", "litestar"]]] = {
    "fastapi": "fastapi",
    "litestar": "litestar",
    "fastapi-instrumentor": "fastapi",
    "fastapi-instrumentor-lean": "fastapi",
    "fastapi-native": "fastapi",
    "fastapi-native-lean": "fastapi",
    "logfire": "fastapi",
    "litestar-plugin": "litestar",
    "litestar-plugin-lean": "litestar",
}


def providers(service_name: str) -> tuple[TracerProvider, MeterProvider]:
    """SDK defaults but for the exporters: OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, spans batched."""
    resource = Resource.create({SERVICE_NAME: service_name})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]
    )
    return tracer_provider, meter_provider


def create_app() -> FastAPI | Litestar:
    """The app FLOOR_PEER names (default `fastapi`, the plain floor)."""
    peer = os.environ.get("FLOOR_PEER", "fastapi")
    service_name = f"floor-{peer}"
    if peer == "fastapi":
        return floor.create_app()
    if peer == "litestar":
        return floor_litestar.create_app()
    if peer in ("fastapi-instrumentor", "fastapi-instrumentor-lean"):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        app = floor.create_app()
        tracer_provider, meter_provider = providers(service_name)
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            exclude_spans=["send", "receive"] if peer == "fastapi-instrumentor-lean" else None,
        )
        return app
    if peer in ("fastapi-native", "fastapi-native-lean"):
        tracer_provider, meter_provider = providers(service_name)
        return floor.create_app(
            telemetry={
                "tracer_provider": tracer_provider,
                "meter_provider": meter_provider,
                "operation_spans": peer == "fastapi-native",
            }
        )
    if peer == "logfire":
        import logfire  # the bench extra

        # The console exporter (on by default) prints every span: a development view, off as in production.
        logfire.configure(send_to_logfire=False, service_name=service_name, console=False)
        app = floor.create_app()
        logfire.instrument_fastapi(app)
        return app
    if peer in ("litestar-plugin", "litestar-plugin-lean"):
        from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

        tracer_provider, meter_provider = providers(service_name)
        config = OpenTelemetryConfig(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            exclude_spans=["send", "receive"] if peer == "litestar-plugin-lean" else None,
        )
        return floor_litestar.create_app(plugins=[OpenTelemetryPlugin(config)])
    raise ValueError(f"unknown FLOOR_PEER {peer!r}; one of {', '.join(FRAMEWORK_OF)}")
