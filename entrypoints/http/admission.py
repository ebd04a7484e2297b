"""Admission control: a bound on the requests a worker serves at once, and on how long one waits for a slot.

Beyond the bound a request is answered at once: 503, the `overloaded` problem, and `Retry-After`. Answered, not
queued without end: past its capacity a server that lets every request wait serves each one later than its
client waits, and does the work of requests nobody is waiting for any more. Refusing in microseconds keeps the
requests it admits near their latency at calm load.

`AdmissionGate` is the bound, framework-neutral; `AdmissionControl` is the ASGI middleware both apps put inside
their HTTP instrumentation (so a refusal has its server span and its `http.server.request.duration` point,
status 503) and in front of their handlers' dependency work (FastAPI's before its routing too, Litestar's once it
has routed the request), so that a refusal costs next to nothing. The health
probes and the docs page are never refused: `/health/live` answers during a storm, and `/health/ready` says
what the database says, not whether this worker sheds load (a readiness that failed under load would take
every replica out of the balancer together, and their load with it onto none).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

from core.semantic_conventions import ShedReason
from entrypoints.http.docs_page import DOCS_PATH, OPENAPI_PATH
from entrypoints.http.problems import PROBLEM_MEDIA_TYPE, overloaded_problem
from entrypoints.settings import AdmissionSettings

# Never refused: the probes, and the docs page (its files below it) with the document it shows.
_ALWAYS_ADMITTED: Final = ("/health/", DOCS_PATH, OPENAPI_PATH)


class AdmissionGate:
    """Slots for `max_concurrency` requests; a request that finds none waits in line, first come first served.

    Single event loop, no lock: every change happens between two awaits. A slot freed goes straight to the first
    request still waiting, so a newcomer never overtakes the line.
    """

    def __init__(self, settings: AdmissionSettings, on_shed: Callable[[ShedReason], None]) -> None:
        self._limit = settings.max_concurrency
        self._max_waiting = settings.max_waiting
        self._max_wait_s = settings.max_wait_s
        self._on_shed = on_shed
        self._line: deque[asyncio.Future[None]] = deque()
        self.in_flight = 0
        self.waiting = 0

    @property
    def limit(self) -> int:
        return self._limit

    async def enter(self) -> ShedReason | None:
        """Take a slot, waiting for one if need be; None once admitted, else why the request is refused."""
        if self.in_flight < self._limit and not self.waiting:
            self.in_flight += 1
            return None
        if self.waiting >= self._max_waiting:
            return self._shed("queue_full")
        slot = asyncio.get_running_loop().create_future()
        self._line.append(slot)
        self.waiting += 1
        try:
            async with asyncio.timeout(self._max_wait_s):
                await slot
        except TimeoutError:
            # The timeout can fire after a slot was handed over but before this request resumed: take it.
            if slot.done() and not slot.cancelled():
                return None
            slot.cancel()
            return self._shed("wait_timeout")
        except BaseException:
            # The client went away (the task was cancelled): hand on a slot it was given, or leave the line.
            if slot.done() and not slot.cancelled():
                self.leave()
            slot.cancel()
            raise
        finally:
            self.waiting -= 1
        return None

    def leave(self) -> None:
        """Give the slot back: to the first request still waiting, or to the pool."""
        while self._line:
            slot = self._line.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.in_flight -= 1

    def _shed(self, reason: ShedReason) -> ShedReason:
        self._on_shed(reason)
        return reason


class AdmissionControl:
    """ASGI middleware: each HTTP request through the gate, or answered 503 `overloaded` with `Retry-After`."""

    def __init__(self, app: ASGIApp, gate: AdmissionGate, retry_after_s: int) -> None:
        self.app = app
        self._gate = gate
        # Built once: a refusal only sends them.
        self._refusal_body = msgspec.json.encode(overloaded_problem(retry_after_s))
        self._refusal_headers = (
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(self._refusal_body)).encode()),
            (b"retry-after", str(retry_after_s).encode()),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_ALWAYS_ADMITTED):
            await self.app(scope, receive, send)
            return
        if await self._gate.enter() is not None:
            # A new list: a middleware outside may add to the headers it is sent.
            await send({"type": "http.response.start", "status": 503, "headers": list(self._refusal_headers)})
            await send({"type": "http.response.body", "body": self._refusal_body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._gate.leave()
