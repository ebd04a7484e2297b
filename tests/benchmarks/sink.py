"""An OTLP/HTTP sink in a process of its own: answers 200 to every export and keeps nothing.

Run as a script (`python sink.py`), it imports nothing of the project.

The test receiver (tests/integration/otlp_receiver.py) decodes and keeps every request; in the benchmarking
process that work would be charged to the service. Run apart, on the other CPU, the sink costs the service
only what a real collector does: the export round trip.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

SINK_CPU = 1


class _Discard(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve() -> None:
    """Listen on a free port of 127.0.0.1, print it, answer until killed."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > SINK_CPU:
        os.sched_setaffinity(0, {SINK_CPU})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    print(server.server_address[1], flush=True)
    server.serve_forever()


class OtlpSink:
    """The sink as a subprocess; `endpoint` is for OTEL_EXPORTER_OTLP_ENDPOINT."""

    def __init__(self) -> None:
        self._process = subprocess.Popen([sys.executable, str(Path(__file__))], stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        self.endpoint = f"http://127.0.0.1:{int(self._process.stdout.readline())}"

    def close(self) -> None:
        self._process.kill()
        self._process.wait(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


if __name__ == "__main__":
    serve()
