"""Suite `sdk_floor`: what the telemetry contract costs at the minimum, against what the project adds (issue 14).

The **SDK floor** of a request is the bare OpenTelemetry SDK, outside any app, emitting exactly what one request
of that operation emits: its spans (names, kinds, attributes, events, status, nesting), its metric records and its
OTLP log records, through the project's own providers (`build_providers`: the same processors, batch sizes and
OTLP/HTTP exporters) to the same sink. It is written down by running one request of each operation through the
project with recorders on its providers and its instruments (`capture`), then replayed by `replay`: straight SDK
calls, nothing else. The JSON line each log record also writes to stdout is no OpenTelemetry work, so it is not
in the floor: it is the project's own cost (see the primitives suite for what one costs).

The project's cost is the inprocess suite's: each framework's app driven through raw ASGI calls over the
in-memory store, everything on (`otel`) against observability disabled (`noop`); its added CPU per request is
the difference. CPU is the process's, exporter threads included, and every timed batch ends with the trace and
log providers flushed, so the encoding of what the batch emitted is inside it, for the floor and the project
alike. Repetitions interleave the three in a rotating order; ratios pair runs of the same repetition.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.metrics._internal import instrument as sdk_instrument
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

from adapters.memory.repository import InMemoryUnitOfWork
from adapters.otel.providers import OtelProviders, build_providers, build_resource

from .configurations import FRAMEWORKS, Framework, app_for, runtime_for
from .inprocess import OPERATIONS, Operation, Subject, asgi_call, flush_spans_and_logs, otlp_endpoint
from .measure import SMOKE_REPETITIONS, Row, Spread, target
from .primitives import otlp_providers
from .sink import OtlpSink

FULL_CALLS: Final = 400
SMOKE_CALLS: Final = 5
# More than the other suites' five: the ratio pairs three noisy figures, and a request costs only a millisecond.
FULL_REPETITIONS: Final = 9
# Issue 14: the CPU the project adds to a request is at most this multiple of the request's SDK floor.
FLOOR_MULTIPLE_LIMIT: Final = 1.5


@dataclass(frozen=True, slots=True)
class SpanStarted:
    scope: str
    name: str
    kind: SpanKind
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SpanEnded:
    events: tuple[tuple[str, Mapping[str, Any]], ...]
    status: StatusCode
    status_description: str | None


@dataclass(frozen=True, slots=True)
class Measured:
    scope: str
    instrument: str
    name: str
    unit: str
    boundaries: Sequence[float] | None
    value: float
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Logged:
    scope: str
    body: Any
    severity_number: Any
    severity_text: str | None
    attributes: Mapping[str, Any]
    event_name: str | None


Step = SpanStarted | SpanEnded | Measured | Logged
_StepT = TypeVar("_StepT", SpanStarted, SpanEnded, Measured, Logged)
# The project's steps of one request, in the order it took them.
Script = tuple[Step, ...]


class Recorder(SpanProcessor, LogRecordProcessor):
    """Notes every span start and end, and every log record, in order, while `recording` is set."""

    def __init__(self) -> None:
        self.recording = False
        self.steps: list[Step | Span | ReadableSpan] = []
        self._ended: dict[int, ReadableSpan] = {}

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if self.recording:
            self.steps.append(span)

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            events = tuple((event.name, dict(event.attributes or {})) for event in span.events)
            self.steps.append(SpanEnded(events, span.status.status_code, span.status.description))
            self._ended[span.context.span_id] = span

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if self.recording:
            record = log_record.log_record
            self.steps.append(
                Logged(
                    _scope_name(log_record.instrumentation_scope),
                    record.body,
                    record.severity_number,
                    record.severity_text,
                    dict(record.attributes or {}),
                    record.event_name,
                )
            )

    @contextlib.contextmanager
    def recording_one_request(self) -> Iterator[None]:
        """Notes what happens inside, and only that: the steps noted before are forgotten."""
        self.steps, self._ended, self.recording = [], {}, True
        try:
            yield
        finally:
            self.recording = False

    def script(self) -> Script:
        """The steps noted, each span's start carrying its attributes as they were when it ended."""
        steps: list[Step] = []
        for step in self.steps:
            if isinstance(step, Span | ReadableSpan):
                ended = self._ended[step.context.span_id]
                attributes = dict(ended.attributes or {})
                steps.append(SpanStarted(_scope_name(ended.instrumentation_scope), ended.name, ended.kind, attributes))
            else:
                steps.append(step)
        return tuple(steps)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _scope_name(scope: Any) -> str:
    return "" if scope is None else str(scope.name)


