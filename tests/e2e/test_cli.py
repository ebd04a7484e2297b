"""The `resource-service` console script: help, serving each framework, shutting down, refusing bad settings."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from integration.otlp_receiver import free_port

from .apps import FRAMEWORKS
from .console import STARTUP_SECONDS, answered_ready, command, environment, stopped


def test_help_exits_0_and_mentions_serve() -> None:
    result = subprocess.run(command("--help"), capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout


def test_serve_refuses_an_unsupported_database_url_with_status_2() -> None:
    result = subprocess.run(
        command("serve", "--port", str(free_port())),
        env=environment("mysql://x"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


@dataclass(frozen=True, slots=True)
class ServeRun:
    """What one `serve` process did: its answers, and how it ended after SIGTERM (None: it did not end)."""

    ready_status: int
    create_status: int
    seconds_to_answer: float
    return_code: int | None
    log: str


def serve(framework: str, directory: Path) -> ServeRun:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = directory / "serve.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command("serve", "--framework", framework, "--port", str(port)),
            env=environment(f"sqlite+aiosqlite:///{directory / 'resources.db'}"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            ready_status = answered_ready(base_url, process, started + STARTUP_SECONDS)
            create_status = httpx.post(f"{base_url}/resources", json={"name": framework}, timeout=5.0).status_code
            seconds = time.monotonic() - started
            return_code = stopped(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return ServeRun(ready_status, create_status, seconds, return_code, log_path.read_text())


@pytest.fixture(scope="module", params=FRAMEWORKS)
def serve_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ServeRun:
    """One `serve --framework <param>` process, started, asked two questions and sent SIGTERM."""
    return serve(request.param, tmp_path_factory.mktemp(f"serve-{request.param}"))


def test_serve_answers_ready_and_create_within_20_seconds(serve_run: ServeRun) -> None:
    assert (serve_run.ready_status, serve_run.create_status) == (200, 201), serve_run.log
    assert serve_run.seconds_to_answer < STARTUP_SECONDS


def test_serve_shuts_down_gracefully_on_sigterm(serve_run: ServeRun) -> None:
    assert serve_run.return_code is not None, serve_run.log
    assert "Application shutdown complete" in serve_run.log


def test_serve_exits_0_on_sigterm(serve_run: ServeRun, request: pytest.FixtureRequest) -> None:
    assert serve_run.return_code == 0, serve_run.log


def test_serve_migrates_a_fresh_database_as_it_starts(serve_run: ServeRun) -> None:
    assert "Running upgrade  -> 0001" in serve_run.log


def test_serve_logs_an_operation_in_one_line_without_an_access_line(serve_run: ServeRun) -> None:
    records = [json.loads(line) for line in serve_run.log.splitlines() if line.startswith("{")]
    operations = [record["event"] for record in records if record["logger"] == "resource_service.operations"]
    assert operations == ["operation.completed"], serve_run.log
    assert [record for record in records if record["logger"] == "uvicorn.access"] == []
