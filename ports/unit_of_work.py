"""The transaction port: each service operation runs in one transaction, or in none when each call is whole."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ports.repository import AutocommitRepository, ResourceRepository


class UnitOfWork(Protocol):
    """Opens transactions on the resource store.

    `write()` commits when its block ends normally and rolls back when it raises, so a
    failed operation leaves the store unchanged. Write transactions are serialised with
    each other, across processes too, so that checks made inside one (dependencies exist,
    no cycle) still hold when it commits; names are kept unique by the store itself.
    `read()` sees one consistent state and never blocks writers. `autocommit()` is for what needs neither: a
    block of calls that are each complete on their own.
    """

    def read(self) -> AbstractAsyncContextManager[ResourceRepository]:
        """A read-only transaction."""
        ...

    def write(self) -> AbstractAsyncContextManager[ResourceRepository]:
        """A serialised read-write transaction that commits on success."""
        ...

    def autocommit(self) -> AbstractAsyncContextManager[AutocommitRepository]:
        """A block without a transaction: each call in it is one statement, committed or read on its own.

        So the block holds nothing together: what one call saw may have changed by the next, and a failure after
        an `add` leaves it stored. An `add` queues with the writers, as `write()` does.
        """
        ...

    async def ping(self) -> None:
        """Return when the store answers; raise `StorageUnavailable` when it does not."""
        ...
