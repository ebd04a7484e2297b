"""What the generator knows of one target's resources: small clusters, each in use by one request at a time.

Every resource the generator creates depends only on resources of its own cluster, and a request works on one
leased cluster, so concurrent requests never change what another one relies on: each request's answer is known
in advance, and any other answer is a fault of the service.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

CLUSTER_MAX_SIZE = 6
# Past this many resources on a target, creates give way to cascade deletes, so a long run stays bounded.
MAX_RESOURCES = 1_000
WORDS = ("payments", "auth", "billing", "catalog", "orders", "cache", "queue", "gateway", "ledger", "inventory")
ROLES = ("db", "api", "worker", "cron", "topic")


@dataclass(frozen=True, slots=True)
class Node:
    """A resource the generator created, as the server holds it."""

    id: str
    name: str
    dependencies: tuple[str, ...] = ()


@dataclass(slots=True)
class Cluster:
    """Resources that depend only on each other, in creation order: dependencies always come first."""

    nodes: list[Node] = field(default_factory=list)
    leased: bool = False

    def has_dependents(self, node: Node) -> bool:
        return any(node.id in other.dependencies for other in self.nodes)

    def depended_on(self) -> list[Node]:
        """The nodes something depends on: deleting one without cascade is refused."""
        return [node for node in self.nodes if self.has_dependents(node)]

    def leaves(self) -> list[Node]:
        """The nodes nothing depends on: the last one always is."""
        return [node for node in self.nodes if not self.has_dependents(node)]

    def dependents_closure(self, node: Node) -> set[str]:
        """The ids of `node` and of everything that depends on it, directly or not: what a cascade deletes."""
        closure = {node.id}
        for later in self.nodes[self.nodes.index(node) + 1 :]:
            if closure.intersection(later.dependencies):
                closure.add(later.id)
        return closure

    def root_of(self, node: Node) -> Node:
        """The end of the chain that starts at `node` and follows first dependencies."""
        by_id = {candidate.id: candidate for candidate in self.nodes}
        while node.dependencies:
            node = by_id[node.dependencies[0]]
        return node

    def replace(self, node: Node) -> None:
        self.nodes = [node if current.id == node.id else current for current in self.nodes]

    def remove(self, ids: set[str]) -> None:
        self.nodes = [node for node in self.nodes if node.id not in ids]


@dataclass(slots=True)
class World:
    """The clusters the generator built on one target; `token` keeps this run's names apart from any other's."""

    token: str
    clusters: list[Cluster] = field(default_factory=list)
    names_given: int = 0
    list_offset: int = 0

    @property
    def size(self) -> int:
        return sum(len(cluster.nodes) for cluster in self.clusters)

    def new_name(self, rng: random.Random) -> str:
        self.names_given += 1
        return f"{rng.choice(WORDS)}-{rng.choice(ROLES)}-{self.token}-{self.names_given}"

    def lease(self, rng: random.Random, fits: Callable[[Cluster], bool] = lambda _cluster: True) -> Cluster | None:
        """A random free cluster that `fits`, now leased; None when there is none."""
        free = [cluster for cluster in self.clusters if not cluster.leased and cluster.nodes and fits(cluster)]
        if not free:
            return None
        cluster = rng.choice(free)
        cluster.leased = True
        return cluster

    def adopt(self, node: Node) -> None:
        """A new resource with no dependencies starts a cluster of its own."""
        self.clusters.append(Cluster([node]))

    def release(self, cluster: Cluster, *, known: bool) -> None:
        """Give `cluster` back; when its state on the server is no longer `known`, forget it instead."""
        cluster.leased = False
        if not known or not cluster.nodes:
            self.clusters.remove(cluster)