_RECORDING_METHODS: Final = {
    sdk_instrument.Counter: "add",
    sdk_instrument.UpDownCounter: "add",
    sdk_instrument.Histogram: "record",
    sdk_instrument.Gauge: "set",
}


@contextlib.contextmanager
def metric_records(recorder: Recorder) -> Iterator[None]:
    """Every synchronous instrument's record noted by `recorder` (it notes only while recording)."""
    originals = {kind: getattr(kind, method) for kind, method in _RECORDING_METHODS.items()}

    def noting(kind: type[Any], original: Callable[..., None]) -> Callable[..., None]:
        def note(instrument: Any, amount: float, attributes: Attributes = None, *args: Any, **kwargs: Any) -> None:
            if recorder.recording:
                advisory = getattr(instrument, "_advisory", None)
                recorder.steps.append(
                    Measured(
                        instrument.instrumentation_scope.name,
                        kind.__name__,
                        instrument.name,
                        instrument.unit,
                        None if advisory is None else advisory.explicit_bucket_boundaries,
                        amount,
                        dict(attributes or {}),
                    )
                )
            original(instrument, amount, attributes, *args, **kwargs)

        return note

    for kind, method in _RECORDING_METHODS.items():
        setattr(kind, method, noting(kind, originals[kind]))
    try:
        yield
    finally:
        for kind, method in _RECORDING_METHODS.items():
            setattr(kind, method, originals[kind])


async def capture(framework: Framework, calls: int) -> dict[Operation, Script]:
    """What one request of each operation emits through `framework`'s app, everything on, in order."""
    runtime = runtime_for("otel", framework, InMemoryUnitOfWork())
    providers = _providers_of(runtime.telemetry_handle.providers)
    recorder = Recorder()
    providers.tracer_provider.add_span_processor(recorder)
    providers.logger_provider.add_log_record_processor(recorder)
    subject = Subject(framework, "otel", runtime, app_for(framework, runtime))
    scripts: dict[Operation, Script] = {}
    await runtime.start()
    try:
        await subject.prepare(calls)
        with metric_records(recorder):
            for operation in OPERATIONS:
                # The first request is not recorded: it may build what later requests find ready.
                first, second = await subject.requests(operation, 2)
                await asgi_call(subject.app, *first)
                with recorder.recording_one_request():
                    await asgi_call(subject.app, *second)
                scripts[operation] = recorder.script()
    finally:
        await runtime.stop()
    return scripts


def _providers_of(providers: OtelProviders | None) -> OtelProviders:
    if providers is None:
        raise AssertionError("the otel configuration has no SDK providers")
    return providers


class SdkFloor:
    """Scripts replayed as bare SDK calls on `providers`, which no app uses: the SDK floor of each request."""

    def __init__(self, providers: OtelProviders) -> None:
        self.providers = providers
        self._instruments: dict[tuple[str, str, str], Any] = {}

    def replay(self, script: Script) -> Replay:
        """One request's steps, ready to run again and again."""
        for step in _of(script, Measured):
            key = (step.scope, step.instrument, step.name)
            if key not in self._instruments:
                self._instruments[key] = _instrument(self.providers.meter_provider, step)
        return Replay(script, self.providers, self._instruments)


