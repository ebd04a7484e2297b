"""Suite `peers`: the usual ways of instrumenting, side by side with the project, each one's throughput on / off.

Each peer (`peer_apps.py`: OpenTelemetry's FastAPIInstrumentor, the same without its send/receive spans, FastAPI's
native telemetry, the same without its operation spans, Pydantic Logfire's `instrument_fastapi`, Litestar's
OpenTelemetryPlugin, the same without its send/receive spans) instruments the floor app of its framework (`floor.py`,
`floor_litestar.py`: the same routes, SQL and JSON bytes) with its own default telemetry, exported over OTLP/HTTP to
the sink; its "off" is that floor uninstrumented. The project runs beside them, each framework with telemetry off
(OTEL_SDK_DISABLED=true) and on (the http suite's "on": every signal to the same sink, every trace sampled), FastAPI
on once with each way of its HTTP telemetry (FASTAPI_HTTP_TELEMETRY: the instrumentor, `project`, and FastAPI's native
telemetry, `project-native`). All servers run at once under uvicorn, pinned to CPU 0, each over its own copy of one
SQLite database made by the project's migrations and seeded through its service (the floor suite's); before any load,
every one must answer the reads with the floor's exact bytes. wrk (`-t1 -c16`) on CPU 1 loads `get` (a resource with
two dependencies), then `create`; repetitions interleave the servers in a rotating order, and each on / off ratio
pairs runs of the same repetition. Logfire is left out where it is not installed (the bench extra has it).
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .configurations import FRAMEWORKS, Framework
from .floor_throughput import SMOKE_RESOURCES, Server, sqlite_copies, uvicorn_command
from .measure import FULL_REPETITIONS, Row, target
from .peer_apps import FRAMEWORK_OF, Peer
from .sink import OtlpSink
from .throughput import (
    FULL_SECONDS,
    OPERATIONS,
    SMOKE_OPERATIONS,
    SMOKE_SECONDS,
    Load,
    Operation,
    interleaved_loads,
    load_figures,
    paired,
    telemetry_environment,
)

# Besides the peers: each framework's floor uninstrumented (every peer's "off"), and the project off and on; FastAPI's
# project on twice, once for each way of its HTTP telemetry (FASTAPI_HTTP_TELEMETRY).
FLOOR: Final = "floor"
PROJECT_OFF: Final = "project-off"
PROJECT_ON: Final = "project-on"
PROJECT_ON_NATIVE: Final = "project-on-native"
PROJECT_ON_SETUPS: Final[dict[Framework, tuple[str, ...]]] = {
    "fastapi": (PROJECT_ON, PROJECT_ON_NATIVE),
    "litestar": (PROJECT_ON,),
}
PROJECT_SETUPS: Final = (PROJECT_OFF, PROJECT_ON, PROJECT_ON_NATIVE)
# How the ratios name each of the project's setups.
PROJECT_SERVER: Final = {PROJECT_ON: "project", PROJECT_ON_NATIVE: "project-native"}
# Only the answer check before the loads reads pages: a hundred resources serve it.
RESOURCES: Final = SMOKE_RESOURCES


def peers() -> tuple[Peer, ...]:
    """The peers measured: every instrumented one of `peer_apps`, Logfire only where it is installed."""
    return tuple(
        peer
        for peer in FRAMEWORK_OF
        if peer not in FRAMEWORKS and (peer != "logfire" or importlib.util.find_spec("logfire") is not None)
    )


@dataclass
class PeerServer(Server):
    """A server of the suite: `setup` is a peer or FLOOR (the floor app under uvicorn, `kind` "floor"), or one of
    PROJECT_SETUPS (the framework's `resource-service serve`, `kind` the framework)."""

    framework: Framework = "fastapi"
    setup: str = FLOOR
    sink_endpoint: str = ""

    @property
    def name(self) -> str:
        return self.setup if self.setup in FRAMEWORK_OF else f"{self.framework}-{self.setup}"

    def command(self) -> list[str]:
        if self.kind == "floor":
            return uvicorn_command("peer_apps:create_app", self.port)
        return super().command()

    def environment(self) -> dict[str, str]:
        database = {"FLOOR_DATABASE_URL": self.database_url}
        if self.setup == PROJECT_OFF:
            return {**database, **telemetry_environment("off", self.sink_endpoint)}
        if self.setup in (PROJECT_ON, PROJECT_ON_NATIVE):
            way = "native" if self.setup == PROJECT_ON_NATIVE else "instrumentor"
            return {**database, **telemetry_environment("on", self.sink_endpoint), "FASTAPI_HTTP_TELEMETRY": way}
        peer = self.framework if self.setup == FLOOR else self.setup
        return {**database, "FLOOR_PEER": peer, "OTEL_EXPORTER_OTLP_ENDPOINT": self.sink_endpoint}


PeerLoads = dict[tuple[Framework, str, Operation], list[Load]]


def run(*, smoke: bool) -> dict[str, Any]:
    """Each framework's floor, its peers, and the project off and on: rows, ratios on / off and to the floor."""
    repetitions, seconds = (1, SMOKE_SECONDS) if smoke else (FULL_REPETITIONS, FULL_SECONDS)
    operations = SMOKE_OPERATIONS if smoke else OPERATIONS
    measured_peers = peers()
    setups = {
        framework: (
            FLOOR,
            *(peer for peer in measured_peers if FRAMEWORK_OF[peer] == framework),
            PROJECT_OFF,
            *PROJECT_ON_SETUPS[framework],
        )
        for framework in FRAMEWORKS
    }
    with tempfile.TemporaryDirectory() as temporary, OtlpSink() as sink:
        directory = Path(temporary)
        names = [f"{framework}-{setup}" for framework in FRAMEWORKS for setup in setups[framework]]
        urls, seed_path = sqlite_copies(directory, RESOURCES, names)
        # One set of answers: the first server (FastAPI's floor) records them, every other must give the same bytes.
        answers: dict[str, bytes] = {}
        servers = [
            PeerServer(
                kind="floor" if setup not in PROJECT_SETUPS else framework,
                database="sqlite",
                database_url=urls[f"{framework}-{setup}"],
                directory=directory / f"{framework}-{setup}",
                seed_path=seed_path,
                answers=answers,
                framework=framework,
                setup=setup,
                sink_endpoint=sink.endpoint,
            )
            for framework in FRAMEWORKS
            for setup in setups[framework]
        ]
        by_server = interleaved_loads(servers, operations, repetitions, seconds, smoke=smoke)
    loads: PeerLoads = {
        (server.framework, server.setup, operation): runs
        for server, measured in zip(servers, by_server, strict=True)
        for operation, runs in measured.items()
    }
    ratios = _ratios(loads, setups, operations)
    return {
        "seconds_per_run": seconds,
        "store": "sqlite",
        "peers": list(measured_peers),
        "rows": _rows(loads),
        "ratios": ratios,
        "targets": _targets(ratios),
    }


def _rows(loads: PeerLoads) -> list[Row]:
    return [
        {"framework": framework, "server": setup, "operation": operation, **load_figures(runs)}
        for (framework, setup, operation), runs in loads.items()
    ]


def _ratios(loads: PeerLoads, setups: dict[Framework, tuple[str, ...]], operations: tuple[Operation, ...]) -> list[Row]:
    """Per instrumented server: its throughput over its own "off" and over the plain floor, paired within repetitions.

    A peer's "off" is the floor; the project's is the project with telemetry off.
    """
    ratios: list[Row] = []
    for operation in operations:
        for framework in FRAMEWORKS:
            floor = loads[(framework, FLOOR, operation)]
            for setup in setups[framework]:
                if setup in (FLOOR, PROJECT_OFF):
                    continue
                on = loads[(framework, setup, operation)]
                off = loads[(framework, PROJECT_OFF, operation)] if setup in PROJECT_SETUPS else floor
                ratios.append(
                    {
                        "framework": framework,
                        "server": PROJECT_SERVER.get(setup, setup),
                        "operation": operation,
                        "on_over_off": paired(on, off),
                        "on_over_floor": paired(on, floor),
                    }
                )
    return ratios


def _targets(ratios: list[Row]) -> list[Row]:
    """The goal: each of the project's telemetry ways keeps as much of its throughput (on / off) as the best peer."""
    targets: list[Row] = []
    projects = set(PROJECT_SERVER.values())
    for framework in FRAMEWORKS:
        for operation in dict.fromkeys(row["operation"] for row in ratios):
            mine = [row for row in ratios if row["framework"] == framework and row["operation"] == operation]
            best = max(
                (row for row in mine if row["server"] not in projects), key=lambda row: row["on_over_off"]["median"]
            )
            targets.extend(
                target(
                    f"{project['server']} on/off at least the best peer's ({best['server']}): {framework}, {operation}",
                    project["on_over_off"]["median"],
                    round(best["on_over_off"]["median"], 4),
                    at_most=False,
                    unit="x",
                )
                for project in mine
                if project["server"] in projects
            )
    return targets
