"""The `resource-service` command: serve the API with FastAPI or Litestar under uvicorn, migrate its database."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

import uvicorn

from adapters.structlog import configure_logging
from entrypoints import db_command, traffic
from entrypoints.settings import Settings, SettingsError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from litestar import Litestar

App = TypeVar("App")
APP_FACTORIES = {
    "fastapi": "entrypoints.cli:served_fastapi_app",
    "litestar": "entrypoints.cli:served_litestar_app",
}
# With several workers, uvicorn's supervisor pings each one over a pipe and replaces any that has not answered
# within this time. Its default, 5 s, is shorter than a worker's start (a fresh interpreter importing the service,
# then migrating) on a busy two-core machine or a CPU-throttled container: seen in CI, a healthy worker replaced
# while it started. A worker hung for this long is still replaced, and so, as late, is one that dies while the
# supervisor waits on its answer.
WORKER_HEALTHCHECK_TIMEOUT_S = 30


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resource-service",
        description="A resource dependency-graph API, served by FastAPI or Litestar. "
        "DATABASE_URL picks the database (default: an SQLite file, resources.db).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--framework", choices=sorted(APP_FACTORIES), default="fastapi", help="default: fastapi")
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="default: 8000")
    serve.add_argument(
        "--workers",
        type=_positive,
        help="worker processes, each serving requests (default: $WEB_CONCURRENCY, else 1); a dead worker is replaced",
    )
    traffic.add_arguments(
        commands.add_parser(
            "traffic",
            help="drive running services with a realistic mix of requests, mistakes included",
            description="Drive running services with a realistic mix of requests (creates, reads, lists, searches, "
            "updates, deletes, cascades) and deliberate mistakes, showing live progress and a summary. "
            "Exits 1 when any answer is not the one expected (a 5xx, no answer, a wrong status).",
        )
    )
    db_command.add_arguments(
        commands.add_parser(
            "db",
            help="migrate the database schema: upgrade, downgrade, current, history, revision, check",
            description=db_command.DESCRIPTION,
        )
    )
    return parser


def served_fastapi_app() -> FastAPI:
    """The FastAPI app as `serve` runs it, in a process of its own."""
    from entrypoints.fastapi_app import create_app

    return _long_lived(create_app())


def served_litestar_app() -> Litestar:
    """The Litestar app as `serve` runs it, in a process of its own."""
    from entrypoints.litestar_app import create_app

    return _long_lived(create_app())


def _long_lived(app: App) -> App:
    """Move what the process holds once the app is built out of the garbage collector's full passes."""
    # Modules, classes and the app live as long as the server. Left tracked, every full collection walks all of
    # them, and full collections run often once telemetry piles up behind an unreachable collector: measured,
    # p99 of 800 paced creates on SQLite 60 ms (collector up) and 104 ms (collector down) before, 25-48 ms after.
    gc.collect()
    gc.freeze()
    return app


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _stopped(_signal: int, _frame: FrameType | None) -> None:
    """A stop that was asked for: by the time uvicorn passes the signal on, it has shut down gracefully."""
    # Requests are answered, connections closed and telemetry flushed within its budget: the collection of the
    # whole heap at interpreter exit would only add seconds (measured: 2 s after a load) past that budget.
    gc.freeze()
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "traffic":
        return traffic.run_command(args)
    if args.command == "db":
        return db_command.run_command(args)
    if args.workers is not None:
        # Each worker builds its own settings from the environment: this is how it learns how many there are.
        os.environ["WEB_CONCURRENCY"] = str(args.workers)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"resource-service: {exc}", file=sys.stderr)
        return 2
    refusal = db_command.refusal_to_serve(settings)
    if refusal:
        print(f"resource-service: {refusal}", file=sys.stderr)
        return 1
    if settings.workers > 1:
        # The supervisor runs no app; its own lines (workers started, died, replaced) join the service's log.
        telemetry = settings.telemetry
        configure_logging(
            level=telemetry.log_level, log_format=telemetry.log_format, service_name=telemetry.service_name
        )
    # uvicorn re-raises the signal that stopped it once shutdown is complete; a stop asked for is a success.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _stopped)
    uvicorn.run(
        APP_FACTORIES[args.framework],
        factory=True,
        host=args.host,
        port=args.port,
        workers=settings.workers,
        lifespan="on",
        # After SIGTERM, requests in flight get this long to finish; then they are cancelled and shutdown goes on.
        timeout_graceful_shutdown=settings.shutdown_drain_s,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
        # One line per request, not two: an operation's operation.completed or .failed record says what uvicorn's
        # access line would (and its duration, outcome and trace), and the HTTP metrics count every request.
        access_log=False,
        # The app's composition root sends uvicorn's records through the service's JSON log pipeline.
        log_config=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
