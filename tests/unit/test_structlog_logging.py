"""The structlog adapter: one JSON object a line, the level honoured early, trace ids at emit time, stdlib too."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from adapters.otel import OtelTracing
from adapters.structlog_logging import StructlogLogging, configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_records_below_the_level_are_dropped_and_others_carry_the_span(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="info", service_name="svc")
    tracing = OtelTracing(TracerProvider())
    with tracing.span("resource.get"):
        ids = tracing.current_ids()
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
    assert record["exception"]["type"] == "ValueError"
    assert "line two" in record["exception"]["stack"]
