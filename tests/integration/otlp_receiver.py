"""A small OTLP receiver for tests: what the service really puts on the wire, decoded with opentelemetry-proto.

`HttpReceiver` answers OTLP/HTTP (protobuf, gzip or not) on POST /v1/traces, /v1/metrics and /v1/logs;
`GrpcReceiver` serves the OTLP gRPC TraceService, MetricsService and LogsService. Both listen on 127.0.0.1 on a
free port, keep every request they decode in a `Received`, and answer success. `BlackHole` accepts TCP
connections and never answers; `closed_port()` is a port nothing listens on. `ServiceProcess` runs the
service under test as a `resource-service serve` subprocess with a clean environment.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import grpc  # type: ignore[import-untyped]  # grpcio ships neither stubs nor py.typed
import httpx
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

HOST = "127.0.0.1"
Signal = Literal["traces", "metrics", "logs"]
MetricKind = Literal["histogram", "sum", "gauge", "exponential_histogram", "summary"]
ExportRequest = ExportTraceServiceRequest | ExportMetricsServiceRequest | ExportLogsServiceRequest
ExportResponse = ExportTraceServiceResponse | ExportMetricsServiceResponse | ExportLogsServiceResponse
Value = str | bool | int | float | bytes | list[Any] | dict[str, Any] | None

SPAN_KIND_SERVER = Span.SpanKind.SPAN_KIND_SERVER
SPAN_KIND_INTERNAL = Span.SpanKind.SPAN_KIND_INTERNAL
SPAN_KIND_CLIENT = Span.SpanKind.SPAN_KIND_CLIENT
STATUS_UNSET = Status.StatusCode.STATUS_CODE_UNSET
STATUS_ERROR = Status.StatusCode.STATUS_CODE_ERROR


def any_value(value: AnyValue) -> Value:
    """The Python value an OTLP AnyValue holds."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bytes_value":
        return value.bytes_value
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    return None


