"""The process's CPU, memory, threads, file descriptors and garbage collector, by the system-metrics instrumentation.

The library names them by the semantic conventions but for two things: it still calls the file descriptors by their
deprecated name, renamed here by a view (`PROCESS_METRIC_VIEWS`, which the meter provider is built with); and it
adds the deprecated string `generation` beside `cpython.gc.generation` on the collector's metrics, which the views
drop. Where it differs and nothing can rename it (`process.cpu.time` says `type`, not `cpu.mode`), the docs say so
(docs/metrics-reference.md, "Process metrics").
"""

from __future__ import annotations

from typing import Final

from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.metrics.view import View

from core.semantic_conventions import (
    ATTR_GC_GENERATION,
    GC_COLLECTED_OBJECTS,
    GC_COLLECTIONS,
    GC_UNCOLLECTABLE_OBJECTS,
    PROCESS_CPU_TIME,
    PROCESS_FILE_DESCRIPTOR_COUNT,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_THREAD_COUNT,
)

_LIBRARY_FILE_DESCRIPTOR_COUNT: Final = "process.open_file_descriptor.count"
# The library's configuration: the metrics it reports, each with the values of its one attribute (None: none).
_CONFIG: Final[dict[str, list[str] | None]] = {
    PROCESS_CPU_TIME: ["user", "system"],
    PROCESS_MEMORY_USAGE: None,
    PROCESS_MEMORY_VIRTUAL: None,
    PROCESS_THREAD_COUNT: None,
    _LIBRARY_FILE_DESCRIPTOR_COUNT: None,
    GC_COLLECTIONS: None,
    GC_COLLECTED_OBJECTS: None,
    GC_UNCOLLECTABLE_OBJECTS: None,
}
PROCESS_METRIC_VIEWS: Final = (
    View(instrument_name=_LIBRARY_FILE_DESCRIPTOR_COUNT, name=PROCESS_FILE_DESCRIPTOR_COUNT),
    *(
        View(instrument_name=name, attribute_keys={ATTR_GC_GENERATION})
        for name in (GC_COLLECTIONS, GC_COLLECTED_OBJECTS, GC_UNCOLLECTABLE_OBJECTS)
    ),
)


class OtelProcessMetrics:
    """The library's instrumentor, reporting to one meter provider from `start` to `stop`.

    It is one per process (an OpenTelemetry instrumentor is a singleton), as the process it measures is: a second
    start in the same process, before the first stopped, reports nothing more (the library logs a warning).
    """

    def __init__(self) -> None:
        self._instrumentor = SystemMetricsInstrumentor(config=_CONFIG)

    def start(self, meter_provider: MeterProvider) -> None:
        """Observe the process from now on, at every collection of `meter_provider`."""
        self._instrumentor.instrument(meter_provider=meter_provider)

    def stop(self) -> None:
        """Let another meter provider observe the process (this one keeps the instruments, which it shuts down)."""
        self._instrumentor.uninstrument()
