"""The servers' own tools the ops checks run, from the cache folder `.ci/ops-tools` fills (`tox -e ops` runs it).

Prometheus and promtool 3 extracted from Debian forky's packages, and Grafana's LogQL and TraceQL grammars from npm.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Final

_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
TOOLS_DIR: Final = Path(os.environ.get("OPS_TOOLS_DIR") or _CACHE / "resource-service" / "ops-tools")
PROMETHEUS: Final = TOOLS_DIR / "prometheus" / "usr" / "bin" / "prometheus"
PROMTOOL: Final = TOOLS_DIR / "prometheus" / "usr" / "bin" / "promtool"
NODE_MODULES: Final = TOOLS_DIR / "node" / "node_modules"
MISSING: Final = f"not in {TOOLS_DIR}: run .ci/ops-tools (tox -e ops does)"


def version(tool: Path) -> str:
    """The version `tool --version` reports, as `3.5.3`."""
    assert tool.exists(), f"{tool.name} {MISSING}"
    answer = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"version (\d+\.\d+\.\d+)", answer)
    assert match is not None, answer
    return match.group(1)
