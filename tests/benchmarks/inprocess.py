"""Suite 1: what observability costs per request, in process: each app driven through raw ASGI calls, no sockets.

Every (framework, configuration) pair has its own runtime over its own in-memory store (a database's own
time and its thread hand-offs would bury a few microseconds in noise) and receives the same requests. Time is
the process's CPU time, exporter threads included: on a shared machine, waiting for a CPU is not a cost.
Repetitions interleave the pairs (the order rotates each time), so drift falls on all of them alike; ratios
and added microseconds are taken pair-wise within each repetition.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from uuid import UUID

import msgspec

from adapters.memory.repository import InMemoryUnitOfWork
from adapters.otel.providers import OtelProviders
from core.model import ResourceDraft
from entrypoints.bootstrap import Runtime

from .configurations import (
    CONFIGURATIONS_OF,
    FRAMEWORKS,
    Configuration,
    Framework,
    app_for,
    runtime_for,
)
from .measure import FULL_REPETITIONS, SMOKE_REPETITIONS, Row, Spread, target
from .sink import OtlpSink

Operation = Literal["create", "get", "search", "delete_cascade"]
OPERATIONS: Final[tuple[Operation, ...]] = ("create", "get", "search", "delete_cascade")
FULL_CALLS: Final = 200
SMOKE_CALLS: Final = 5
NOOP_LIMIT: Final = 1.02
OTEL_ADDED_LIMIT_US: Final = 60.0
_EXPECTED_STATUS: Final[dict[Operation, int]] = {"create": 201, "get": 200, "search": 200, "delete_cascade": 200}


async def asgi_call(app: Any, method: str, path: str, query: str = "", body: bytes = b"") -> int:
    """Send one HTTP request straight into `app`; the response's status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    body_sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if body_sent:
            return {"type": "http.disconnect"}
        body_sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


@dataclass
class Subject:
    """One framework's app in one configuration, with the resources its requests use."""

    framework: Framework
    configuration: Configuration
    runtime: Runtime
    app: Any
    seed: UUID | None = None
    names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def key(self) -> str:
        return f"{self.framework}/{self.configuration}"

    async def prepare(self, resources: int) -> None:
        """Resources for `get` and `search`: one with two dependencies, among `resources` named seed-*."""
        service = self.runtime.service
        ids = [(await service.create(ResourceDraft(f"seed-{index}", "seed"))).id for index in range(resources)]
        self.seed = (await service.create(ResourceDraft("seed-with-dependencies", "seed", tuple(ids[:2])))).id

    async def roots_to_cascade(self, count: int) -> list[UUID]:
        """`count` resources with two dependents each, created outside the timing."""
        service = self.runtime.service
        roots = []
        for _ in range(count):
            root = await service.create(ResourceDraft(f"root-{next(self.names)}", ""))
            for _child in range(2):
                await service.create(ResourceDraft(f"child-{next(self.names)}", "", (root.id,)))
            roots.append(root.id)
        return roots

    async def timed_batch(self, operation: Operation, calls: int) -> float:
        """CPU microseconds of this process (every thread: the exporters' too) per request of `operation`.

        The batch ends with the spans and log records it emitted exported: their encoding is part of its cost.
        """
        requests = await self.requests(operation, calls)
        expected = _EXPECTED_STATUS[operation]
        started = time.process_time()
        for method, path, query, body in requests:
            status = await asgi_call(self.app, method, path, query, body)
            if status != expected:
                raise AssertionError(f"{self.key} {method} {path}?{query} answered {status}, expected {expected}")
        self.flush()
        return (time.process_time() - started) / calls * 1e6

    def flush(self) -> None:
        """Export the spans and log records still queued, if this subject has SDK providers."""
        providers = self.runtime.telemetry_handle.providers
        if providers is not None:
            flush_spans_and_logs(providers)

    async def requests(self, operation: Operation, calls: int) -> list[tuple[str, str, str, bytes]]:
        """`calls` requests of `operation` (method, path, query, body); a cascade's resources are made first."""
        if operation == "create":
            return [
                ("POST", "/resources", "", msgspec.json.encode({"name": f"new-{next(self.names)}", "description": ""}))
                for _ in range(calls)
            ]
        if operation == "get":
            return [("GET", f"/resources/{self.seed}", "", b"")] * calls
        if operation == "search":
            return [("GET", "/resources/search", "q=seed&limit=10", b"")] * calls
        return [("DELETE", f"/resources/{root}", "cascade=true", b"") for root in await self.roots_to_cascade(calls)]


