"""The servers' own tools the ops checks run, from the cache folder `.ci/ops-tools` fills (`tox -e ops` runs it).

Prometheus and promtool 3 extracted from Debian forky's packages, Grafana's LogQL and TraceQL grammars from npm
(`@grafana/lezer-logql`, `@grafana/lezer-traceql`: the parsers of Grafana's query editors), run by Node, and the
`@grafana/data` and `@grafana/schema` packages of the Grafana pinned: the feature toggles that release registers,
and the fields of the dashboard JSON it reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Final, Literal

_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
TOOLS_DIR: Final = Path(os.environ.get("OPS_TOOLS_DIR") or _CACHE / "resource-service" / "ops-tools")
PROMETHEUS: Final = TOOLS_DIR / "prometheus" / "usr" / "bin" / "prometheus"
PROMTOOL: Final = TOOLS_DIR / "prometheus" / "usr" / "bin" / "promtool"
NODE_MODULES: Final = TOOLS_DIR / "node" / "node_modules"
MISSING: Final = f"not in {TOOLS_DIR}: run .ci/ops-tools (tox -e ops does)"
GRAFANA_PARSERS: Final = Path(__file__).with_name("grafana_parsers.cjs")
GRAFANA_PACKAGES: Final = TOOLS_DIR / "grafana"
# A generated TypeScript interface of a Grafana package's type declarations, and its own fields (`name?: type;` at
# the interface's first indentation, not those of the object types inside it).
_INTERFACE: Final = r"\binterface {name} \{{(?P<body>.*?)\n\}}"
_FIELD: Final = re.compile(r"^    (\w+)\??:", re.MULTILINE)
# Where @grafana/schema keeps the types of the dashboard JSON files are written in (schemaVersion 39 and on); its
# `schema/dashboard/v*` folders hold the newer API objects, which have a `Dashboard` type of their own.
_CLASSIC_DASHBOARD: Final = "/raw/dashboard/x/"

QueryLanguage = Literal["logql", "traceql"]


def version(tool: Path) -> str:
    """The version `tool --version` reports, as `3.5.3`."""
    assert tool.exists(), f"{tool.name} {MISSING}"
    answer = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"version (\d+\.\d+\.\d+)", answer)
    assert match is not None, answer
    return match.group(1)


def grafana_parse_errors(language: QueryLanguage, queries: Sequence[str]) -> list[list[tuple[int, int]]]:
    """For each query, the (from, to) spans of the error nodes Grafana's grammar for `language` finds in it."""
    node = shutil.which("node")
    assert node is not None, "Node.js is not installed"
    assert (NODE_MODULES / "@grafana" / f"lezer-{language}").exists(), f"@grafana/lezer-{language} {MISSING}"
    requests = json.dumps([{"language": language, "query": query} for query in queries])
    answer = subprocess.run(
        [node, GRAFANA_PARSERS, NODE_MODULES], input=requests, capture_output=True, text=True, check=True
    )
    return [[(start, end) for start, end in spans] for spans in json.loads(answer.stdout)]


def grafana_feature_toggles(grafana_version: str) -> frozenset[str]:
    """Every feature toggle Grafana `grafana_version` registers: the fields of its @grafana/data's FeatureToggles."""
    return _interface_fields(grafana_version, "data", "FeatureToggles")


def grafana_dashboard_fields(grafana_version: str) -> dict[str, frozenset[str]]:
    """The fields of a dashboard, a panel and a row in the dashboard JSON Grafana `grafana_version` reads (the
    Dashboard, Panel and RowPanel types its @grafana/schema generates from the dashboard schema)."""
    return {
        kind: _interface_fields(grafana_version, "schema", kind, under=_CLASSIC_DASHBOARD)
        for kind in ("Dashboard", "Panel", "RowPanel")
    }


@cache
def _interface_fields(grafana_version: str, package_name: str, interface: str, under: str = "") -> frozenset[str]:
    """Read once per run: each dashboard's test asks for the same three types, and each asking scans the package."""
    package = GRAFANA_PACKAGES / grafana_version / package_name / "package"
    assert (package / "package.json").exists(), f"@grafana/{package_name}@{grafana_version} {MISSING}"
    assert json.loads((package / "package.json").read_text())["version"] == grafana_version
    pattern = re.compile(_INTERFACE.format(name=interface), re.DOTALL)
    declarations = (path for path in sorted(package.rglob("*.d.ts")) if under in path.as_posix())
    found = next((match for path in declarations if (match := pattern.search(path.read_text()))), None)
    assert found is not None, f"no {interface} type in @grafana/{package_name}@{grafana_version}"
    return frozenset(_FIELD.findall(found.group("body")))
