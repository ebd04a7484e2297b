"""Open-loop pacing: requests leave at the configured rate whatever the answers, round robin over the targets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from entrypoints.traffic.mix import Call, Mix
from entrypoints.traffic.stats import NO_ANSWER, Outcome, TargetSummary, TrafficProgress, TrafficSummary
from entrypoints.traffic.world import World

# Where the compose stack publishes the FastAPI app and the Litestar app.
DEFAULT_TARGETS = ("http://localhost:8001", "http://localhost:8002")

Progress = Callable[[TrafficProgress], None]


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    """What to drive and how hard; `duration` 0 runs until `stop` is set."""

    targets: tuple[str, ...] = DEFAULT_TARGETS
    rate: float = 20.0
    duration: float = 60.0
    error_ratio: float = 0.1
    seed: int | None = None
    concurrency: int = 64
    timeout: float = 10.0
    progress_interval: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "at least one target is needed": bool(self.targets),
            "rate must be a finite number above 0": math.isfinite(self.rate) and self.rate > 0,
            "duration must be 0 or more": math.isfinite(self.duration) and self.duration >= 0,
            "error_ratio must be between 0 and 1": 0 <= self.error_ratio <= 1,
            "concurrency must be 1 or more": self.concurrency >= 1,
            "timeout must be above 0": self.timeout > 0,
            "progress_interval must be above 0": self.progress_interval > 0,
        }
        wrong = [message for message, right in checks.items() if not right]
        if wrong:
            raise ValueError("; ".join(wrong))


@dataclass
class _Target:
    """One target's client, world and tally."""

    client: httpx.AsyncClient
    world: World
    mix: Mix
    summary: TargetSummary

    async def send(self, call: Call) -> None:
        started = time.perf_counter()
        try:
            response = await self.client.request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                content=call.raw_json,
                headers={"content-type": "application/json"} if call.raw_json is not None else None,
            )
        except httpx.HTTPError as exc:
            self._settle(call, NO_ANSWER, None, f"{call.method} {call.path}: no answer ({type(exc).__name__})")
            return
        latency = time.perf_counter() - started
        if response.status_code != call.expected:
            wrong_status = f"{call.method} {call.path}: {response.status_code}, expected {call.expected}"
            self._settle(call, response.status_code, latency, wrong_status)
            return
        try:
            wrong = call.apply(response)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            wrong = f"unreadable answer ({type(exc).__name__})"
        self._settle(call, response.status_code, latency, wrong and f"{call.method} {call.path}: {wrong}")

    def _settle(self, call: Call, status: int, latency: float | None, fault: str | None) -> None:
        if call.cluster is not None:
            self.world.release(call.cluster, known=fault is None)
        outcome: Outcome = "unexpected" if fault else ("ok" if call.expected < 400 else "expected error")
        self.summary.record(call.kind, status, outcome, latency, fault)


@dataclass
class _Run:
    """The state of one run: its targets, the random source of the mix, and how many requests were skipped."""

    config: TrafficConfig
    targets: list[_Target]
    rng: random.Random
    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    skipped: int = 0
    sending_seconds: float = 0.0

    def progress(self) -> TrafficProgress:
        answered: Counter[Outcome] = Counter()
        for target in self.targets:
            answered.update(target.summary.outcomes)
        return TrafficProgress(time.monotonic() - self.started, self.sent, answered, self.skipped)

    def summary(self) -> TrafficSummary:
        targets = tuple(target.summary for target in self.targets)
        return TrafficSummary(targets, self.sending_seconds, time.monotonic() - self.started, self.skipped)


async def _wait_until(due: float, stop: asyncio.Event) -> bool:
    """Sleep until the monotonic time `due`; True when `stop` was set first."""
    delay = due - time.monotonic()
    if delay > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return stop.is_set()


async def _pace(run: _Run, stop: asyncio.Event) -> None:
    """Send request n at `started + n / rate`; when `concurrency` requests are in flight, skip it instead."""
    config = run.config
    in_flight = asyncio.Semaphore(config.concurrency)

    async def send(target: _Target, call: Call) -> None:
        try:
            await target.send(call)
        finally:
            in_flight.release()

    async with asyncio.TaskGroup() as group:
        for n in itertools.count():
            due = n / config.rate
            if await _wait_until(run.started + due, stop) or (config.duration and due >= config.duration):
                break
            if in_flight.locked():
                run.skipped += 1
                continue
            await in_flight.acquire()
            target = run.targets[n % len(run.targets)]
            group.create_task(send(target, target.mix.next_call(target.world, run.rng)))
            run.sent += 1
        run.sending_seconds = time.monotonic() - run.started


async def _report(run: _Run, progress: Progress) -> None:
    while True:
        await asyncio.sleep(run.config.progress_interval)
        progress(run.progress())


async def run_traffic(
    config: TrafficConfig,
    progress: Progress | None = None,
    *,
    stop: asyncio.Event | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> TrafficSummary:
    """Drive every target at `config.rate` requests/s in all until `config.duration` passes or `stop` is set.

    `progress` is called every `config.progress_interval` seconds; `transports` replaces the network for the
    targets it names (an in-process app, in tests).
    """
    token = secrets.token_hex(3)
    limits = httpx.Limits(max_connections=config.concurrency)
    targets = [
        _Target(
            httpx.AsyncClient(
                base_url=url, timeout=config.timeout, limits=limits, transport=(transports or {}).get(url)
            ),
            World(f"{token}{i}"),
            Mix(config.error_ratio),
            TargetSummary(url),
        )
        for i, url in enumerate(config.targets)
    ]
    run = _Run(config, targets, random.Random(config.seed))
    async with contextlib.AsyncExitStack() as stack:
        for target in targets:
            await stack.enter_async_context(target.client)
        reporter = asyncio.create_task(_report(run, progress)) if progress else None
        try:
            await _pace(run, stop or asyncio.Event())
        finally:
            if reporter is not None:
                reporter.cancel()
    return run.summary()
