"""The `postgres` marker selects every test that needs the server; a server that does not answer skips them outside CI.

Each test runs pytest on this suite in a process of its own, as a developer runs it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .otlp_receiver import closed_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PYTEST = Path(sys.executable).with_name("pytest")
# The PostgreSQL parameter of the database fixtures in a test's id: `[postgres]`, `[fastapi-postgres]`, ...
POSTGRES_PARAMETER = re.compile(r"[\[-]postgres[\]-]")
# Its tests need the server through the fixtures alone: no parameter names it.
BY_FIXTURE = "tests/integration/test_kept_count.py::"
# One test over each database kind (SQLite passes without the server) and one by the fixtures alone.
NEEDING_THE_SERVER = (
    "tests/integration/test_pool_metrics.py::test_the_pool_is_named_by_its_database",
    "tests/integration/test_kept_count.py::test_every_statement_of_a_transaction_updates_its_one_row",
)


def _pytest(*arguments: str, ci: bool = False) -> subprocess.CompletedProcess[str]:
    """This suite's pytest, with TEST_POSTGRES_URL on a port nothing listens on, under CI or not."""
    env = {name: value for name, value in os.environ.items() if name != "CI"}
    env["TEST_POSTGRES_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/test"
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [str(PYTEST), "-p", "no:cacheprovider", *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _collected(selection: str) -> list[str]:
    finished = _pytest("--collect-only", "-q", "-m", selection)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return [line for line in finished.stdout.splitlines() if "::" in line]


def test_not_postgres_deselects_every_test_that_needs_the_server() -> None:
    without_the_server = _collected("not postgres")
    needing_it = _collected("postgres")

    assert [test for test in without_the_server if POSTGRES_PARAMETER.search(test)] == []
    assert [test for test in without_the_server if test.startswith(BY_FIXTURE)] == []
    assert any(POSTGRES_PARAMETER.search(test) for test in needing_it)
    assert any(test.startswith(BY_FIXTURE) for test in needing_it)
    assert any("[sqlite" in test for test in without_the_server)


def test_outside_ci_a_server_that_does_not_answer_skips_the_tests_that_need_it_in_one_sentence() -> None:
    finished = _pytest("-q", "-rs", *NEEDING_THE_SERVER)

    assert finished.returncode == 0, finished.stdout
    assert re.search(r"\b1 passed\b", finished.stdout), finished.stdout
    assert re.search(r"\b2 skipped\b", finished.stdout), finished.stdout
    (reason,) = {line.split(": ", 1)[1] for line in finished.stdout.splitlines() if line.startswith("SKIPPED")}
    assert re.fullmatch(
        r"PostgreSQL at postgresql\+asyncpg://postgres@127\.0\.0\.1:\d+/test is not answering \(.+\); "
        r"start it or set TEST_POSTGRES_URL \(under CI this fails\)",
        reason,
    ), reason


def test_under_ci_a_server_that_does_not_answer_fails_the_tests_that_need_it() -> None:
    finished = _pytest("-q", *NEEDING_THE_SERVER, ci=True)

    assert finished.returncode == 1, finished.stdout
    assert re.search(r"\b1 passed\b", finished.stdout), finished.stdout
    assert re.search(r"\b2 errors\b", finished.stdout), finished.stdout
    assert "PostgreSQL at postgresql+asyncpg://postgres@127.0.0.1:" in finished.stdout