def flush_spans_and_logs(providers: OtelProviders) -> None:
    """Export the spans and log records the providers' batch processors still hold (metrics are periodic)."""
    providers.tracer_provider.force_flush()
    providers.logger_provider.force_flush()


@contextmanager
def otlp_endpoint(endpoint: str) -> Iterator[None]:
    previous = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    try:
        yield
    finally:
        if previous is None:
            del os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
        else:
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = previous


async def run(*, smoke: bool) -> dict[str, Any]:
    """Every framework in every configuration, each operation; rows and targets."""
    repetitions, calls = (SMOKE_REPETITIONS, SMOKE_CALLS) if smoke else (FULL_REPETITIONS, FULL_CALLS)
    with OtlpSink() as sink, otlp_endpoint(sink.endpoint):
        subjects = [
            _subject(framework, configuration)
            for framework in FRAMEWORKS
            for configuration in CONFIGURATIONS_OF[framework]
        ]
        try:
            for subject in subjects:
                await subject.runtime.start()
                await subject.prepare(calls)
            samples = await _measure(subjects, repetitions, calls)
        finally:
            for subject in subjects:
                await subject.runtime.stop()
    rows = _rows(samples)
    return {"calls_per_batch": calls, "store": "memory", "rows": rows, "targets": _targets(rows)}


def _subject(framework: Framework, configuration: Configuration) -> Subject:
    runtime = runtime_for(configuration, framework, InMemoryUnitOfWork())
    return Subject(framework, configuration, runtime, app_for(framework, runtime))


Samples = dict[tuple[Framework, Operation, Configuration], list[float]]


async def _measure(subjects: list[Subject], repetitions: int, calls: int) -> Samples:
    for subject in subjects:  # warm-up: caches, lazily built routes, the first SQL compilations
        for operation in OPERATIONS:
            await subject.timed_batch(operation, calls)
    samples: Samples = {}
    for repetition in range(repetitions):
        shift = repetition % len(subjects)
        for operation in OPERATIONS:
            for subject in subjects[shift:] + subjects[:shift]:
                key = (subject.framework, operation, subject.configuration)
                samples.setdefault(key, []).append(await subject.timed_batch(operation, calls))
    return samples


def _rows(samples: Samples) -> list[Row]:
    rows = []
    for framework in FRAMEWORKS:
        for operation in OPERATIONS:
            bare = samples[(framework, operation, "bare")]
            noop = samples[(framework, operation, "noop")]
            for configuration in CONFIGURATIONS_OF[framework]:
                own = samples[(framework, operation, configuration)]
                rows.append(
                    {
                        "framework": framework,
                        "operation": operation,
                        "configuration": configuration,
                        "us_per_request": Spread.of(own).as_json(),
                        "added_us_vs_noop": Spread.of([o - n for o, n in zip(own, noop, strict=True)]).as_json(),
                        "ratio_to_noop": Spread.of([o / n for o, n in zip(own, noop, strict=True)]).as_json(),
                        "ratio_to_bare": Spread.of([o / b for o, b in zip(own, bare, strict=True)]).as_json(),
                    }
                )
    return rows


def _targets(rows: list[Row]) -> list[Row]:
    targets = []
    for row in rows:
        subject = f"{row['framework']} {row['operation']}"
        if row["configuration"] == "noop":
            ratio = row["ratio_to_bare"]["median"]
            targets.append(target(f"no-op within 2 % of bare: {subject}", ratio, NOOP_LIMIT, unit="x"))
        if row["configuration"] in ("otel", "otel-native"):
            added = row["added_us_vs_noop"]["median"]
            targets.append(
                target(
                    f"OpenTelemetry ({row['configuration']}) adds at most 60 us: {subject}",
                    added,
                    OTEL_ADDED_LIMIT_US,
                    unit="us",
                )
            )
    return targets
