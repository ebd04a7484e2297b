"""What a run counted: per target, by kind of request and status, with latencies and the faults it saw."""

from __future__ import annotations

import math
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Literal

from entrypoints.traffic.mix import Kind

# The status recorded for a request that got no answer (connection refused, reset, timed out).
NO_ANSWER = 0
# ok: the success it was meant to get; expected error: the deliberate mistake got its 4xx; unexpected: anything else.
Outcome = Literal["ok", "expected error", "unexpected"]
FAULTS_KEPT = 20


def status_class(status: int) -> str:
    """`2xx`, `4xx`, `5xx`… or `no answer`."""
    return "no answer" if status == NO_ANSWER else f"{status // 100}xx"


@dataclass
class TargetSummary:
    """Everything sent to one target."""

    target: str
    counts: defaultdict[Kind, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    faults: list[str] = field(default_factory=list)

    def record(self, kind: Kind, status: int, outcome: Outcome, latency: float | None, fault: str | None) -> None:
        self.counts[kind][status] += 1
        self.outcomes[outcome] += 1
        if latency is not None:
            self.latencies.append(latency)
        if fault and len(self.faults) < FAULTS_KEPT:
            self.faults.append(fault)

    @property
    def sent(self) -> int:
        return self.outcomes.total()

    def by_status_class(self) -> Counter[str]:
        classes: Counter[str] = Counter()
        for statuses in self.counts.values():
            for status, count in statuses.items():
                classes[status_class(status)] += count
        return classes

    def latency_percentile(self, percent: float) -> float | None:
        """The nearest-rank percentile of the answered requests' latencies, in seconds; None without any."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)]


@dataclass(frozen=True, slots=True)
class TrafficProgress:
    """A run so far: requests sent, the outcomes of those that are over, and how many were skipped."""

    elapsed: float
    sent: int
    outcomes: Counter[Outcome]
    skipped: int

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True, slots=True)
class TrafficSummary:
    """A finished run: requests went out for `sending_seconds`, the last answer came at `elapsed`; `skipped`
    counts the requests not sent because `concurrency` were already in flight."""

    targets: tuple[TargetSummary, ...]
    sending_seconds: float
    elapsed: float
    skipped: int

    @property
    def sent(self) -> int:
        return sum(target.sent for target in self.targets)

    @property
    def unexpected(self) -> int:
        return sum(target.outcomes["unexpected"] for target in self.targets)

    @property
    def rate(self) -> float:
        """Requests sent per second while sending: the achieved rate."""
        return self.sent / self.sending_seconds if self.sending_seconds > 0 else 0.0

    def counts(self, kind: Kind) -> Counter[int]:
        """The statuses `kind` got, over every target."""
        total: Counter[int] = Counter()
        for target in self.targets:
            total.update(target.counts.get(kind, Counter()))
        return total
