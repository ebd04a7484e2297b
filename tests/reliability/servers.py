"""What the reliability suite runs against: a private PostgreSQL cluster it may stop, and the service's processes.

`PrivatePostgres` is a throw-away cluster (initdb + pg_ctl) on a free port of 127.0.0.1, so a test can stop and
start its database at will without touching the shared server other test runs use. The service-process helpers
of tests/integration/otlp_receiver.py are re-exported here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self
from uuid import uuid4

import httpx
from integration.otlp_receiver import (
    HOST,
    BlackHole,
    HttpReceiver,
    ServiceProcess,
    closed_port,
    free_port,
    service_environment,
)
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "HOST",
    "TRAFFIC_TIMEOUT_S",
    "Answer",
    "BlackHole",
    "HttpReceiver",
    "PrivatePostgres",
    "ServiceProcess",
    "Traffic",
    "closed_port",
    "free_port",
    "keep_writing",
    "prometheus_samples",
    "service_environment",
]

TRAFFIC_TIMEOUT_S = 15.0
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"  # the server refuses to run as root; under root the tools run as this user
PG_TIMEOUT_S = 60


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own, trust auth, user postgres, database postgres."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="reliability-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@{HOST}:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.directory, user=PG_USER)
        self._pg("initdb", "--pgdata", str(self.data), "--auth", "trust", "--username", "postgres", "--no-sync")

    def _pg(self, tool: str, *args: str) -> None:
        command = [str(PG_BIN / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", PG_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=PG_TIMEOUT_S, check=False)
        assert done.returncode == 0, f"{tool} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}\n{self.log()}"

    def start(self) -> Self:
        """Start the server and wait until it accepts connections."""
        options = f"-h {HOST} -p {self.port} -k {self.directory}"
        self._pg("pg_ctl", "start", "--pgdata", str(self.data), "--log", str(self.directory / "server.log"),
                 "--wait", "--timeout", str(PG_TIMEOUT_S), "-o", options)  # fmt: skip
        return self

    def stop(self) -> None:
        """Stop the server at once, as a crash would: connections drop and nothing is checkpointed."""
        self._pg("pg_ctl", "stop", "--pgdata", str(self.data), "--mode", "immediate", "--wait")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def remove(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.remove()


def prometheus_samples(port: int, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples named `name` on the Prometheus scrape endpoint at `port`, as (labels, value)."""
    exposition = httpx.get(f"http://{HOST}:{port}/metrics", timeout=5.0).text
    return [
        (dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    ]


@dataclass(frozen=True, slots=True)
class Answer:
    """One request of a `Traffic`: which service, what kind, when it was sent, how long it took, the answer."""

    service: str
    kind: str
    sent: float
    seconds: float
    status: int  # 0: no HTTP answer
    problem: str
    body: str


@dataclass
class Traffic:
    """Every answer, and the id of every write the service acknowledged."""

    answers: list[Answer] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    running: bool = True

    async def send(self, client: httpx.AsyncClient, service: str, kind: str, request: httpx.Request) -> Answer:
        sent = time.monotonic()
        try:
            response = await client.send(request)
        except httpx.HTTPError as exc:
            answer = Answer(service, kind, sent, time.monotonic() - sent, 0, "", repr(exc))
        else:
            problem = ""
            if response.headers.get("content-type", "").startswith("application/problem+json"):
                problem = str(response.json()["type"]).rsplit(":", 1)[-1]
            answer = Answer(service, kind, sent, time.monotonic() - sent, response.status_code, problem, response.text)
            if kind == "create" and response.status_code == 201:
                self.acknowledged.add(str(response.json()["id"]))
        self.answers.append(answer)
        return answer


async def keep_writing(traffic: Traffic, service: ServiceProcess, pause_s: float) -> None:
    """Create resources one after another until `traffic` stops running."""
    async with httpx.AsyncClient(base_url=service.base_url, timeout=TRAFFIC_TIMEOUT_S) as client:
        while traffic.running:
            body = {"name": f"w-{uuid4().hex}", "description": "written under load"}
            await traffic.send(
                client, service.framework, "create", client.build_request("POST", "/resources", json=body)
            )
            await asyncio.sleep(pause_s)
