"""Suite 4: the cost, on the calling thread, of one telemetry primitive through the real adapters.

The SDK providers export over OTLP/HTTP to the sink, as in production; their batch processors encode and send
on their own thread, so what is timed here is what a request pays for each call.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Final
from uuid import uuid4

import structlog

from adapters.memory.repository import InMemoryResourceRepository
from adapters.otel import OtelMetrics, OtelTracing
from adapters.otel.providers import SDK_INTERNAL_METRICS, ExportSettings, OtelProviders, build_providers, build_resource
from adapters.structlog import StructlogLogging, configure_logging
from core.instrumentation import Instrumentation, NoTelemetry

from .configurations import PassThroughInstrumentation
from .measure import FULL_REPETITIONS, SMOKE_REPETITIONS, Row, Spread, per_call_seconds, target
from .sink import OtlpSink

FULL_CALLS: Final = 5_000
SMOKE_CALLS: Final = 200
LOG_LINE_LIMIT_US: Final = 10.0
FILTERED_LIMIT_US: Final = 0.2
_FIELDS: Final = {"resource_id": "0b5c7c4e-8f0e-4d36-9a51-2f1d0c8f6a11"}


@contextlib.contextmanager
def otlp_providers(endpoint: str) -> Iterator[OtelProviders]:
    """The project's SDK providers, exporting traces, metrics and logs over OTLP/HTTP to `endpoint`."""
    previous = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    # As the served process runs them (`entrypoints/telemetry.py`): with the SDK's own metrics.
    os.environ.setdefault(SDK_INTERNAL_METRICS, "true")
    export = ExportSettings(traces_exporter="otlp", metrics_exporter="otlp", logs_exporter="otlp")
    providers = build_providers(build_resource("bench", "none"), export)
    try:
        yield providers
    finally:
        providers.shutdown(5.0)
        if previous is None:
            del os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
        else:
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = previous


def _into_devnull() -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115  # lives as long as the process


def _run_to_end(coroutine: Coroutine[Any, Any, object]) -> None:
    """Run a coroutine that never suspends (the in-memory repository does not), without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    raise AssertionError("the coroutine suspended")


def _instrumented_get(instrumentation: Instrumentation) -> Callable[[], None]:
    """What the service's `get` asks of its instrumentation: one operation around one repository call."""
    repository = InMemoryResourceRepository({})
    resource_id = uuid4()

    async def get() -> None:
        async with instrumentation.operation("get", resource_id) as scope:
            await instrumentation.traced(repository).get(resource_id)
            scope.record_dependency_count(0)

    return lambda: _run_to_end(get())


def _calls(providers: OtelProviders) -> dict[str, Callable[[], object]]:
    """Each primitive, as the service makes it."""
    tracing = OtelTracing(providers.tracer_provider)
    metrics = OtelMetrics(providers.meter_provider)
    logging_port = StructlogLogging()
    raw_logger = structlog.get_logger("bench").bind()

    def span() -> None:
        with tracing.span("resource.get", {"resource.operation": "get"}):
            pass

    def metric() -> None:
        metrics.record_operation("get", 0.0012, None)

    def log_line() -> None:
        logging_port.operation_completed("get", 1.2, _FIELDS)

    def filtered_out() -> None:
        logging_port.operation_started("get", _FIELDS)

    def filtered_out_raw() -> None:
        raw_logger.debug("operation.started")

    return {
        HARNESS: lambda: None,
        NOOP_LAYER: _instrumented_get(Instrumentation(NoTelemetry())),
        BARE_LAYER: _instrumented_get(PassThroughInstrumentation()),
        "operation span": span,
        "metric record (operation: histogram + counter)": metric,
        LOG_LINE: log_line,
        "filtered-out debug call (port)": filtered_out,
        "filtered-out debug call (structlog logger)": filtered_out_raw,
    }


# Each line is also exported over OTLP logs when the logger provider is given, as the service does by default.
_LOG_SETUPS: Final = {"stdout only": False, "stdout + OTLP logs": True}
LOG_LINE: Final = "JSON log line (stdout)"
NOOP_LAYER: Final = "no-op instrumentation of one get (operation + 1 repository call)"
BARE_LAYER: Final = "pass-through instrumentation of one get (the baseline's)"
# The timing loop's own cost per call, subtracted in `net_us_per_call`.
HARNESS: Final = "empty call (timing harness)"
LOG_LINE_EXPORTED: Final = "JSON log line (stdout + OTLP logs)"


def run(*, smoke: bool) -> dict[str, Any]:
    """Microseconds per call of each primitive; rows and targets. The first round is a warm-up."""
    repetitions, calls = (SMOKE_REPETITIONS, SMOKE_CALLS) if smoke else (FULL_REPETITIONS, FULL_CALLS)
    samples: dict[str, list[float]] = {}
    with OtlpSink() as sink, otlp_providers(sink.endpoint) as providers:
        for repetition in range(repetitions + 1):
            for exported in _LOG_SETUPS.values():
                configure_logging(level="info", logger_provider=providers.logger_provider if exported else None)
                _into_devnull()
                for name, call in _calls(providers).items():
                    if exported and name != LOG_LINE:
                        continue
                    us = per_call_seconds(call, calls) * 1e6
                    if repetition:
                        samples.setdefault(LOG_LINE_EXPORTED if exported else name, []).append(us)
    _restore_logging()
    harness = samples[HARNESS]
    rows: list[Row] = [
        {
            "primitive": name,
            "us_per_call": Spread.of(us).as_json(),
            "net_us_per_call": Spread.of([own - empty for own, empty in zip(us, harness, strict=True)]).as_json(),
        }
        for name, us in samples.items()
    ]
    return {"calls_per_repetition": calls, "rows": rows, "targets": _targets(samples)}


def _restore_logging() -> None:
    logging.getLogger().handlers = [logging.StreamHandler(io.StringIO())]
    structlog.reset_defaults()


def _targets(samples: dict[str, list[float]]) -> list[Row]:
    return [
        target(
            "one JSON log line at most 10 us",
            Spread.of(samples[LOG_LINE]).median - Spread.of(samples[HARNESS]).median,
            LOG_LINE_LIMIT_US,
            unit="us",
        ),
        target(
            "a filtered-out call at most 0.2 us",
            Spread.of(samples["filtered-out debug call (port)"]).median - Spread.of(samples[HARNESS]).median,
            FILTERED_LIMIT_US,
            unit="us",
        ),
    ]
