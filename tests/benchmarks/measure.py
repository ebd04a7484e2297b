"""What every suite shares: repetitions summarised as median, min and max, results as rows, a printed table."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

Row = dict[str, Any]
# A machine shared with other work: the median of several repetitions, with the spread shown beside it.
FULL_REPETITIONS: Final = 5
SMOKE_REPETITIONS: Final = 2


@dataclass(frozen=True, slots=True)
class Spread:
    """The median of repeated measurements, with their minimum and maximum."""

    median: float
    low: float
    high: float
    repetitions: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def as_json(self) -> dict[str, float | int]:
        return {"median": self.median, "min": self.low, "max": self.high, "repetitions": self.repetitions}


def ratio(numerator: float, denominator: float) -> float:
    """`numerator / denominator`, rounded for reading."""
    return round(numerator / denominator, 4)


def target(name: str, measured: float, limit: float, *, at_most: bool = True, unit: str = "") -> Row:
    """One target of the issue and whether the measured figure meets it."""
    met = measured <= limit if at_most else measured >= limit
    return {"target": name, "measured": round(measured, 4), "limit": limit, "unit": unit, "met": met}


def per_call_seconds(call: Callable[[], object], calls: int) -> float:
    """CPU seconds of this thread per call of `call`, over `calls` calls in a row.

    CPU time, not wall time: on a machine shared with other work, the time this thread waits for a CPU is
    not the call's cost.
    """
    started = time.thread_time()
    for _ in range(calls):
        call()
    return (time.thread_time() - started) / calls


def pin_to_cpu(cpu: int) -> None:
    """Keep this process on one CPU, when the machine has it (the others run the load generator and the sink)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})


def table(title: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """`rows` as a plain-text table of `columns`; a Spread-shaped value prints as `median [min-max]`."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[index]) for line in cells)]) for index, column in enumerate(columns)]
    lines = [title, "  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, Mapping) and "median" in value:
        return f"{value['median']:.4g} [{value['min']:.4g}-{value['max']:.4g}]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