class Replay:
    """One script's steps as bare SDK calls: spans started and ended, metrics recorded, log records emitted."""

    def __init__(
        self, script: Script, providers: OtelProviders, instruments: Mapping[tuple[str, str, str], Any]
    ) -> None:
        self._providers = providers
        self._script = script
        self._instruments = instruments
        self._tracers = {
            step.scope: providers.tracer_provider.get_tracer(step.scope) for step in _of(script, SpanStarted)
        }
        self._loggers = {step.scope: providers.logger_provider.get_logger(step.scope) for step in _of(script, Logged)}

    def __call__(self) -> None:
        open_spans: list[tuple[trace.Span, object]] = []
        for step in self._script:
            if isinstance(step, SpanStarted):
                span = self._tracers[step.scope].start_span(step.name, kind=step.kind, attributes=step.attributes)
                open_spans.append((span, otel_context.attach(trace.set_span_in_context(span))))
            elif isinstance(step, SpanEnded):
                span, token = open_spans.pop()
                for name, attributes in step.events:
                    span.add_event(name, attributes)
                if step.status is not StatusCode.UNSET:
                    span.set_status(Status(step.status, step.status_description))
                otel_context.detach(token)  # type: ignore[arg-type]
                span.end()
            elif isinstance(step, Measured):
                _record(self._instruments[(step.scope, step.instrument, step.name)], step)
            else:
                self._loggers[step.scope].emit(
                    body=step.body,
                    severity_number=step.severity_number,
                    severity_text=step.severity_text,
                    attributes=step.attributes,
                    event_name=step.event_name,
                )

    def flush(self) -> None:
        """Export the spans and log records still queued, as the project's timed batches do."""
        flush_spans_and_logs(self._providers)


def _of(script: Script, kind: type[_StepT]) -> list[_StepT]:
    return [step for step in script if isinstance(step, kind)]


def _instrument(meter_provider: MeterProvider, step: Measured) -> Any:
    meter = meter_provider.get_meter(step.scope)
    if step.instrument == "Histogram":
        return meter.create_histogram(step.name, unit=step.unit, explicit_bucket_boundaries_advisory=step.boundaries)
    if step.instrument == "Counter":
        return meter.create_counter(step.name, unit=step.unit)
    if step.instrument == "UpDownCounter":
        return meter.create_up_down_counter(step.name, unit=step.unit)
    return meter.create_gauge(step.name, unit=step.unit)


def _record(instrument: Any, step: Measured) -> None:
    if step.instrument == "Histogram":
        instrument.record(step.value, step.attributes)
    elif step.instrument == "Gauge":
        instrument.set(step.value, step.attributes)
    else:
        instrument.add(step.value, step.attributes)


def check_replays(scripts: Mapping[Operation, Script]) -> None:
    """Refuse a floor that is not exact: each script, replayed and captured the same way, must be itself."""
    providers = build_providers(build_resource("sdk-floor-check", "none"))
    recorder = Recorder()
    providers.tracer_provider.add_span_processor(recorder)
    providers.logger_provider.add_log_record_processor(recorder)
    floor = SdkFloor(providers)
    try:
        with metric_records(recorder):
            for operation, script in scripts.items():
                replay = floor.replay(script)
                with recorder.recording_one_request():
                    replay()
                if recorder.script() != script:
                    raise AssertionError(f"the SDK floor of {operation} does not emit what the project emitted")
    finally:
        providers.shutdown(5.0)


def timed_replay(replay: Replay, calls: int) -> float:
    """CPU microseconds of this process (exporter threads included) per replayed request, flush included."""
    started = time.process_time()
    for _ in range(calls):
        replay()
    replay.flush()
    return (time.process_time() - started) / calls * 1e6