def attributes_of(key_values: Sequence[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as a dict."""
    return {item.key: any_value(item.value) for item in key_values}


@dataclass(frozen=True, slots=True)
class SpanData:
    """One received span, with its resource's attributes; ids in lower-case hex (parent "" for a root)."""

    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    status_code: int
    event_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One data point of one received metric."""

    name: str
    kind: MetricKind
    unit: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    value: float | None
    count: int | None
    explicit_bounds: tuple[float, ...]
    monotonic: bool | None


@dataclass(frozen=True, slots=True)
class LogData:
    """One received log record; trace and span ids in lower-case hex ("" when the record has none)."""

    body: Value
    severity_number: int
    severity_text: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    trace_id: str
    span_id: str
    time_unix_nano: int
    event_name: str


def _points(metric: Metric, resource: dict[str, Any], scope: str) -> Iterator[MetricPoint]:
    kind = metric.WhichOneof("data")
    if kind == "histogram":
        for h in metric.histogram.data_points:
            yield MetricPoint(
                metric.name,
                "histogram",
                metric.unit,
                attributes_of(h.attributes),
                resource,
                scope,
                h.sum,
                h.count,
                tuple(h.explicit_bounds),
                None,
            )
    elif kind in ("sum", "gauge"):
        points = metric.sum.data_points if kind == "sum" else metric.gauge.data_points
        for n in points:
            number = n.as_double if n.WhichOneof("value") == "as_double" else float(n.as_int)
            monotonic = metric.sum.is_monotonic if kind == "sum" else None
            yield MetricPoint(
                metric.name,
                kind,
                metric.unit,
                attributes_of(n.attributes),
                resource,
                scope,
                number,
                None,
                (),
                monotonic,
            )
    elif kind == "exponential_histogram":
        for e in metric.exponential_histogram.data_points:
            yield MetricPoint(
                metric.name,
                kind,
                metric.unit,
                attributes_of(e.attributes),
                resource,
                scope,
                e.sum,
                e.count,
                (),
                None,
            )
    elif kind == "summary":
        for s in metric.summary.data_points:
            yield MetricPoint(
                metric.name, kind, metric.unit, attributes_of(s.attributes), resource, scope, s.sum, s.count, (), None
            )


@dataclass
class Received:
    """Every request a receiver decoded, with the headers (HTTP) or metadata (gRPC) each came with. Thread-safe."""

    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)
    logs: list[ExportLogsServiceRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    raw_payloads: list[bytes] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, signal: Signal, request: ExportRequest, headers: Mapping[str, str], payload: bytes) -> None:
        with self._lock:
            if isinstance(request, ExportTraceServiceRequest):
                self.traces.append(request)
            elif isinstance(request, ExportMetricsServiceRequest):
                self.metrics.append(request)
            else:
                self.logs.append(request)
            self.headers.append({key.lower(): value for key, value in headers.items()})
            self.raw_payloads.append(payload)

    def request_count(self) -> int:
        with self._lock:
            return len(self.traces) + len(self.metrics) + len(self.logs)

    def spans(self) -> list[SpanData]:
        with self._lock:
            requests = list(self.traces)
        found: list[SpanData] = []
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = attributes_of(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append(
                            SpanData(
                                name=span.name,
                                kind=span.kind,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                attributes=attributes_of(span.attributes),
                                resource=resource,
                                scope=scope_spans.scope.name,
                                status_code=span.status.code,
                                event_names=tuple(event.name for event in span.events),
                            )
                        )
        return found

    def metric_points(self) -> list[MetricPoint]:
        with self._lock:
            requests = list(self.metrics)
        found: list[MetricPoint] = []
        for request in requests:
            for resource_metrics in request.resource_metrics:
                resource = attributes_of(resource_metrics.resource.attributes)
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        found.extend(_points(metric, resource, scope_metrics.scope.name))
        return found

    def log_records(self) -> list[LogData]:
        with self._lock:
            requests = list(self.logs)
        found: list[LogData] = []
        for request in requests:
            for resource_logs in request.resource_logs:
                resource = attributes_of(resource_logs.resource.attributes)
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        found.append(
                            LogData(
                                body=any_value(record.body),
                                severity_number=record.severity_number,
                                severity_text=record.severity_text,
                                attributes=attributes_of(record.attributes),
                                resource=resource,
                                trace_id=record.trace_id.hex(),
                                span_id=record.span_id.hex(),
                                time_unix_nano=record.time_unix_nano,
                                event_name=record.event_name,
                            )
                        )
        return found

    def resources(self) -> list[dict[str, Any]]:
        """The resource attributes of every resource block received, whatever the signal."""
        with self._lock:
            blocks = [r.resource for t in self.traces for r in t.resource_spans]
            blocks += [r.resource for m in self.metrics for r in m.resource_metrics]
            blocks += [r.resource for lg in self.logs for r in lg.resource_logs]
        return [attributes_of(block.attributes) for block in blocks]

    def signals(self) -> set[Signal]:
        with self._lock:
            present: set[Signal] = set()
            if self.traces:
                present.add("traces")
            if self.metrics:
                present.add("metrics")
            if self.logs:
                present.add("logs")
            return present

    def serialized(self) -> list[bytes]:
        """Every decoded request, serialized again: searching these bytes covers every field of every signal."""
        with self._lock:
            requests: list[ExportRequest] = [*self.traces, *self.metrics, *self.logs]
        return [request.SerializeToString() for request in requests]


def _decode_traces(payload: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    return request


def _decode_metrics(payload: bytes) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    request.ParseFromString(payload)
    return request


def _decode_logs(payload: bytes) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    request.ParseFromString(payload)
    return request


_HTTP_PATHS: dict[str, tuple[Signal, Callable[[bytes], ExportRequest], Callable[[], ExportResponse]]] = {
    "/v1/traces": ("traces", _decode_traces, ExportTraceServiceResponse),
    "/v1/metrics": ("metrics", _decode_metrics, ExportMetricsServiceResponse),
    "/v1/logs": ("logs", _decode_logs, ExportLogsServiceResponse),
}


class _OtlpHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    received: Received
    refusing = False


class _OtlpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _OtlpHttpServer

    def do_POST(self) -> None:
        route = _HTTP_PATHS.get(self.path.split("?", 1)[0])
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if route is None:
            self._answer(404, b"")
            return
        if self.server.refusing:
            self._answer(503, b"")
            return
        signal, decode, response_type = route
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            request = decode(body)
        except Exception:
            self._answer(400, b"")
            return
        self.server.received.add(signal, request, dict(self.headers.items()), body)
        self._answer(200, response_type().SerializeToString())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is for the tests."""


class HttpReceiver:
    """OTLP/HTTP protobuf on 127.0.0.1; `endpoint` is the base URL for OTEL_EXPORTER_OTLP_ENDPOINT."""

    protocol = "http/protobuf"

    def __init__(self) -> None:
        self.received = Received()
        self._server = _OtlpHttpServer((HOST, 0), _OtlpHandler)
        self._server.received = self.received
        self.port: int = self._server.server_address[1]
        self.endpoint = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-http", daemon=True
        )

    def start(self) -> Self:
        self._thread.start()
        return self

    def refuse(self) -> None:
        """From now on answer every export 503, as an overloaded collector does (connections stay open)."""
        self._server.refusing = True

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


class _TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received) -> None:
        self._received = received

    def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:
        self._received.add("traces", request, _metadata(context), request.SerializeToString())
        return ExportTraceServiceResponse()


