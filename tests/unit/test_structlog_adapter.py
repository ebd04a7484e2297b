"""The structlog adapter: one JSON object a line, the level honoured early, trace ids at emit time, stdlib too.

structlog's records are written without the `logging` bridge, through the same handler: these tests also check
that both sources share its stream and lock, its OTLP export and its failure handling.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from adapters.otel import OtelTracing
from adapters.structlog import StructlogLogging, UtcTimestamp, add_timestamp, configure_logging
from core.errors import StorageError


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    structlog_config = structlog.get_config()
    yield
    root.handlers, root.level = handlers, level
    structlog.configure(**structlog_config)


@dataclass(frozen=True)
class SpanIds:
    trace_id: str
    span_id: str


def current_span_ids() -> SpanIds | None:
    """The current span's ids as the OpenTelemetry API gives them, lower-case hex, if a span is recording."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return SpanIds(trace.format_trace_id(span_context.trace_id), trace.format_span_id(span_context.span_id))


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_records_below_the_level_are_dropped_and_others_carry_the_span(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="info", service_name="svc")
    tracing = OtelTracing(TracerProvider())
    with tracing.span("resource.get"):
        ids = current_span_ids()
        StructlogLogging().operation_started("get", {"resource_id": "r"})
        StructlogLogging().operation_completed("get", 1.5, {"resource_id": "r"})
    [record] = _lines(capsys)
    assert ids is not None
    assert (record["event"], record["level"], record["service.name"]) == ("operation.completed", "info", "svc")
    assert (record["trace_id"], record["span_id"]) == (ids.trace_id, ids.span_id)
    assert record["timestamp"].endswith("Z")


@pytest.mark.usefixtures("restore_logging")
def test_standard_logging_records_take_the_same_shape(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="debug")
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("request failed")
    [record] = _lines(capsys)
    assert (record["event"], record["logger"], record["level"]) == ("request failed", "uvicorn.error", "error")
    assert record["exception.type"] == "ValueError"
    assert "line two" in record["exception.stacktrace"]


