"""`resource-service traffic`: the generator's options, its live progress line and its summary."""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
from typing import TextIO

import httpx

from entrypoints.traffic.report import progress_line, summary_text
from entrypoints.traffic.runner import DEFAULT_TARGETS, TrafficConfig, run_traffic
from entrypoints.traffic.stats import TrafficProgress, TrafficSummary

# Seconds between progress lines: refreshed in place on a terminal, appended to a log otherwise.
TTY_PROGRESS_INTERVAL = 0.5
LOG_PROGRESS_INTERVAL = 5.0


def _number(text: str, *, minimum: float, maximum: float = math.inf, above: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < minimum or (above and value == minimum) or value > maximum:
        bounds = f"above {minimum:g}" if above else f"at least {minimum:g}"
        if math.isfinite(maximum):
            bounds += f" and at most {maximum:g}"
        raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
    return value


def _rate(text: str) -> float:
    return _number(text, minimum=0, above=True)


def _duration(text: str) -> float:
    return _number(text, minimum=0)


def _ratio(text: str) -> float:
    return _number(text, minimum=0, maximum=1)


def _concurrency(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text}")
    return int(text)


def _target(text: str) -> str:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        url = httpx.URL()
    if url.scheme not in ("http", "https") or not url.host:
        raise argparse.ArgumentTypeError(f"must be an http:// or https:// URL, got {text!r}")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `resource-service traffic`."""
    parser.add_argument(
        "--target",
        action="append",
        type=_target,
        metavar="URL",
        help="a service to drive; repeat for several (default: http://localhost:8001 and http://localhost:8002, "
        "the FastAPI and Litestar apps as the compose file in ops/ publishes them)",
    )
    parser.add_argument(
        "--rate", type=_rate, metavar="N", default=20.0, help="requests per second over all targets (default: 20)"
    )
    parser.add_argument(
        "--duration", type=_duration, metavar="S", default=60.0, help="seconds; 0 runs until Ctrl-C (default: 60)"
    )
    parser.add_argument(
        "--error-ratio",
        type=_ratio,
        metavar="R",
        default=0.1,
        help="share of deliberate mistakes, 0 to 1: invalid bodies, unknown ids, cycles, deletes of resources "
        "with dependents, duplicate names (default: 0.1)",
    )
    parser.add_argument("--seed", type=int, help="seed of the request mix, to repeat a run")
    parser.add_argument(
        "--concurrency",
        type=_concurrency,
        metavar="N",
        default=64,
        help="requests in flight at most; more are skipped (default: 64)",
    )


class _ProgressPrinter:
    """One line refreshed in place on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self.interval = TTY_PROGRESS_INTERVAL if self._live else LOG_PROGRESS_INTERVAL

    def __call__(self, progress: TrafficProgress) -> None:
        line = progress_line(progress)
        self._stream.write(f"\r\x1b[2K{line}" if self._live else f"{line}\n")
        self._stream.flush()

    def finish(self) -> None:
        if self._live:
            self._stream.write("\n")


async def _until_stopped(config: TrafficConfig, progress: _ProgressPrinter) -> TrafficSummary:
    """Run `config`; Ctrl-C or SIGTERM ends it early, with the summary of what was sent."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, stop.set)
    try:
        return await run_traffic(config, progress, stop=stop)
    finally:
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(stop_signal)


def run_command(args: argparse.Namespace) -> int:
    """Run the generator as `args` say and print its summary; 1 when any answer was not the one expected."""
    progress = _ProgressPrinter(sys.stderr)
    config = TrafficConfig(
        targets=tuple(args.target or DEFAULT_TARGETS),
        rate=args.rate,
        duration=args.duration,
        error_ratio=args.error_ratio,
        seed=args.seed,
        concurrency=args.concurrency,
        progress_interval=progress.interval,
    )
    summary = asyncio.run(_until_stopped(config, progress))
    progress.finish()
    print(summary_text(summary))
    return 1 if summary.unexpected else 0
