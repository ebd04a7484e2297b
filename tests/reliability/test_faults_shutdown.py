"""SIGTERM under load: requests in flight are answered, telemetry is flushed within its budget, the exit code is 0.

One request is deliberately in flight when the signal arrives: its headers and half its body are sent before
SIGTERM, the rest after, so the server has started it and must finish it. The batch processors and the metric
reader are set to export only every 30 s, so what the receiver holds at the end was flushed by the shutdown.
Run with `-s` for the figures.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from core.semantic_conventions import LOG_RESOURCE_ID, OPERATIONS_TOTAL, SPAN_RESOURCE_ID

from .servers import HOST, HttpReceiver, ServiceProcess, Traffic, keep_writing, service_environment

WRITERS = 8
PAUSE_S = 0.01
SIGTERM_AFTER_S = 2.0
HEADERS_FIRST_S = 0.3
IN_FLIGHT_FOR_S = 0.5
SHUTDOWN_BUDGET_S = 5.0
SHUTDOWN_MARGIN_S = 3.0
NEVER_S = "30000"  # milliseconds: no periodic export happens during the test


class SlowRequest:
    """A POST /resources over a raw socket: headers and half the body now, the rest when `finish` is called."""

    def __init__(self, port: int, name: str) -> None:
        body = json.dumps({"name": name, "description": "in flight when SIGTERM arrived"}).encode()
        head = (
            f"POST /resources HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self._rest = body[len(body) // 2 :]
        self._socket = socket.create_connection((HOST, port), timeout=30)
        self._socket.sendall(head + body[: len(body) // 2])

    def finish(self) -> tuple[int, dict[str, object]]:
        """Send the rest of the body; the status and the JSON body of the answer."""
        with self._socket:
            self._socket.sendall(self._rest)
            received = b""
            while chunk := self._socket.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, json.loads(body) if body else {}


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as started:
        yield started


def _service(framework: str, receiver: HttpReceiver, directory: Path) -> ServiceProcess:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": NEVER_S,
        "OTEL_BLRP_SCHEDULE_DELAY": NEVER_S,
        "OTEL_METRIC_EXPORT_INTERVAL": NEVER_S,
        "OBSERVABILITY_SHUTDOWN_TIMEOUT": str(int(SHUTDOWN_BUDGET_S)),
        "LOG_LEVEL": "info",
    }
    return ServiceProcess(
        framework, directory, service_environment(f"sqlite+aiosqlite:///{directory / 'db.sqlite'}", env)
    )


def _created_count(receiver: HttpReceiver) -> float:
    points = [p for p in receiver.received.metric_points() if p.name == OPERATIONS_TOTAL]
    return sum(p.value or 0.0 for p in points if p.attributes.get("operation") == "create")


@pytest.mark.parametrize("framework", ["fastapi", "litestar"])
async def test_sigterm_under_load_finishes_in_flight_requests_and_flushes(
    framework: str, receiver: HttpReceiver, tmp_path: Path
) -> None:
    service = _service(framework, receiver, tmp_path)
    traffic = Traffic()
    try:
        await asyncio.to_thread(service.start)
        load = asyncio.gather(*(keep_writing(traffic, service, PAUSE_S) for _ in range(WRITERS)))
        await asyncio.sleep(SIGTERM_AFTER_S - HEADERS_FIRST_S)
        slow = SlowRequest(service.port, f"in-flight-{uuid4().hex}")
        await asyncio.sleep(HEADERS_FIRST_S)
        sigterm_at = time.monotonic()
        stopping = asyncio.create_task(asyncio.to_thread(service.terminate, 30.0))
        await asyncio.sleep(IN_FLIGHT_FOR_S)
        status, created = await asyncio.to_thread(slow.finish)
        return_code = await stopping
        traffic.running = False
        await load
    finally:
        service.kill()
    before = [a for a in traffic.answers if a.sent < sigterm_at]
    after = [a for a in traffic.answers if a.sent >= sigterm_at]
    print(
        f"\n{framework}: {len(before)} requests sent before SIGTERM, {len(after)} after; in-flight request -> "
        f"{status}; exit {return_code} in {service.shutdown_seconds:.2f} s; flushed at shutdown: "
        f"{len(receiver.received.spans())} spans, {len(receiver.received.log_records())} log records"
    )

    assert status == 201, created
    assert return_code == 0, service.output()
    assert service.shutdown_seconds is not None
    assert service.shutdown_seconds <= IN_FLIGHT_FOR_S + SHUTDOWN_BUDGET_S + SHUTDOWN_MARGIN_S
    assert before, "no request was sent before SIGTERM"
    assert all(a.status == 201 for a in before), [a for a in before if a.status != 201][:5]
    assert not [a for a in after if a.status >= 500], "a request sent during the shutdown got a 5xx"
    spans = receiver.received.spans()
    assert any(span.attributes.get(SPAN_RESOURCE_ID) == created["id"] for span in spans), "in-flight span not flushed"
    assert any(r.attributes.get(LOG_RESOURCE_ID) == created["id"] for r in receiver.received.log_records())
    assert _created_count(receiver) == 1 + len(traffic.acknowledged)
    assert "Traceback" not in service.stderr(), service.output()


@pytest.mark.parametrize("framework", ["fastapi", "litestar"])
def test_a_request_that_never_completes_is_cancelled_after_the_drain(
    framework: str, receiver: HttpReceiver, tmp_path: Path
) -> None:
    drain_s = 1
    service = _service(framework, receiver, tmp_path)
    service.env = {**service.env, "SHUTDOWN_DRAIN_SECONDS": str(drain_s)}
    try:
        service.start()
        stuck = SlowRequest(service.port, f"never-finished-{uuid4().hex}")
        time.sleep(HEADERS_FIRST_S)
        return_code = service.terminate(30.0)
    finally:
        service.kill()
    del stuck
    assert return_code == 0, service.output()
    assert service.shutdown_seconds is not None
    assert drain_s <= service.shutdown_seconds <= drain_s + SHUTDOWN_BUDGET_S + SHUTDOWN_MARGIN_S, service.output()
