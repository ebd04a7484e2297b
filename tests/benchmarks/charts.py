"""The charts of docs/performance.md, drawn from a results document with matplotlib (the bench extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

OVERHEAD_CHART = "overhead-per-request.png"
GRAPH_CHART = "graph-operations.png"
FLOOR_CHART = "project-vs-floor.png"
GRAPH_FLOOR_CHART = "graph-vs-floor.png"
CREATE_SCALE_CHART = "create-at-scale.png"


def draw(results: dict[str, Any], directory: Path) -> list[Path]:
    """Draw every chart whose suite is in `results` into `directory`; the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    suites = results["suites"]
    drawn = []
    if "inprocess" in suites:
        drawn.append(overhead_chart(suites["inprocess"]["rows"], directory / OVERHEAD_CHART))
    if "graph" in suites:
        drawn.append(graph_chart(suites["graph"]["rows"], directory / GRAPH_CHART))
    if "floor" in suites:
        drawn.append(floor_chart(suites["floor"]["ratios"], suites["floor"]["targets"], directory / FLOOR_CHART))
    if "graph_floor" in suites:
        result = suites["graph_floor"]
        drawn.append(graph_floor_chart(result["ratios"], result["targets"], directory / GRAPH_FLOOR_CHART))
    if "create_scale" in suites:
        result = suites["create_scale"]
        drawn.append(create_scale_chart(result["ratios"], result["targets"], directory / CREATE_SCALE_CHART))
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
            if (operations[0], configuration) not in by_key:  # measured in the other framework only
                continue
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


def floor_chart(ratios: list[dict[str, Any]], targets: list[dict[str, Any]], path: Path) -> Path:
    """Each framework's throughput as a share of the floor's, per database and operation, with the targets."""
    bars = [(f"{row['operation']}\n{row['database']}", row["ratio"], row["value"]) for row in ratios]
    title = "The project against the same routes written plainly (dashed: targets)"
    return ratio_chart(bars, targets, title, "throughput / the floor's (median, min-max)", path)


def graph_floor_chart(ratios: list[dict[str, Any]], targets: list[dict[str, Any]], path: Path) -> Path:
    """The project's time over the floor's, per store and graph operation, with the target."""
    bars = [(f"{row['operation']}\n{row['store']}", row["ratio"], row["value"]) for row in ratios]
    title = f"A {ratios[0]['size']}-long chain: the project against one recursive CTE (dashed: target)"
    return ratio_chart(bars, targets, title, "time / the floor's (median, min-max)", path)


def create_scale_chart(ratios: list[dict[str, Any]], targets: list[dict[str, Any]], path: Path) -> Path:
    """A create's time among many stored resources over its time among few, per store, with the target."""
    bars = [(row["store"], row["ratio"], row["value"]) for row in ratios]
    title = "A create among many stored resources against among few (dashed: target)"
    return ratio_chart(bars, targets, title, "time / time among few (median, min-max)", path)


def ratio_chart(
    bars: list[tuple[str, str, dict[str, Any]]], targets: list[dict[str, Any]], title: str, ylabel: str, path: Path
) -> Path:
    """Paired ratios as bars (group, series, median with min-max), grouped, with each target's limit dashed."""
    groups = list(dict.fromkeys(group for group, _, _ in bars))
    series = list(dict.fromkeys(name for _, name, _ in bars))
    by_key = {(group, name): value for group, name, value in bars}
    figure, axis = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(series)
    for offset, name in enumerate(series):
        values = [by_key[(group, name)] for group in groups]
        positions = [index + offset * width for index in range(len(groups))]
        medians = [value["median"] for value in values]
        spread = [[v["median"] - v["min"] for v in values], [v["max"] - v["median"] for v in values]]
        axis.bar(positions, medians, width, yerr=spread, capsize=3, label=name)
    for limit in dict.fromkeys(target["limit"] for target in targets):
        axis.axhline(limit, color="grey", linestyle="--", linewidth=0.8)
    axis.set_xticks([index + width * (len(series) - 1) / 2 for index in range(len(groups))])
    axis.set_xticklabels(groups)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize="medium")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