class _MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: Received) -> None:
        self._received = received

    def Export(self, request: ExportMetricsServiceRequest, context: Any) -> ExportMetricsServiceResponse:
        self._received.add("metrics", request, _metadata(context), request.SerializeToString())
        return ExportMetricsServiceResponse()


class _LogsServicer(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, received: Received) -> None:
        self._received = received

    def Export(self, request: ExportLogsServiceRequest, context: Any) -> ExportLogsServiceResponse:
        self._received.add("logs", request, _metadata(context), request.SerializeToString())
        return ExportLogsServiceResponse()


def _metadata(context: Any) -> dict[str, str]:
    return {str(key): str(value) for key, value in context.invocation_metadata()}


class GrpcReceiver:
    """OTLP gRPC on 127.0.0.1 (insecure); `endpoint` is for OTEL_EXPORTER_OTLP_ENDPOINT with protocol grpc."""

    protocol = "grpc"

    def __init__(self) -> None:
        self.received = Received()
        self._server: Any = grpc.server(ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-grpc"))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated
            _TraceServicer(self.received), self._server
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated
            _MetricsServicer(self.received), self._server
        )
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated
            _LogsServicer(self.received), self._server
        )
        self.port = int(self._server.add_insecure_port(f"{HOST}:0"))
        self.endpoint = f"http://{HOST}:{self.port}"

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=0).wait(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


Receiver = HttpReceiver | GrpcReceiver


def receiver_for(protocol: str) -> Receiver:
    """A started receiver for `http/protobuf` or `grpc`."""
    if protocol == "grpc":
        return GrpcReceiver().start()
    if protocol == "http/protobuf":
        return HttpReceiver().start()
    raise ValueError(f"unknown OTLP protocol {protocol!r}")


class BlackHole:
    """A TCP listener on 127.0.0.1 that accepts every connection and never reads or answers on it."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((HOST, 0))
        self._listener.listen(128)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.endpoint = f"http://{HOST}:{self.port}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="otlp-black-hole", daemon=True)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            readable, _, _ = select.select([self._listener], [], [], 0.05)
            if not readable:
                continue
            try:
                connection, _address = self._listener.accept()
            except (BlockingIOError, OSError):
                continue
            self._held.append(connection)
            self.accepted += 1

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for connection in self._held:
            connection.close()
        self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports(count: int) -> int:
    """The first of `count` consecutive ports that were all free a moment ago on 127.0.0.1."""
    for _ in range(100):
        first = free_port()
        if first + count > 65536:
            continue
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + count):
                    held.enter_context(socket.create_server((HOST, port)))
            except OSError:
                continue
            return first
    raise AssertionError(f"no {count} consecutive free ports found")


def closed_port() -> int:
    """A port nothing listens on: bound, read, closed (connections to it are refused)."""
    return free_port()


# --- The service under test, as a `resource-service serve` subprocess -----------------------------------------

CONSOLE_SCRIPT = Path(sys.executable).with_name("resource-service")
STARTUP_SECONDS = 60.0
# Variables of the service that the calling environment must not leak into a test's run.
_SERVICE_PREFIXES = (
    "OTEL_",
    "DATABASE_URL",
    "LOG_",
    "RESOURCE_COUNT_",
    "OBSERVABILITY_",
    "DEPLOYMENT_",
    "MAX_BODY",
    "SHUTDOWN_",
    "WEB_CONCURRENCY",
    "ADMISSION_",
    "HTTP_",
    "FASTAPI_",
    "SATURATION_",
)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def service_environment(database_url: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any service or OTEL_* variable, plus the database and `overrides`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_SERVICE_PREFIXES)}
    return {**env, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", **overrides}


def framework_name(framework: str) -> str:
    """The app serving as `framework`: `fastapi-native` is FastAPI's app with FASTAPI_HTTP_TELEMETRY=native."""
    return framework.removesuffix("-native")


@dataclass
class ServiceProcess:
    """One `resource-service serve` process on a free port of 127.0.0.1, its stdout and stderr in files.

    `framework` is `fastapi`, `litestar`, or `fastapi-native`: the FastAPI app, its HTTP traced by FastAPI's own
    telemetry.
    """

    framework: str
    directory: Path
    env: Mapping[str, str]
    port: int = field(default_factory=free_port)
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None
    shutdown_seconds: float | None = None
    return_code: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the service was not started"
        return self.process.pid

    def start(self) -> Self:
        """Start the process and wait until GET /health/ready answers 200."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "stdout.log").open("wb") as out, (self.directory / "stderr.log").open("wb") as err:
            self.process = subprocess.Popen(
                [
                    *(str(CONSOLE_SCRIPT), "serve", "--framework", framework_name(self.framework)),
                    *("--port", str(self.port), "--workers", str(self.workers)),
                ],
                env={
                    **self.env,
                    **({"FASTAPI_HTTP_TELEMETRY": "native"} if self.framework == "fastapi-native" else {}),
                },
                stdout=out,
                stderr=err,
                cwd=self.directory,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.base_url}/health/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"the service was not ready within {STARTUP_SECONDS} s\n{self.output()}")

    def worker_pids(self) -> set[int]:
        """The pids of the worker processes uvicorn's supervisor runs (none with one worker, which is the process)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return {int(child) for child in children if b"spawn_main" in _cmdline(int(child))}

    def rss_kib(self) -> int:
        """The process's resident set size (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc/<pid>/status")

    def terminate(self, timeout_s: float) -> int | None:
        """SIGTERM, then wait up to `timeout_s`; the exit status (None: still running), the time kept."""
        assert self.process is not None, "the service was not started"
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.return_code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        self.shutdown_seconds = time.monotonic() - started
        return self.return_code

    def kill(self) -> None:
        """Make sure the process and its workers are gone (for `finally`)."""
        if self.process is None:
            return
        # Workers outlive a supervisor killed with SIGKILL: kill the session the process leads, them included.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stdout(self) -> str:
        return (self.directory / "stdout.log").read_text(errors="replace")

    def stderr(self) -> str:
        return (self.directory / "stderr.log").read_text(errors="replace")

    def output(self) -> str:
        """stdout and stderr, for assertion messages (the tail only)."""
        return f"--- stdout ---\n{self.stdout()[-4000:]}\n--- stderr ---\n{self.stderr()[-4000:]}"
