"""Requests in a loop for a profiler: one framework, one configuration, one operation, for some seconds.

    py-spy record -r 250 -f raw --full-filenames --threads -o get.txt -- \
        python -m tests.benchmarks.profile_requests fastapi otel get 30

The inprocess suite's subjects and requests (raw ASGI calls over the in-memory store; `otel` exports to a sink of
its own), so a profile shows what that suite measures; `sdk_floor` instead of a configuration replays the
request's SDK floor (sdk_floor.py). Prints the number of requests made.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Final

from adapters.memory.repository import InMemoryUnitOfWork

from .configurations import CONFIGURATIONS, FRAMEWORKS, Configuration, Framework, app_for, runtime_for
from .inprocess import OPERATIONS, Operation, Subject, otlp_endpoint
from .primitives import otlp_providers
from .sdk_floor import SdkFloor, capture, timed_replay
from .sink import OtlpSink

BATCH: Final = 200
# The bare SDK replaying what one request emits (sdk_floor.py), instead of a configuration of the app.
SDK_FLOOR: Final = "sdk_floor"


async def requests_for(framework: Framework, configuration: Configuration, operation: Operation, seconds: float) -> int:
    """Batches of `operation` for about `seconds`; how many requests were made."""
    runtime = runtime_for(configuration, framework, InMemoryUnitOfWork())
    subject = Subject(framework, configuration, runtime, app_for(framework, runtime))
    await runtime.start()
    try:
        await subject.prepare(BATCH)
        made = 0
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            await subject.timed_batch(operation, BATCH)
            made += BATCH
        return made
    finally:
        await runtime.stop()


def floor_requests_for(framework: Framework, operation: Operation, seconds: float, endpoint: str) -> int:
    """The SDK floor of `operation` replayed in batches for about `seconds`; how many requests were replayed."""
    script = asyncio.run(capture(framework, BATCH))[operation]
    with otlp_providers(endpoint) as providers:
        replay = SdkFloor(providers).replay(script)
        made = 0
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            timed_replay(replay, BATCH)
            made += BATCH
        return made


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.profile_requests", description=__doc__)
    parser.add_argument("framework", choices=FRAMEWORKS)
    parser.add_argument("configuration", choices=[*CONFIGURATIONS, SDK_FLOOR])
    parser.add_argument("operation", choices=OPERATIONS)
    parser.add_argument("seconds", type=float)
    arguments = parser.parse_args()
    with OtlpSink() as sink, otlp_endpoint(sink.endpoint):
        if arguments.configuration == SDK_FLOOR:
            made = floor_requests_for(arguments.framework, arguments.operation, arguments.seconds, sink.endpoint)
        else:
            made = asyncio.run(
                requests_for(arguments.framework, arguments.configuration, arguments.operation, arguments.seconds)
            )
    print(f"requests: {made}")


if __name__ == "__main__":
    main()
