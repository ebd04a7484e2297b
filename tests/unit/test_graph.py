"""Shortest paths along dependency edges, without recursion."""

from __future__ import annotations

import itertools
from uuid import UUID, uuid4

from core.graph import cycle_closed_by, shortest_path


def _ids(count: int) -> list[UUID]:
    return [uuid4() for _ in range(count)]


def test_no_path_when_the_goal_is_unreachable() -> None:
    a, b, c = _ids(3)
    assert shortest_path([(a, b)], [a], c) is None


def test_the_path_includes_both_ends() -> None:
    a, b, c = _ids(3)
    assert shortest_path([(a, b), (b, c)], [a], c) == [a, b, c]


def test_a_start_that_is_the_goal_is_a_path_of_one() -> None:
    (a,) = _ids(1)
    assert shortest_path([], [a], a) == [a]


def test_the_shortest_of_several_paths_is_chosen() -> None:
    a, b, c, d = _ids(4)
    assert shortest_path([(a, b), (b, c), (c, d), (a, d)], [a], d) == [a, d]


def test_any_start_may_begin_the_path() -> None:
    a, b, c = _ids(3)
    assert shortest_path([(b, c)], [a, b], c) == [b, c]


def test_a_long_chain_needs_no_recursion() -> None:
    chain = _ids(50_000)
    path = shortest_path(itertools.pairwise(chain), [chain[0]], chain[-1])
    assert path == chain


def test_the_cycle_starts_and_ends_with_the_changed_resource() -> None:
    a, b, c = _ids(3)
    assert cycle_closed_by(a, [b, c, a]) == [a, b, c, a]
