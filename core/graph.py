"""Graph rules: how a new dependency closes a cycle, found without recursion."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import TypeVar
from uuid import UUID

# Resource ids, or any stand-in for them that is cheaper to hash (the SQL adapter walks SQLite's 16 bytes).
Node = TypeVar("Node", bound=Hashable)


def shortest_path(edges: Iterable[tuple[Node, Node]], starts: Iterable[Node], goal: Node) -> list[Node] | None:
    """The shortest walk along `edges` (from, to) from any of `starts` to `goal`, both ends included."""
    successors: dict[Node, list[Node]] = {}
    for source, target in edges:
        successors.setdefault(source, []).append(target)
    came_from: dict[Node, Node | None] = {}
    queue: deque[Node] = deque()
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


def _walk_back(came_from: dict[Node, Node | None], goal: Node) -> list[Node]:
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
