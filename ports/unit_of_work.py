"""The transaction port: each service operation runs in exactly one transaction."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ports.repository import ResourceRepository


class UnitOfWork(Protocol):
    """Opens transactions on the resource store.

    `write()` commits when its block ends normally and rolls back when it raises, so a
    failed operation leaves the store unchanged. Write transactions are serialised with
    each other, across processes too, so that checks made inside one (dependencies exist,
    no cycle) still hold when it commits; names are kept unique by the store itself.
    `read()` sees one consistent state and never blocks writers.
    """

    def read(self, *, one_call: bool = False) -> AbstractAsyncContextManager[ResourceRepository]:
        """A read-only transaction.

        `one_call=True` promises that the block makes one call of `get`, `list_page` or `search`, each of which
        reads one consistent state on its own: the store may then skip the transaction around it.
        """
        ...

    def write(self, *, one_call: bool = False) -> AbstractAsyncContextManager[ResourceRepository]:
        """A serialised read-write transaction that commits on success.

        `one_call=True` promises that the block changes the store with one `add` of a resource without
        dependencies, then at most reads: that change is complete on its own and no other write's checks depend on
        it (nothing can depend on a new resource yet), so the store may skip the transaction and the writers' lock
        around it.
        """
        ...

    async def ping(self) -> None:
        """Return when the store answers; raise `StorageUnavailable` when it does not."""
        ...
