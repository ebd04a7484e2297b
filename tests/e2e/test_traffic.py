"""The traffic generator against both apps: its pace, its mix, the answers it expects, its exit status."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import signal
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from integration.otlp_receiver import CONSOLE_SCRIPT, ServiceProcess, closed_port, service_environment

from core.instrumentation import NoTelemetry
from entrypoints import fastapi_app
from entrypoints.bootstrap import bootstrap
from entrypoints.cli import main
from entrypoints.settings import Settings
from entrypoints.traffic import KINDS, NO_ANSWER, Kind, TrafficConfig, TrafficProgress, TrafficSummary, run_traffic

from .apps import FRAMEWORKS

# Real server processes or large graphs: run once per tox run, by the py311 env (see tox.ini).
pytestmark = pytest.mark.slow

RATE = 40.0
DURATION = 5.0
# Room for seconds-long answers from servers on a busy machine: no request is skipped for want of a slot.
CONCURRENCY = 500
# What each kind of request must get from a correct service (invalid requests: a malformed body gets 400).
STATUSES: dict[Kind, set[int]] = {
    "create": {201},
    "get": {200},
    "list": {200},
    "search": {200},
    "dependencies": {200},
    "update": {200},
    "delete": {204},
    "cascade": {200},
    "invalid": {400, 422},
    "unknown-id": {404},
    "circular": {409},
    "has-dependents": {409},
    "duplicate-name": {409},
}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServiceProcess]]:
    """A FastAPI and a Litestar `resource-service serve`, each on an SQLite file of its own."""
    started: list[ServiceProcess] = []
    try:
        for framework in FRAMEWORKS:
            directory = tmp_path_factory.mktemp(f"traffic-{framework}")
            env = service_environment(f"sqlite+aiosqlite:///{directory / 'resources.db'}", {})
            started.append(ServiceProcess(framework, directory, env).start())
        yield started
    finally:
        for service in started:
            service.kill()


@pytest.fixture(scope="module")
def progress_seen() -> list[TrafficProgress]:
    return []


@pytest.fixture(scope="module")
def summary(services: list[ServiceProcess], progress_seen: list[TrafficProgress]) -> TrafficSummary:
    """One run of the generator against both services, with a high share of deliberate mistakes."""
    config = TrafficConfig(
        targets=tuple(service.base_url for service in services),
        rate=RATE,
        duration=DURATION,
        error_ratio=0.4,
        seed=11,
        concurrency=CONCURRENCY,
        progress_interval=0.5,
    )
    return asyncio.run(run_traffic(config, progress_seen.append))


def test_requests_leave_at_the_target_rate_round_robin(summary: TrafficSummary) -> None:
    assert summary.skipped == 0
    assert summary.sent == RATE * DURATION
    assert summary.rate == pytest.approx(RATE, rel=0.05)
    assert [target.sent for target in summary.targets] == [RATE * DURATION / 2] * 2


def test_every_kind_of_request_reaches_each_framework_and_gets_its_status(summary: TrafficSummary) -> None:
    for target in summary.targets:
        got = {kind: set(target.counts[kind]) for kind in KINDS}
        assert all(got.values()), f"{target.target} never got {[kind for kind in KINDS if not got[kind]]}"
        assert got == {kind: got[kind] & STATUSES[kind] for kind in KINDS}, target.target
        assert 422 in got["invalid"]


def test_a_correct_service_gives_no_unexpected_answer(summary: TrafficSummary) -> None:
    """Each 409 was also checked for its problem type (circular-dependency, has-dependents, duplicate-name)."""
    for target in summary.targets:
        assert target.faults == []
        assert set(target.by_status_class()) == {"2xx", "4xx"}
        assert target.outcomes["ok"] + target.outcomes["expected error"] == target.sent
    assert summary.unexpected == 0


def test_the_summary_has_latencies_of_every_answer(summary: TrafficSummary) -> None:
    for target in summary.targets:
        assert len(target.latencies) == target.sent
        p50, p99 = target.latency_percentile(50), target.latency_percentile(99)
        assert p50 is not None
        assert p99 is not None
        assert 0 < p50 <= p99 <= max(target.latencies)


def test_progress_is_reported_while_the_run_goes(summary: TrafficSummary, progress_seen: list[TrafficProgress]) -> None:
    assert len(progress_seen) >= DURATION / 0.5 - 2
    sent = [progress.sent for progress in progress_seen]
    assert sent == sorted(sent)
    assert 0 < sent[0] < sent[-1] <= summary.sent
    assert all(progress.rate == pytest.approx(RATE, rel=0.25) for progress in progress_seen)


def test_the_command_prints_a_summary_and_exits_0(services: list[ServiceProcess]) -> None:
    targets = [arg for service in services for arg in ("--target", service.base_url)]
    result = subprocess.run(
        [
            str(CONSOLE_SCRIPT),
            "traffic",
            *targets,
            "--rate",
            "20",
            "--duration",
            "2",
            "--error-ratio",
            "0.3",
            "--concurrency",
            str(CONCURRENCY),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    totals = re.match(
        r"(\d+) requests in ([\d.]+) s \(([\d.]+) req/s\), .*; 0 unexpected, 0 skipped$", result.stdout, re.M
    )
    assert totals is not None, result.stdout
    assert int(totals[1]) == 40
    assert float(totals[2]) == pytest.approx(2.0, abs=0.1)
    assert float(totals[3]) == pytest.approx(20, abs=1)
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.startswith("http")}
    assert rows.keys() == {service.base_url for service in services}
    for sent, ok, client_errors, *failures, _p50, _p99 in rows.values():
        assert (sent, int(ok) + int(client_errors), failures) == ("20", 20, ["0", "0", "0"])


def test_ctrl_c_ends_an_endless_run_with_its_summary(services: list[ServiceProcess]) -> None:
    command = [str(CONSOLE_SCRIPT), "traffic", "--target", services[0].base_url, "--rate", "10", "--duration", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        first_progress = process.stderr.readline()  # off a terminal, the first line comes 5 s into the run
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, first_progress + stdout + stderr
    sent_by_then = re.match(r"5s  sent (\d+)  ", first_progress)
    assert sent_by_then is not None, first_progress
    assert int(sent_by_then[1]) == pytest.approx(50, abs=2)
    totals = re.match(r"(\d+) requests in ([\d.]+) s", stdout)
    assert totals is not None, stdout
    assert float(totals[2]) >= 5
    assert int(totals[1]) == pytest.approx(float(totals[2]) * 10, abs=1.5)


def test_a_config_out_of_bounds_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^rate must be a finite number above 0; error_ratio must be between 0 and 1$"
    ):
        TrafficConfig(rate=0, error_ratio=-0.1)


def _run_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run the console script with stderr on a pseudo-terminal; its exit status, stdout and terminal output."""
    controller, terminal = pty.openpty()
    with subprocess.Popen([str(CONSOLE_SCRIPT), *args], stdout=subprocess.PIPE, stderr=terminal, text=True) as process:
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        stdout = process.stdout.read() if process.stdout else ""
        return_code = process.wait(timeout=30)
    os.close(controller)
    return return_code, stdout, shown.decode()


