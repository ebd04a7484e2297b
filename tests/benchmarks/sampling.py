"""Suite: what full telemetry costs at 100 %, 10 % and 1 % trace sampling, metrics and logs always on (issue 14).

The http suite's servers and wrk loads (`throughput.py`): each framework with observability off, and on with
`parentbased_traceidratio` at 1.0, 0.1 and 0.01 (a request without a sampled parent is a root, so the ratio
decides); `get` and `create`, every server over its own SQLite file, the runs interleaved and the order rotating.
Metrics and the log records are exported whatever the sampling: only spans are sampled.

Two more servers per framework price the contract's per-request signals at 10 %: without the OTLP log records
(`OTEL_LOGS_EXPORTER=none`; the JSON line on stdout stays), and without them and the metric export too
(`OTEL_METRICS_EXPORTER=none`: the instruments still record, into no reader). They are not configurations the
project recommends: they measure what dropping a signal from the contract would give back.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .configurations import FRAMEWORKS, Framework
from .measure import FULL_REPETITIONS, Row, target
from .sink import OtlpSink
from .throughput import (
    FULL_SECONDS,
    OPERATIONS,
    SMOKE_OPERATIONS,
    SMOKE_SECONDS,
    Load,
    Operation,
    Server,
    interleaved_loads,
    load_figures,
    paired,
)

# Issue 14: the same `get` at 10 % trace sampling keeps at least this share of the throughput with telemetry off.
SAMPLED_GET_LIMIT: Final = 0.85
# Each configuration's environment beside the sink and the sampler: its trace sampling ratio, and for the
# trade-off servers the signals it leaves out. None is observability off.
SAMPLING: Final[dict[str, dict[str, str] | None]] = {
    "off": None,
    "100%": {"OTEL_TRACES_SAMPLER_ARG": "1.0"},
    "10%": {"OTEL_TRACES_SAMPLER_ARG": "0.1"},
    "1%": {"OTEL_TRACES_SAMPLER_ARG": "0.01"},
    "10% no OTLP logs": {"OTEL_TRACES_SAMPLER_ARG": "0.1", "OTEL_LOGS_EXPORTER": "none"},
    "10% no OTLP logs, no metrics": {
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
    },
}


@dataclass
class SampledServer(Server):
    """A server of the http suite whose traces are sampled at `sampling` (a key of SAMPLING)."""

    sampling: str = "100%"

    @property
    def name(self) -> str:
        return f"{self.framework}-" + re.sub(r"[^0-9a-z]+", "-", self.sampling.lower()).strip("-")

    def telemetry_environment(self) -> dict[str, str]:
        configuration = SAMPLING[self.sampling]
        if configuration is None:
            return {"OTEL_SDK_DISABLED": "true"}
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.sink_endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            **configuration,
        }


def run(*, smoke: bool) -> dict[str, Any]:
    """Each framework off and at each sampling ratio; rows, and each ratio's throughput over off."""
    repetitions, seconds = (1, SMOKE_SECONDS) if smoke else (FULL_REPETITIONS, FULL_SECONDS)
    operations = SMOKE_OPERATIONS if smoke else OPERATIONS
    with tempfile.TemporaryDirectory() as directory, OtlpSink() as sink:
        servers = [
            SampledServer(
                framework,
                "off" if sampling == "off" else "on",
                Path(directory) / f"{framework}-{index}",
                sink.endpoint,
                sampling=sampling,
            )
            for framework in FRAMEWORKS
            for index, sampling in enumerate(SAMPLING)
        ]
        by_server = interleaved_loads(servers, operations, repetitions, seconds, smoke=smoke)
    loads: SampledLoads = {
        (server.framework, server.sampling, operation): runs
        for server, measured in zip(servers, by_server, strict=True)
        for operation, runs in measured.items()
    }
    ratios = _ratios(loads)
    return {
        "seconds_per_run": seconds,
        "store": "sqlite",
        "rows": _rows(loads),
        "ratios": ratios,
        "targets": _targets(ratios),
    }


SampledLoads = dict[tuple[Framework, str, Operation], list[Load]]


def _rows(loads: SampledLoads) -> list[Row]:
    return [
        {"framework": framework, "sampling": sampling, "operation": operation, **load_figures(runs)}
        for (framework, sampling, operation), runs in loads.items()
    ]


def _ratios(loads: SampledLoads) -> list[Row]:
    """Throughput at each sampling ratio over observability off, paired within repetitions."""
    return [
        {
            "framework": framework,
            "sampling": sampling,
            "operation": operation,
            "on_over_off": paired(loads[(framework, sampling, operation)], loads[(framework, "off", operation)]),
        }
        for operation in sorted({operation for _, _, operation in loads})
        for framework in FRAMEWORKS
        for sampling in SAMPLING
        if sampling != "off"
    ]


def _targets(ratios: list[Row]) -> list[Row]:
    return [
        target(
            f"get at 10 % sampling keeps 0.85x of off: {row['framework']}",
            row["on_over_off"]["median"],
            SAMPLED_GET_LIMIT,
            at_most=False,
            unit="x",
        )
        for row in ratios
        if row["operation"] == "get" and row["sampling"] == "10%"
    ]
