"""The request mix: each kind of request planned against the world, with the answer it must get."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import httpx

from entrypoints.traffic.world import CLUSTER_MAX_SIZE, MAX_RESOURCES, WORDS, Cluster, Node, World

Kind = Literal[
    "create",
    "get",
    "list",
    "search",
    "dependencies",
    "update",
    "delete",
    "cascade",
    "invalid",
    "unknown-id",
    "circular",
    "has-dependents",
    "duplicate-name",
]
# Cards per round: what a client of a dependency registry mostly does, and the mistakes it makes.
SUCCESS_DECK: Mapping[Kind, int] = {
    "create": 6,
    "get": 4,
    "list": 2,
    "search": 2,
    "dependencies": 2,
    "update": 2,
    "delete": 1,
    "cascade": 1,
}
ERROR_DECK: Mapping[Kind, int] = {
    "invalid": 1,
    "unknown-id": 1,
    "circular": 1,
    "has-dependents": 1,
    "duplicate-name": 1,
}
KINDS: tuple[Kind, ...] = (*SUCCESS_DECK, *ERROR_DECK)
PROBLEM_PREFIX = "urn:resource-service:problem:"

# Applies an expected answer to the world; returns what was wrong with it, if anything.
Apply = Callable[[httpx.Response], str | None]


def _accept(_response: httpx.Response) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Call:
    """One request, the status it must get, and what that answer changes in the world."""

    kind: Kind
    method: str
    path: str
    expected: int
    json: object = None
    raw_json: bytes | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    cluster: Cluster | None = None
    apply: Apply = _accept


Planner = Callable[[World, random.Random], Call | None]


def _problem(slug: str) -> Apply:
    def check(response: httpx.Response) -> str | None:
        problem_type = response.json().get("type")
        return None if problem_type == PROBLEM_PREFIX + slug else f"problem type {problem_type!r}, expected {slug!r}"

    return check


def _random_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _description(rng: random.Random) -> str:
    return f"{rng.choice(WORDS)} component, owned by team {rng.choice(WORDS)}"


def _create_root(world: World, rng: random.Random) -> Call:
    name = world.new_name(rng)

    def apply(response: httpx.Response) -> None:
        world.adopt(Node(response.json()["id"], name))

    return Call("create", "POST", "/resources", 201, {"name": name, "description": _description(rng)}, apply=apply)


def _create(world: World, rng: random.Random) -> Call:
    cluster = world.lease(rng, lambda c: len(c.nodes) < CLUSTER_MAX_SIZE) if rng.random() < 0.7 else None
    if cluster is None:
        return _create_root(world, rng)
    name = world.new_name(rng)
    dependencies = tuple(node.id for node in rng.sample(cluster.nodes, rng.randint(1, min(3, len(cluster.nodes)))))

    def apply(response: httpx.Response) -> None:
        cluster.nodes.append(Node(response.json()["id"], name, dependencies))

    body = {"name": name, "description": _description(rng), "dependencies": list(dependencies)}
    return Call("create", "POST", "/resources", 201, body, cluster=cluster, apply=apply)


def _get(world: World, rng: random.Random) -> Call | None:
    cluster = world.lease(rng)
    if cluster is None:
        return None
    node = rng.choice(cluster.nodes)

    def check(response: httpx.Response) -> str | None:
        return None if response.json()["id"] == node.id else f"GET {node.id} answered another resource"

    return Call("get", "GET", f"/resources/{node.id}", 200, cluster=cluster, apply=check)


def _list(world: World, rng: random.Random) -> Call:
    offset, limit = world.list_offset, rng.choice((10, 25, 50))

    def turn_page(response: httpx.Response) -> None:
        world.list_offset = offset + limit if offset + limit < response.json()["total"] else 0

    params = {"limit": str(limit), "offset": str(offset)}
    return Call("list", "GET", "/resources", 200, params=params, apply=turn_page)


def _search(world: World, rng: random.Random) -> Call:
    text = rng.choice((*WORDS, world.token))
    query = text.upper() if rng.random() < 0.3 else text
    return Call("search", "GET", "/resources/search", 200, params={"q": query, "limit": "20"})


def _dependencies(world: World, rng: random.Random) -> Call | None:
    cluster = world.lease(rng)
    if cluster is None:
        return None
    node = rng.choice(cluster.nodes)
    transitive = rng.random() < 0.5

    def check(response: httpx.Response) -> str | None:
        found = {item["id"] for item in response.json()["items"]}
        if transitive or found == set(node.dependencies):
            return None
        return f"dependencies of {node.id}: {len(found)} answered, {len(node.dependencies)} expected"

    params = {"transitive": str(transitive).lower()}
    return Call(
        "dependencies", "GET", f"/resources/{node.id}/dependencies", 200, params=params, cluster=cluster, apply=check
    )


def _update(world: World, rng: random.Random) -> Call | None:
    cluster = world.lease(rng, lambda c: len(c.nodes) >= 2)
    if cluster is None:
        return None
    position = rng.randrange(1, len(cluster.nodes))
    node = cluster.nodes[position]
    # Only earlier nodes: the creation order stays a topological order, so the change never closes a cycle.
    earlier = cluster.nodes[:position]
    changed = replace(node, dependencies=tuple(n.id for n in rng.sample(earlier, rng.randint(0, min(3, position)))))

    def apply(response: httpx.Response) -> None:
        cluster.replace(changed)

    body = {"dependencies": list(changed.dependencies), "description": _description(rng)}
    return Call("update", "PATCH", f"/resources/{node.id}", 200, body, cluster=cluster, apply=apply)


def _delete(world: World, rng: random.Random) -> Call | None:
    cluster = world.lease(rng)
    if cluster is None:
        return None
    node = rng.choice(cluster.leaves())

    def apply(response: httpx.Response) -> None:
        cluster.remove({node.id})

    return Call("delete", "DELETE", f"/resources/{node.id}", 204, cluster=cluster, apply=apply)


def _cascade(world: World, rng: random.Random) -> Call | None:
    cluster = world.lease(rng)
    if cluster is None:
        return None
    node = rng.choice(cluster.depended_on() or cluster.nodes)
    doomed = cluster.dependents_closure(node)

    def apply(response: httpx.Response) -> str | None:
        deleted = set(response.json()["deleted"])
        cluster.remove(doomed)
        return None if deleted == doomed else f"cascade from {node.id} deleted {len(deleted)}, expected {len(doomed)}"

    params = {"cascade": "true"}
    return Call("cascade", "DELETE", f"/resources/{node.id}", 200, params=params, cluster=cluster, apply=apply)


def _invalid(world: World, rng: random.Random) -> Call:
    name = world.new_name(rng)
    variants = (
        Call("invalid", "POST", "/resources", 422, {"name": ""}),
        Call("invalid", "POST", "/resources", 422, {"name": "   "}),
        Call("invalid", "POST", "/resources", 422, {"name": name, "dependencies": ["not-a-uuid"]}),
        Call("invalid", "POST", "/resources", 422, {"name": name, "colour": "red"}),
        Call("invalid", "POST", "/resources", 422, {"name": name, "dependencies": [_random_id(rng)]}),
        Call("invalid", "POST", "/resources", 400, raw_json=b'{"name": "unterminated'),
        Call("invalid", "GET", "/resources", 422, params={"limit": "0"}),
    )
    return rng.choice(variants)


def _unknown_id(world: World, rng: random.Random) -> Call:
    path = f"/resources/{_random_id(rng)}"
    variants = (
        Call("unknown-id", "GET", path, 404),
        Call("unknown-id", "PATCH", path, 404, {"description": "gone"}),
        Call("unknown-id", "DELETE", path, 404),
        Call("unknown-id", "GET", f"{path}/dependencies", 404),
    )
    return replace(rng.choice(variants), apply=_problem("resource-not-found"))


def _circular(world: World, rng: random.Random) -> Call | None:
    cluster = world.lease(rng, lambda c: any(node.dependencies for node in c.nodes))
    if cluster is None:
        return None
    tail = rng.choice([node for node in cluster.nodes if node.dependencies])
    head = cluster.root_of(tail)
    body = {"dependencies": [tail.id]}
    return Call(
        "circular", "PATCH", f"/resources/{head.id}", 409, body, cluster=cluster, apply=_problem("circular-dependency")
    )


def _has_dependents(world: World, rng: random.Random) -> Call | None:
    cluster = world.lease(rng, lambda c: bool(c.depended_on()))
    if cluster is None:
        return None
    node = rng.choice(cluster.depended_on())
    path = f"/resources/{node.id}"
    return Call("has-dependents", "DELETE", path, 409, cluster=cluster, apply=_problem("has-dependents"))


def _duplicate_name(world: World, rng: random.Random) -> Call | None:
    cluster = world.lease(rng)
    if cluster is None:
        return None
    body = {"name": rng.choice(cluster.nodes).name}
    return Call("duplicate-name", "POST", "/resources", 409, body, cluster=cluster, apply=_problem("duplicate-name"))


PLANNERS: Mapping[Kind, Planner] = {
    "create": _create,
    "get": _get,
    "list": _list,
    "search": _search,
    "dependencies": _dependencies,
    "update": _update,
    "delete": _delete,
    "cascade": _cascade,
    "invalid": _invalid,
    "unknown-id": _unknown_id,
    "circular": _circular,
    "has-dependents": _has_dependents,
    "duplicate-name": _duplicate_name,
}


@dataclass
class _Deck:
    """Kinds dealt in shuffled rounds, so that every kind comes up, each as often as its number of cards."""

    cards_per_kind: Mapping[Kind, int]
    cards: list[Kind] = field(default_factory=list)

    def deal(self, rng: random.Random) -> Kind:
        if not self.cards:
            self.cards = [kind for kind, count in self.cards_per_kind.items() for _ in range(count)]
            rng.shuffle(self.cards)
        return self.cards.pop()

    def put_back(self, kind: Kind, rng: random.Random) -> None:
        self.cards.insert(rng.randint(0, len(self.cards)), kind)


@dataclass
class Mix:
    """The requests for one target: a deliberate mistake `error_ratio` of the time, else a normal one."""

    error_ratio: float
    normal: _Deck = field(default_factory=lambda: _Deck(SUCCESS_DECK))
    mistakes: _Deck = field(default_factory=lambda: _Deck(ERROR_DECK))

    def next_call(self, world: World, rng: random.Random) -> Call:
        deck = self.mistakes if rng.random() < self.error_ratio else self.normal
        kind = deck.deal(rng)
        if kind == "create" and world.size >= MAX_RESOURCES:
            kind = "cascade"
        call = PLANNERS[kind](world, rng)
        if call is not None:
            return call
        # The kind needs resources the target does not have free yet: it comes again later in the round.
        deck.put_back(kind, rng)
        return _create(world, rng) if deck is self.normal else rng.choice((_invalid, _unknown_id))(world, rng)