def test_no_answer_is_a_failure_and_progress_is_refreshed_in_place_on_a_terminal() -> None:
    target = f"http://127.0.0.1:{closed_port()}"
    return_code, stdout, shown = _run_on_a_terminal("traffic", "--target", target, "--rate", "10", "--duration", "1.5")
    assert return_code == 1, stdout + shown
    assert "15 unexpected" in stdout.splitlines()[0]
    assert f"{target}  GET /resources" in stdout or f"{target}  POST /resources" in stdout
    assert "no answer (ConnectError)" in stdout
    updates = shown.split("\r\x1b[2K")[1:]
    assert len(updates) >= 2, repr(shown)
    assert all("sent" in update and "unexpected" in update for update in updates)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--rate", "0", "argument --rate: must be above 0, got 0"),
        ("--rate", "fast", "argument --rate: 'fast' is not a number"),
        ("--duration", "-1", "argument --duration: must be at least 0, got -1"),
        ("--error-ratio", "2", "argument --error-ratio: must be at least 0 and at most 1, got 2"),
        ("--target", "localhost:8001", "argument --target: must be an http:// or https:// URL"),
        ("--concurrency", "0", "argument --concurrency: must be a whole number of 1 or more, got 0"),
    ],
)
def test_bad_options_are_refused_with_status_2(
    option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["traffic", option, value])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


class _MislabelledCycles(httpx.AsyncBaseTransport):
    """The app in process, except that its circular-dependency problems come back typed as duplicate names."""

    def __init__(self, app: FastAPI) -> None:
        self._app = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._app.handle_async_request(request)
        body = (await response.aread()).replace(b"circular-dependency", b"duplicate-name")
        headers = [(name, value) for name, value in response.headers.items() if name != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=body)


async def test_a_409_of_the_wrong_problem_type_is_unexpected(sqlite_url: str) -> None:
    runtime = bootstrap(Settings(database_url=sqlite_url), telemetry=NoTelemetry())
    await runtime.start()
    target = "http://in-process"
    config = TrafficConfig(targets=(target,), rate=40, duration=3, error_ratio=0.6, seed=5)
    try:
        summary = await run_traffic(config, transports={target: _MislabelledCycles(fastapi_app.create_app(runtime))})
    finally:
        await runtime.stop()
    cycles = summary.counts("circular")
    assert set(cycles) == {409}
    assert summary.unexpected == cycles[409]
    assert (
        summary.targets[0]
        .faults[0]
        .endswith("problem type 'urn:resource-service:problem:duplicate-name', expected 'circular-dependency'")
    )
    assert summary.counts("duplicate-name")[NO_ANSWER] == 0
