"""The charts of docs/performance.md, drawn from a results document with matplotlib (the bench extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

OVERHEAD_CHART = "overhead-per-request.png"
GRAPH_CHART = "graph-operations.png"


def draw(results: dict[str, Any], directory: Path) -> list[Path]:
    """Draw every chart whose suite is in `results` into `directory`; the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    suites = results["suites"]
    drawn = []
    if "inprocess" in suites:
        drawn.append(overhead_chart(suites["inprocess"]["rows"], directory / OVERHEAD_CHART))
    if "graph" in suites:
        drawn.append(graph_chart(suites["graph"]["rows"], directory / GRAPH_CHART))
    return drawn


def overhead_chart(rows: list[dict[str, Any]], path: Path) -> Path:
    """Microseconds added per request over the bare app, by configuration, one panel per framework."""
    frameworks = sorted({row["framework"] for row in rows})
    operations = list(dict.fromkeys(row["operation"] for row in rows))
    configurations = [c for c in dict.fromkeys(row["configuration"] for row in rows) if c != "bare"]
    figure, axes = plt.subplots(1, len(frameworks), figsize=(6 * len(frameworks), 4.5), sharey=True, squeeze=False)
    width = 0.8 / len(configurations)
    for axis, framework in zip(axes[0], frameworks, strict=True):
        by_key = {(row["operation"], row["configuration"]): row for row in rows if row["framework"] == framework}
        for offset, configuration in enumerate(configurations):
            added = [
                by_key[(op, configuration)]["us_per_request"]["median"]
                - by_key[(op, "bare")]["us_per_request"]["median"]
                for op in operations
            ]
            positions = [index + offset * width for index in range(len(operations))]
            axis.bar(positions, added, width, label=configuration)
        axis.set_xticks([index + width * (len(configurations) - 1) / 2 for index in range(len(operations))])
        axis.set_xticklabels(operations)
        axis.axhline(0, color="black", linewidth=0.5)
        axis.set_title(framework)
        axis.set_ylabel("CPU µs added per request vs bare (median)")
    axes[0][0].legend(title="observability")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def graph_chart(rows: list[dict[str, Any]], path: Path) -> Path:
    """Time per operation against size, log-log, one line per operation and store, with min-max bars."""
    figure, axis = plt.subplots(figsize=(7, 5))
    series = dict.fromkeys((row["operation"], row["store"]) for row in rows)
    for operation, store in series:
        points = sorted(
            (r["size"], r["ms_per_operation"]) for r in rows if (r["operation"], r["store"]) == (operation, store)
        )
        sizes = [size for size, _ in points]
        medians = [ms["median"] for _, ms in points]
        spread = [[ms["median"] - ms["min"] for _, ms in points], [ms["max"] - ms["median"] for _, ms in points]]
        axis.errorbar(sizes, medians, yerr=spread, marker="o", capsize=3, label=f"{operation} ({store})")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("resources")
    axis.set_ylabel("ms per operation (median, min-max)")
    axis.grid(True, which="both", linewidth=0.3)
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