async def run(*, smoke: bool) -> dict[str, Any]:
    """Each framework's scripts, replayed as the floor, against the project's added CPU; rows and targets."""
    repetitions, calls = (SMOKE_REPETITIONS, SMOKE_CALLS) if smoke else (FULL_REPETITIONS, FULL_CALLS)
    with OtlpSink() as sink, otlp_endpoint(sink.endpoint):
        scripts = {framework: await capture(framework, calls) for framework in FRAMEWORKS}
        for by_operation in scripts.values():
            check_replays(by_operation)
        with otlp_providers(sink.endpoint) as floor_providers:
            floor = SdkFloor(floor_providers)
            replays = {
                (framework, operation): floor.replay(script)
                for framework, by_operation in scripts.items()
                for operation, script in by_operation.items()
            }
            samples = await _measure(replays, repetitions, calls)
    return {
        "calls_per_batch": calls,
        "store": "memory",
        "emitted": _emitted(scripts),
        "rows": (rows := _rows(samples)),
        "targets": _targets(rows),
    }


Samples = dict[tuple[Framework, Operation, str], list[float]]


async def _measure(replays: dict[tuple[Framework, Operation], Replay], repetitions: int, calls: int) -> Samples:
    subjects = {
        (framework, configuration): Subject(framework, configuration, runtime, app_for(framework, runtime))
        for framework in FRAMEWORKS
        for configuration in ("noop", "otel")
        for runtime in [runtime_for(configuration, framework, InMemoryUnitOfWork())]
    }
    samples: Samples = {}
    try:
        for subject in subjects.values():
            await subject.runtime.start()
            await subject.prepare(calls)
        for subject in subjects.values():  # warm-up
            for operation in OPERATIONS:
                await subject.timed_batch(operation, calls)
        for replay in replays.values():
            timed_replay(replay, calls)
        for repetition in range(repetitions):
            for operation in OPERATIONS:
                for framework in FRAMEWORKS:
                    shift = repetition % len(_MEASURED)
                    for name in _MEASURED[shift:] + _MEASURED[:shift]:
                        if name == "floor":
                            us = timed_replay(replays[(framework, operation)], calls)
                        else:
                            us = await subjects[(framework, name)].timed_batch(operation, calls)
                        samples.setdefault((framework, operation, name), []).append(us)
    finally:
        for subject in subjects.values():
            await subject.runtime.stop()
    return samples


# What each repetition measures, in a rotating order: the project off and on, and the SDK floor.
_MEASURED: Final = ("noop", "otel", "floor")


def _emitted(scripts: dict[Framework, dict[Operation, Script]]) -> list[Row]:
    """What one request of each operation emits: the floor's work."""
    return [
        {
            "framework": framework,
            "operation": operation,
            "spans": len(_of(script, SpanStarted)),
            "metric_records": len(_of(script, Measured)),
            "log_records": len(_of(script, Logged)),
        }
        for framework, by_operation in scripts.items()
        for operation, script in by_operation.items()
    ]


def _rows(samples: Samples) -> list[Row]:
    rows = []
    for framework in FRAMEWORKS:
        for operation in OPERATIONS:
            noop, otel, floor = (samples[(framework, operation, name)] for name in ("noop", "otel", "floor"))
            added = [on - off for on, off in zip(otel, noop, strict=True)]
            rows.append(
                {
                    "framework": framework,
                    "operation": operation,
                    "noop_us": Spread.of(noop).as_json(),
                    "otel_us": Spread.of(otel).as_json(),
                    "added_us": Spread.of(added).as_json(),
                    "sdk_floor_us": Spread.of(floor).as_json(),
                    "added_over_floor": Spread.of([a / f for a, f in zip(added, floor, strict=True)]).as_json(),
                }
            )
    return rows


def _targets(rows: list[Row]) -> list[Row]:
    return [
        target(
            f"added CPU at most 1.5x the SDK floor: {row['framework']} {row['operation']}",
            row["added_over_floor"]["median"],
            FLOOR_MULTIPLE_LIMIT,
            unit="x",
        )
        for row in rows
    ]
