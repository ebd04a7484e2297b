"""The transaction port: each service operation runs in exactly one transaction."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ports.repository import ResourceRepository


class UnitOfWork(Protocol):
    """Opens transactions on the resource store.

    `write()` commits when its block ends normally and rolls back when it raises, so a
    failed operation leaves the store unchanged. Write transactions are serialised with
    each other, across processes too, so that checks made inside one (no cycle, name
    free) still hold when it commits. `read()` sees one consistent state and never blocks
    writers.
    """

    @property
    def database_system(self) -> str:
        """What stores the resources, named as OpenTelemetry's `db.system.name`: `postgresql`, `sqlite`, `memory`."""
        ...

    def read(self, *, one_call: bool = False) -> AbstractAsyncContextManager[ResourceRepository]:
        """A read-only transaction.

        `one_call=True` promises that the block makes one call of `get`, `list_page` or `search`, each of which
        reads one consistent state on its own: the store may then skip the transaction around it.
        """
        ...

    def write(self) -> AbstractAsyncContextManager[ResourceRepository]:
        """A serialised read-write transaction that commits on success."""
        ...

    async def ping(self) -> None:
        """Return when the store answers; raise `StorageUnavailable` when it does not."""
        ...
