"""The `resource-service` console script as a user runs it: the command, its environment, a served process's
first answer and its stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

CONSOLE_SCRIPT = Path(sys.executable).with_name("resource-service")
STARTUP_SECONDS = 20.0
SHUTDOWN_SECONDS = 10.0


def command(*args: str) -> list[str]:
    return [str(CONSOLE_SCRIPT), *args]


def environment(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url}


def answered_ready(base_url: str, process: subprocess.Popen[bytes], deadline: float) -> int:
    """The status of the first GET /health/ready the server answers before `deadline`."""
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return httpx.get(f"{base_url}/health/ready", timeout=1.0).status_code
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"serve did not answer within {STARTUP_SECONDS} s (exit status {process.poll()})")


def stopped(process: subprocess.Popen[bytes]) -> int | None:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=SHUTDOWN_SECONDS)
    except subprocess.TimeoutExpired:
        return None
