"""The admission gate on its own: the bound holds, the line is first come first served, nothing leaks."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from core.semantic_conventions import ShedReason
from entrypoints.http.admission import AdmissionGate
from entrypoints.settings import AdmissionSettings

# (event-loop turns before the request arrives, turns it holds its slot)
Request = tuple[int, int]
requests = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=30)


async def _run(gate: AdmissionGate, arrivals: list[Request], limit: int, max_waiting: int) -> list[str]:
    """Every request through the gate; checks the bound at each step; what happened to each, in order of events."""
    events: list[str] = []

    async def one(index: int, delay: int, hold: int) -> None:
        for _ in range(delay):
            await asyncio.sleep(0)
        refused = await gate.enter()
        if refused is not None:
            events.append(f"shed {index} {refused}")
            return
        events.append(f"admitted {index}")
        assert gate.in_flight <= limit
        assert gate.waiting <= max_waiting
        try:
            for _ in range(hold):
                await asyncio.sleep(0)
        finally:
            gate.leave()

    await asyncio.gather(*(one(index, delay, hold) for index, (delay, hold) in enumerate(arrivals)))
    return events


@settings(max_examples=200, deadline=None)
@given(requests, st.integers(1, 4), st.integers(0, 4))
def test_every_request_is_admitted_or_shed_and_the_gate_ends_empty(
    arrivals: list[Request], limit: int, max_waiting: int
) -> None:
    shed: list[ShedReason] = []
    gate = AdmissionGate(AdmissionSettings(limit, max_waiting, max_wait_s=60.0), on_shed=shed.append)

    events = asyncio.run(_run(gate, arrivals, limit, max_waiting))

    assert len(events) == len(arrivals)
    assert shed == ["queue_full"] * sum(event.startswith("shed") for event in events)
    assert (gate.in_flight, gate.waiting) == (0, 0)
    if len(arrivals) <= limit:
        assert shed == []


def test_waiting_requests_are_admitted_in_the_order_they_came() -> None:
    async def scenario() -> list[int]:
        gate = AdmissionGate(AdmissionSettings(1, 3, max_wait_s=60.0), on_shed=lambda _reason: None)
        assert await gate.enter() is None
        admitted: list[int] = []

        async def waiter(index: int) -> None:
            assert await gate.enter() is None
            admitted.append(index)
            gate.leave()

        tasks = [asyncio.create_task(waiter(index)) for index in range(3)]
        await asyncio.sleep(0)
        assert gate.waiting == 3
        gate.leave()
        await asyncio.gather(*tasks)
        assert (gate.in_flight, gate.waiting) == (0, 0)
        return admitted

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_a_request_waits_at_most_max_wait_then_is_shed_for_its_wait() -> None:
    async def scenario() -> tuple[ShedReason | None, float, list[ShedReason]]:
        shed: list[ShedReason] = []
        gate = AdmissionGate(AdmissionSettings(1, 1, max_wait_s=0.02), on_shed=shed.append)
        assert await gate.enter() is None
        started = asyncio.get_running_loop().time()
        refused = await gate.enter()
        waited = asyncio.get_running_loop().time() - started
        gate.leave()
        assert (gate.in_flight, gate.waiting) == (0, 0)
        return refused, waited, shed

    refused, waited, shed = asyncio.run(scenario())

    assert (refused, shed) == ("wait_timeout", ["wait_timeout"])
    assert 0.02 <= waited < 0.5


def test_a_waiting_request_whose_client_leaves_gives_up_its_place() -> None:
    async def scenario() -> AdmissionGate:
        gate = AdmissionGate(AdmissionSettings(1, 2, max_wait_s=60.0), on_shed=lambda _reason: None)
        assert await gate.enter() is None
        gone = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert gate.waiting == 0
        gate.leave()
        # The slot went back to the pool, not to the request that left.
        assert await gate.enter() is None
        gate.leave()
        return gate

    gate = asyncio.run(scenario())
    assert (gate.in_flight, gate.waiting) == (0, 0)


def test_a_request_cancelled_once_handed_a_slot_hands_it_on() -> None:
    async def scenario() -> AdmissionGate:
        gate = AdmissionGate(AdmissionSettings(1, 2, max_wait_s=60.0), on_shed=lambda _reason: None)
        assert await gate.enter() is None
        first = asyncio.create_task(gate.enter())
        second = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        gate.leave()  # hands the slot to `first`, which has not resumed yet
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        assert await second is None
        gate.leave()
        return gate

    gate = asyncio.run(scenario())
    assert (gate.in_flight, gate.waiting) == (0, 0)
