"""Graph rules: how a new dependency closes a cycle, found without recursion."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from uuid import UUID


def shortest_path(edges: Iterable[tuple[UUID, UUID]], starts: Iterable[UUID], goal: UUID) -> list[UUID] | None:
    """The shortest walk along `edges` (from, to) from any of `starts` to `goal`, both ends included."""
    successors: dict[UUID, list[UUID]] = {}
    for source, target in edges:
        successors.setdefault(source, []).append(target)
    came_from: dict[UUID, UUID | None] = {}
    queue: deque[UUID] = deque()
    for start in starts:
        if start not in came_from:
            came_from[start] = None
            queue.append(start)
    while queue:
        node = queue.popleft()
        if node == goal:
            return _walk_back(came_from, goal)
        for successor in successors.get(node, ()):
            if successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    return None


def _walk_back(came_from: dict[UUID, UUID | None], goal: UUID) -> list[UUID]:
    path = [goal]
    previous = came_from[goal]
    while previous is not None:
        path.append(previous)
        previous = came_from[previous]
    path.reverse()
    return path


def cycle_closed_by(resource_id: UUID, path_back: list[UUID]) -> list[UUID]:
    """The cycle a new edge from `resource_id` closes, given the path from its new dependency back to it."""
    return [resource_id, *path_back]
