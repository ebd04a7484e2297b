"""The metrics port: what the core measures, in its own vocabulary."""

from __future__ import annotations

from typing import Protocol

from core.semantic_conventions import Database, ErrorType, Operation, ShedReason


class AdmissionState(Protocol):
    """What admission control holds now, read when the metrics are collected."""

    @property
    def in_flight(self) -> int: ...

    @property
    def waiting(self) -> int: ...

    @property
    def limit(self) -> int: ...


class MetricsPort(Protocol):
    """Records measurements; never raises, never blocks on export.

    Adapters map these calls to the instruments named in `core.semantic_conventions`, with the attribute
    sets built by its `*_attributes` functions, so every adapter emits the same series.
    """

    def record_operation(self, operation: Operation, duration_s: float, error_type: ErrorType | None) -> None:
        """One finished operation: its duration and count by outcome, and its error type if it failed."""
        ...

    def record_cascade(self, size: int) -> None:
        """A cascading delete removed `size` resources."""
        ...

    def record_circular_dependency(self, operation: Operation) -> None:
        """`operation` was refused because it would have closed a cycle."""
        ...

    def record_repository_call(
        self, method: str, duration_s: float, database: Database, error_type: ErrorType | None
    ) -> None:
        """One call of the repository port's `method` on `database` took `duration_s`; `error_type` if it failed."""
        ...

    def set_resource_count(self, count: int) -> None:
        """The number of resources stored, as read from the store (not counted in this process)."""
        ...

    def observe_admission(self, state: AdmissionState) -> None:
        """Report `state`'s requests in flight and waiting, and its limit, each time the metrics are collected."""
        ...

    def record_shed(self, reason: ShedReason) -> None:
        """Admission control refused a request, for `reason`."""
        ...