@pytest.mark.usefixtures("restore_logging")
def test_a_failure_is_logged_under_the_exception_conventions_names(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="info")
    try:
        raise StorageError("the database failed")
    except StorageError as exc:
        StructlogLogging().operation_failed("get", 2.0, "database", exc, {})
    [record] = _lines(capsys)
    assert "exception" not in record
    assert record["exception.type"] == "core.errors.StorageError"
    assert record["exception.message"] == "the database failed"
    assert record["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert "core.errors.StorageError: the database failed" in record["exception.stacktrace"]


class _SplittingStream(io.StringIO):
    """Takes each write in two halves with a thread switch between, as a pipe can take a long line in parts."""

    def write(self, text: str) -> int:
        half = len(text) // 2
        super().write(text[:half])
        time.sleep(0)
        return super().write(text[half:]) + half


@pytest.mark.usefixtures("restore_logging")
def test_lines_of_both_sources_never_interleave(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _SplittingStream()
    monkeypatch.setattr(sys, "stdout", stream)
    configure_logging(level="info")
    operations, uvicorn = StructlogLogging(), logging.getLogger("uvicorn.access")

    def from_structlog() -> None:
        for _ in range(300):
            operations.operation_completed("get", 1.0, {"resource_id": "r"})

    def from_stdlib() -> None:
        for _ in range(300):
            uvicorn.info("GET /resources 200")

    threads = [threading.Thread(target=from_structlog), threading.Thread(target=from_stdlib)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loggers = [json.loads(line)["logger"] for line in stream.getvalue().splitlines()]
    assert sorted(loggers) == ["resource_service.operations"] * 300 + ["uvicorn.access"] * 300


@pytest.mark.usefixtures("restore_logging")
def test_structlog_lines_follow_the_handler_to_a_new_stream(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="info")
    operations = StructlogLogging()
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    moved = io.StringIO()
    handler.setStream(moved)
    operations.operation_completed("get", 1.0, {})
    assert capsys.readouterr().out == ""
    assert json.loads(moved.getvalue())["event"] == "operation.completed"


@pytest.mark.usefixtures("restore_logging")
def test_both_sources_are_exported_over_otlp_in_their_trace_context(capsys: pytest.CaptureFixture[str]) -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    configure_logging(level="info", logger_provider=provider)
    tracing = OtelTracing(TracerProvider())
    with tracing.span("resource.get"):
        ids = current_span_ids()
        StructlogLogging().operation_failed("get", 2.0, "not_found", LookupError("no such resource"), {})
        logging.getLogger("uvicorn.error").error("request failed")
    structlog_record, stdlib_record = (exported.log_record for exported in exporter.get_finished_logs())
    assert ids is not None
    for record in (structlog_record, stdlib_record):
        assert (f"{record.trace_id:032x}", f"{record.span_id:016x}") == (ids.trace_id, ids.span_id)
    assert (structlog_record.body, structlog_record.severity_text) == ("operation.failed", "WARNING")
    assert structlog_record.attributes is not None
    assert structlog_record.attributes["exception.type"] == "LookupError"
    assert structlog_record.attributes["error.type"] == "not_found"
    assert "exception.stacktrace" not in structlog_record.attributes
    assert (stdlib_record.body, stdlib_record.severity_text) == ("request failed", "ERROR")
    structlog_line, _stdlib_line = _lines(capsys)
    assert structlog_line["exception.type"] == "LookupError"
    assert structlog_line["exception.message"] == "no such resource"
    assert "exception.stacktrace" not in structlog_line


@pytest.mark.usefixtures("restore_logging")
def test_the_otlp_record_has_the_lines_time_its_event_name_and_exception(capsys: pytest.CaptureFixture[str]) -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    configure_logging(level="info", logger_provider=provider)
    try:
        raise StorageError("the database failed")
    except StorageError as exc:
        failure = exc
        StructlogLogging().operation_failed("get", 2.0, "database", exc, {})
    logging.getLogger("uvicorn.error").error("request failed")
    service_record, stdlib_record = (exported.log_record for exported in exporter.get_finished_logs())
    service_line, stdlib_line = _lines(capsys)
    for record, line in ((service_record, service_line), (stdlib_record, stdlib_line)):
        since_epoch = datetime.fromisoformat(line["timestamp"]) - datetime(1970, 1, 1, tzinfo=UTC)
        assert record.timestamp == since_epoch // timedelta(microseconds=1) * 1000
    assert (service_record.event_name, stdlib_record.event_name) == ("operation.failed", None)
    assert service_record.exception is failure
    assert service_record.attributes is not None
    exception_fields = ("exception.type", "exception.message", "exception.stacktrace")
    assert {field: service_record.attributes[field] for field in exception_fields} == {
        field: service_line[field] for field in exception_fields
    }
    assert service_line["exception.type"] == "core.errors.StorageError"


@pytest.mark.usefixtures("restore_logging")
def test_the_console_format_writes_readable_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="debug", log_format="console")
    StructlogLogging().operation_started("get", {})
    logging.getLogger("uvicorn.error").info("server started")
    started, server = capsys.readouterr().out.splitlines()
    assert "operation.started" in started
    assert not started.startswith("{")
    assert "server started" in server


@pytest.mark.usefixtures("restore_logging")
def test_a_failed_write_is_reported_on_stderr_and_never_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    broken, stderr = io.StringIO(), io.StringIO()
    broken.close()
    monkeypatch.setattr(sys, "stdout", broken)
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging(level="info")
    StructlogLogging().operation_completed("get", 1.0, {})
    assert "ValueError: I/O operation on closed file" in stderr.getvalue()


def test_timestamps_are_rfc3339_utc_with_microseconds_across_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = UtcTimestamp()
    nanoseconds = iter([1_700_000_000_000_000_000, 1_700_000_001_500_000_000, 1_700_000_001_000_042_000])
    monkeypatch.setattr(time, "time_ns", lambda: next(nanoseconds))
    stamps = [stamp(None, "info", add_timestamp(None, "info", {}))["timestamp"] for _ in range(3)]
    monkeypatch.undo()
    assert stamps == ["2023-11-14T22:13:20.000000Z", "2023-11-14T22:13:21.500000Z", "2023-11-14T22:13:21.000042Z"]
    now = stamp(None, "info", add_timestamp(None, "info", {}))["timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", now)
