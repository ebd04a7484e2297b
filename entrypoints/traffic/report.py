"""How a run reads on a terminal: one live progress line, and a summary table at the end."""

from __future__ import annotations

from collections.abc import Sequence

from entrypoints.traffic.mix import KINDS
from entrypoints.traffic.stats import NO_ANSWER, TargetSummary, TrafficProgress, TrafficSummary, status_class

STATUS_CLASSES = ("2xx", "4xx", "5xx", "no answer")


def progress_line(progress: TrafficProgress) -> str:
    """`12s  sent 240  ok 216  expected errors 24  unexpected 0  20.0 req/s`."""
    outcomes = progress.outcomes
    line = (
        f"{progress.elapsed:.0f}s  sent {progress.sent}  ok {outcomes['ok']}  "
        f"expected errors {outcomes['expected error']}  unexpected {outcomes['unexpected']}  "
        f"{progress.rate:.1f} req/s"
    )
    return f"{line}  skipped {progress.skipped}" if progress.skipped else line


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: frozenset[int]) -> list[str]:
    """Columns two spaces apart: the `text_columns` aligned left, the numbers right."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(width) if i in text_columns else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in (header, *rows)
    ]


def _milliseconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _target_row(target: TargetSummary) -> list[str]:
    classes = target.by_status_class()
    others = sum(count for name, count in classes.items() if name not in STATUS_CLASSES)
    return [
        target.target,
        str(target.sent),
        *(str(classes[name]) for name in STATUS_CLASSES),
        str(others),
        _milliseconds(target.latency_percentile(50)),
        _milliseconds(target.latency_percentile(99)),
    ]


def _kind_rows(summary: TrafficSummary) -> list[list[str]]:
    rows = []
    for kind in KINDS:
        statuses = summary.counts(kind)
        if statuses:
            detail = ", ".join(f"{status_class(s) if s == NO_ANSWER else s}: {n}" for s, n in sorted(statuses.items()))
            rows.append([kind, str(statuses.total()), detail])
    return rows


def summary_text(summary: TrafficSummary) -> str:
    """The end-of-run report: totals, a row per target, a row per kind of request, and the faults seen."""
    lines = [
        f"{summary.sent} requests in {summary.sending_seconds:.1f} s ({summary.rate:.1f} req/s), "
        f"the last answered at {summary.elapsed:.1f} s; {summary.unexpected} unexpected, {summary.skipped} skipped",
        "",
        *_table(
            ["target", "sent", *STATUS_CLASSES, "other", "p50 ms", "p99 ms"],
            [_target_row(target) for target in summary.targets],
            frozenset({0}),
        ),
        "",
        *_table(["request", "sent", "statuses"], _kind_rows(summary), frozenset({0, 2})),
    ]
    faults = [f"  {target.target}  {fault}" for target in summary.targets for fault in target.faults]
    if faults:
        lines += ["", "unexpected answers (the first few of each target):", *faults]
    return "\n".join(lines)
