"""The traffic generator: drives running services with a realistic mix of requests, mistakes included.

`run_traffic(TrafficConfig(...))` is the API; `resource-service traffic` (`add_arguments`, `run_command`) is its
command line.
"""

from __future__ import annotations

from entrypoints.traffic.command import add_arguments, run_command
from entrypoints.traffic.mix import KINDS, Kind
from entrypoints.traffic.runner import DEFAULT_TARGETS, TrafficConfig, run_traffic
from entrypoints.traffic.stats import NO_ANSWER, TargetSummary, TrafficProgress, TrafficSummary

__all__ = [
    "DEFAULT_TARGETS",
    "KINDS",
    "NO_ANSWER",
    "Kind",
    "TargetSummary",
    "TrafficConfig",
    "TrafficProgress",
    "TrafficSummary",
    "add_arguments",
    "run_command",
    "run_traffic",
]
