"""The servers' own tools the ops checks run, from the cache folder `.ci/ops-tools` fills (`tox -e ops` runs it).

Prometheus and promtool 3 extracted from Debian forky's packages, Grafana's LogQL and TraceQL grammars from npm
(`@grafana/lezer-logql`, `@grafana/lezer-traceql`: the parsers of Grafana's query editors), run by Node, and the
`@grafana/data` package of the Grafana pinned, for the feature toggles that release registers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
TOOLS_DIR: Final = Path(os.environ.get("OPS_TOOLS_DIR") or _CACHE / "resource-service" / "ops-tools")
PROMETHEUS: Final = TOOLS_DIR / "prometheus" / "usr" / "bin" / "prometheus"
PROMTOOL: Final = TOOLS_DIR / "prometheus" / "usr" / "bin" / "promtool"
NODE_MODULES: Final = TOOLS_DIR / "node" / "node_modules"
MISSING: Final = f"not in {TOOLS_DIR}: run .ci/ops-tools (tox -e ops does)"
GRAFANA_PARSERS: Final = Path(__file__).with_name("grafana_parsers.cjs")
GRAFANA_DATA: Final = TOOLS_DIR / "grafana-data"
# `name?: boolean;` inside the generated `interface FeatureToggles { ... }` of @grafana/data's type declarations.
_FEATURE_TOGGLES: Final = re.compile(r"interface FeatureToggles \{(?P<body>[^}]*)\}")
_TOGGLE: Final = re.compile(r"^\s*(\w+)\?: boolean;", re.MULTILINE)

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


def grafana_feature_toggles(grafana_version: str) -> set[str]:
    """Every feature toggle Grafana `grafana_version` registers, from the FeatureToggles type its @grafana/data has."""
    package = GRAFANA_DATA / grafana_version / "package"
    assert (package / "package.json").exists(), f"@grafana/data@{grafana_version} {MISSING}"
    assert json.loads((package / "package.json").read_text())["version"] == grafana_version
    declarations = (match for path in package.rglob("*.d.ts") if (match := _FEATURE_TOGGLES.search(path.read_text())))
    found = next(declarations, None)
    assert found is not None, f"no FeatureToggles type in @grafana/data@{grafana_version}"
    return set(_TOGGLE.findall(found.group("body")))
