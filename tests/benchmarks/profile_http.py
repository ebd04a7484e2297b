"""Creates over HTTP under py-spy: a server of the floor suite on SQLite, loaded by wrk, and where its time goes.

    python -m tests.benchmarks.profile_http litestar 20 --output .benchmarks/create-litestar.txt

The server (`floor`, `fastapi` or `litestar`, observability off, as the floor suite runs it) is pinned to CPU 0,
wrk posts creates from CPU 1, and `py-spy record -r 250 -f raw --threads --pid ...` samples the server meanwhile.
Prints the requests per second and the microseconds per request each part took on the event loop's thread (a
sample goes to the part of its innermost frame that names one), and on the connection threads running
statements; py-spy needs to be installed (`pip install py-spy`).
"""

from __future__ import annotations

import argparse
import inspect
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import aiosqlite.core

from .floor_throughput import KINDS, Kind, Server, sqlite_copies
from .throughput import CREATE_SCRIPT, LOAD_CPU, parse_wrk

PY_SPY: Final = Path(sys.executable).with_name("py-spy")

SAMPLES_PER_S: Final = 250
# The parts of a request on the event loop's thread, each a pattern on a frame of py-spy's raw output
# ("function (path:line)"). A sample goes to the part of its innermost frame that matches one.
PARTS: Final[dict[str, str]] = {
    "aiosqlite hand-off (queue, future, wake-up)": r"\((aiosqlite|adapters/_compat/aiosqlite|concurrent/futures)",
    "SQLAlchemy Core (execute, result)": r"\(sqlalchemy/",
    "repository, unit of work, SQLite driver (adapters/)": r"\(adapters/",
    "service and instrumentation (core/, ports/)": r"\((core|ports)/",
    "JSON (msgspec)": r"\(msgspec",
    "the floor's handler (floor.py)": r"\(tests/benchmarks/floor",
    "the app's handlers and middleware (entrypoints/)": r"\(entrypoints/",
    "framework (routing, request, response)": r"\((litestar|fastapi|starlette)/",
    "HTTP server (uvicorn, httptools)": r"\((uvicorn|httptools)/",
    "event loop (asyncio, selectors)": r"\((asyncio|selectors)",
}
OTHER: Final = "other"
EVENT_LOOP_THREAD: Final = "MainThread"


def _queue_wait_frame() -> str:
    """The frame of aiosqlite's worker loop waiting on its queue, as py-spy names it."""
    lines, first = inspect.getsourcelines(aiosqlite.core._connection_worker_thread)
    line = first + next(index for index, text in enumerate(lines) if "tx.get()" in text)
    return f"_connection_worker_thread (aiosqlite/core.py:{line})"


_QUEUE_WAIT: Final = _queue_wait_frame()
RAW_LINE: Final = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")


def _part(frames: list[str]) -> str:
    for frame in reversed(frames):
        for part, pattern in PARTS.items():
            if re.search(pattern, frame):
                return part
    return OTHER


def microseconds_per_request(raw: str, requests: float) -> dict[str, float]:
    """The event loop thread's time per request in each part, and the connection threads' time in statements."""
    counted: Counter[str] = Counter()
    for line in raw.splitlines():
        match = RAW_LINE.match(line)
        if match is None:
            continue
        thread, *frames = match["stack"].split(";")
        if EVENT_LOOP_THREAD in thread:
            counted[_part(frames)] += int(match["count"])
        elif frames and frames[-1] != _QUEUE_WAIT:  # not aiosqlite's worker loop waiting for the next call
            counted["connection threads: statements (sqlite3)"] += int(match["count"])
    return {part: round(count / SAMPLES_PER_S / requests * 1e6, 1) for part, count in counted.most_common()}


def profile(kind: Kind, seconds: int, output: Path) -> float:
    """Profile `kind` under creates for `seconds`; the requests per second wrk saw."""
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        urls, seed_path = sqlite_copies(directory, 100, [kind])
        server = Server(kind, "sqlite", urls[kind], directory / kind, seed_path, {})
        server.start(pinned=True)
        try:
            server.wait_ready()
            assert server.process is not None
            script = directory / "create.lua"
            script.write_text(CREATE_SCRIPT)
            _wrk(server.base_url, 2, script, "warm")
            py_spy = [str(PY_SPY), "record", "-r", str(SAMPLES_PER_S), "-f", "raw", "--threads", "-o", str(output)]
            recording = subprocess.Popen(
                [*py_spy, "--pid", str(server.process.pid), "--duration", str(seconds)], stdout=subprocess.DEVNULL
            )
            rate = _wrk(server.base_url, seconds, script, "profiled")
            recording.wait(timeout=seconds + 30)
        finally:
            server.stop()
    return rate


def _wrk(base_url: str, seconds: int, script: Path, run_id: str) -> float:
    wrk = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", "-s", str(script)]
    result = subprocess.run([*wrk, f"{base_url}/resources", "--", run_id], capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout).requests_per_s


def _kind(text: str) -> Kind:
    for kind in KINDS:
        if kind == text:
            return kind
    raise argparse.ArgumentTypeError(f"not one of {', '.join(KINDS)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.profile_http", description=__doc__)
    parser.add_argument("kind", type=_kind, choices=KINDS)
    parser.add_argument("seconds", type=int)
    parser.add_argument("--output", type=Path, required=True, help="where py-spy writes its raw profile")
    arguments = parser.parse_args(argv)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    rate = profile(arguments.kind, arguments.seconds, arguments.output)
    print(f"{arguments.kind}: {rate:.0f} creates/s under py-spy; microseconds per create:")
    parts = microseconds_per_request(arguments.output.read_text(), rate * arguments.seconds)
    for part, microseconds in parts.items():
        print(f"{microseconds:8.1f}  {part}")


if __name__ == "__main__":
    main()
