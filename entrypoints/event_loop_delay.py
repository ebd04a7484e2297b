"""The event loop's delay, measured by a timer: how late a sleep that is due wakes up is how long ready work waits.

One probe per process, whatever the load: it does not run per request, so its cost is fixed (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from typing import Final

from ports.saturation_metrics import SaturationMetricsPort

# Ten measurements a second: a stall of the loop longer than this is always seen, and its length measured.
PROBE_INTERVAL_S: Final = 0.1


async def measure_event_loop_delay(metrics: SaturationMetricsPort, interval_s: float = PROBE_INTERVAL_S) -> None:
    """Sleep `interval_s` again and again, and record how much later than due each sleep ended; until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        metrics.record_event_loop_delay(max(0.0, loop.time() - due))
