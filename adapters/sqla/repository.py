"""SqlaResourceRepository: the repository port in SQLAlchemy Core, on the connection of one transaction.

No ORM session: every statement is Core, built once at import where its shape is fixed (SQLAlchemy caches its
compiled form), and a resource is read together with its dependency ids in one statement.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any
from uuid import UUID

from advanced_alchemy.types import GUID
from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    CompoundSelect,
    LargeBinary,
    ScalarSelect,
    Select,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqla.tables import NAME_CONSTRAINT, dependency_edges, edge_rows, resource_count_shards, resources
from core.errors import DuplicateName
from core.graph import shortest_path
from core.model import PageRequest, Resource
from ports.repository import ResourceRepository

# Well under the bound-parameter limits of SQLite (32 766) and asyncpg (32 767).
_CHUNK = 1_000
_r = resources.c
_e = dependency_edges.c
# The `part` of a row of `_with_edges`: a resource, one of its dependency edges, or the total of a page.
_RESOURCE, _EDGE, _TOTAL = 0, 1, 2


def batched(items: Iterable[UUID], size: int = _CHUNK) -> Iterator[tuple[UUID, ...]]:
    """`items` in tuples of at most `size` (itertools.batched arrived only in Python 3.12)."""
    iterator = iter(items)
    while chunk := tuple(islice(iterator, size)):
        yield chunk


def _like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere, lower-cased."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _with_edges(chosen: Select[Any], total: ScalarSelect[Any] | None = None) -> CompoundSelect[Any]:
    """The resources `chosen` selects and their dependency edges, and `total`'s count if given, in one statement.

    Rows come as (part, id, name, description, created_at, updated_at, dependency_id, position): the resources
    first in (created_at, id) order, then the edges of each in the order the client gave, then the total.
    One statement is one snapshot, and one round trip to the database.
    """
    picked = chosen.cte("picked")
    nothing = null()
    parts = [
        select(
            literal_column(str(_RESOURCE)).label("part"),
            picked.c.id,
            picked.c.name,
            picked.c.description,
            picked.c.created_at,
            picked.c.updated_at,
            type_coerce(nothing, GUID()).label("dependency_id"),
            literal_column("0").label("position"),
        ),
        select(
            literal_column(str(_EDGE)),
            _e.resource_id,
            nothing,
            nothing,
            nothing,
            nothing,
            _e.dependency_id,
            _e.position,
        ).join(picked, _e.resource_id == picked.c.id),
    ]
    if total is not None:
        parts.append(select(literal_column(str(_TOTAL)), nothing, nothing, nothing, nothing, nothing, nothing, total))
    return union_all(*parts).order_by(
        literal_column("part"), literal_column("created_at"), literal_column("id"), literal_column("position")
    )


def _resource_columns(*filters: ColumnElement[bool]) -> Select[Any]:
    return select(_r.id, _r.name, _r.description, _r.created_at, _r.updated_at).where(*filters)


def _page(*filters: ColumnElement[bool]) -> Select[Any]:
    return (
        _resource_columns(*filters).order_by(_r.created_at, _r.id).limit(bindparam("limit")).offset(bindparam("offset"))
    )


_MATCHES = or_(
    func.lower(_r.name).like(bindparam("pattern"), escape="\\"),
    func.lower(_r.description).like(bindparam("pattern"), escape="\\"),
)
_GET = _with_edges(_resource_columns(_r.id == bindparam("id")))
_GET_MANY = _with_edges(_resource_columns(_r.id.in_(bindparam("ids", expanding=True))))
# The kept count, summed over its rows; a bigint, as `stored` is (PostgreSQL's sum of bigints is numeric).
_STORED = cast(func.sum(resource_count_shards.c.stored), BigInteger)
_LIST_PAGE = _with_edges(_page(), select(_STORED).scalar_subquery())
_SEARCH = _with_edges(_page(_MATCHES), select(func.count()).select_from(resources).where(_MATCHES).scalar_subquery())
_EXISTING_IDS = select(_r.id).where(_r.id.in_(bindparam("ids", expanding=True)))
_COUNT = select(_STORED)
_INSERT = insert(resources)
_INSERT_EDGES = insert(dependency_edges)
_UPDATE = (
    update(resources)
    .where(_r.id == bindparam("resource_id"))
    .values(name=bindparam("name"), description=bindparam("description"), updated_at=bindparam("updated_at"))
)
_DELETE_EDGES = delete(dependency_edges).where(_e.resource_id == bindparam("id"))
_DELETE = delete(resources).where(_r.id.in_(bindparam("ids", expanding=True)))
_DIRECT_DEPENDENTS = (
    select(_r.id)
    .join(dependency_edges, _e.resource_id == _r.id)
    .where(_e.dependency_id == bindparam("id"))
    .order_by(_r.created_at, _r.id)
)


class SqlaResourceRepository(ResourceRepository):
    """Resources in the `resources` table, edges in `resource_dependencies`, inside one connection's transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._fenced = connection.dialect.name == "postgresql"
        # GUID columns hold 16 bytes on SQLite (revision 0001); PostgreSQL's driver hands out its own UUIDs cheaply.
        self._ids_as_bytes = connection.dialect.name == "sqlite"

    async def get(self, resource_id: UUID) -> Resource | None:
        found, _ = _decoded(await self._connection.execute(_GET, {"id": resource_id}))
        return found[0] if found else None

    async def get_many(self, resource_ids: Collection[UUID]) -> list[Resource]:
        found: list[Resource] = []
        for chunk in batched(resource_ids):
            found += _decoded(await self._connection.execute(_GET_MANY, {"ids": chunk}))[0]
        found.sort(key=lambda resource: (resource.created_at, resource.id))
        return found

    async def existing_ids(self, resource_ids: Collection[UUID]) -> set[UUID]:
        found: set[UUID] = set()
        for chunk in batched(resource_ids):
            found.update((await self._connection.execute(_EXISTING_IDS, {"ids": chunk})).scalars())
        return found

    async def add(self, resource: Resource) -> None:
        row = {
            "id": resource.id,
            "name": resource.name,
            "description": resource.description,
            "created_at": resource.created_at,
            "updated_at": resource.updated_at,
        }
        with _unique_name(resource.name):
            await self._connection.execute(_INSERT, row)
        await self._insert_edges(resource)

    async def replace(self, resource: Resource) -> None:
        row = {
            "resource_id": resource.id,
            "name": resource.name,
            "description": resource.description,
            "updated_at": resource.updated_at,
        }
        with _unique_name(resource.name):
            await self._connection.execute(_UPDATE, row)
        await self._connection.execute(_DELETE_EDGES, {"id": resource.id})
        await self._insert_edges(resource)

    async def delete(self, resource_ids: Collection[UUID]) -> None:
        for chunk in batched(resource_ids):
            await self._connection.execute(_DELETE, {"ids": chunk})

    async def count(self) -> int:
        return int((await self._connection.execute(_COUNT)).scalar_one())

    async def list_page(self, page: PageRequest) -> tuple[list[Resource], int]:
        return _decoded(await self._connection.execute(_LIST_PAGE, {"limit": page.limit, "offset": page.offset}))

    async def search(self, text: str, page: PageRequest) -> tuple[list[Resource], int]:
        parameters = {"pattern": _like_pattern(text), "limit": page.limit, "offset": page.offset}
        return _decoded(await self._connection.execute(_SEARCH, parameters))

    async def direct_dependents(self, resource_id: UUID) -> list[UUID]:
        return list((await self._connection.execute(_DIRECT_DEPENDENTS, {"id": resource_id})).scalars())

    async def transitive_dependents(self, resource_id: UUID) -> list[UUID]:
        reached = _reachable([resource_id], _e.dependency_id, _e.resource_id.label("node"), fenced=self._fenced)
        ordered = select(_r.id).join(reached, _r.id == reached.c.node).order_by(_r.created_at, _r.id)
        return list((await self._connection.execute(ordered)).scalars())

    async def transitive_dependencies(self, resource_id: UUID) -> list[Resource]:
        reached = _reachable([resource_id], _e.resource_id, _e.dependency_id.label("node"), fenced=self._fenced)
        chosen = _resource_columns(_r.id.in_(select(reached.c.node)))
        return _decoded(await self._connection.execute(_with_edges(chosen)))[0]

    async def dependency_path(self, starts: Sequence[UUID], goal: UUID) -> list[UUID] | None:
        """One recursive query: the edges reachable from `starts`, returned only when `goal` is among them.

        The edges (`came_from`, `node`) come out of the walk itself, not from looking up each reached node's edges
        again afterwards.
        """
        edge = (_e.resource_id.label("came_from"), _e.dependency_id.label("node"))
        walked = _reachable(starts, _e.resource_id, *edge, fenced=self._fenced)
        goal_reached = exists().where(walked.c.node == goal)
        reachable_edges = select(self._stored(walked.c.came_from), self._stored(walked.c.node)).where(goal_reached)
        edges = [(source, target) for source, target in await self._connection.execute(reachable_edges)]
        if not edges:
            return None
        if not self._ids_as_bytes:
            return shortest_path(edges, starts, goal)
        path = shortest_path(edges, [start.bytes for start in starts], goal.bytes)
        return None if path is None else [UUID(bytes=node) for node in path]

    def _stored(self, column: ColumnElement[UUID]) -> ColumnElement[Any]:
        """`column` as the driver returns it on SQLite, 16 bytes: a long walk's ids become UUIDs only on the path.

        Measured on a 4 000-long chain: turning every edge's ids into UUIDs was 70% of the cycle check.
        """
        return type_coerce(column, LargeBinary()) if self._ids_as_bytes else column

    async def _insert_edges(self, resource: Resource) -> None:
        if resource.dependencies:
            await self._connection.execute(_INSERT_EDGES, edge_rows(resource.id, resource.dependencies))


@contextmanager
def _unique_name(name: str) -> Iterator[None]:
    """The unique constraint on names refusing a statement is `DuplicateName`: no query checks first.

    PostgreSQL names the constraint in its message, SQLite the column.
    """
    try:
        yield
    except IntegrityError as exc:
        if any(mark in str(exc.orig) for mark in (NAME_CONSTRAINT, "resources.name")):
            raise DuplicateName(name) from exc
        raise


def _decoded(rows: Iterable[Sequence[Any]]) -> tuple[list[Resource], int]:
    """The resources (with their dependency ids) and the total in the rows of a `_with_edges` statement."""
    columns: list[Sequence[Any]] = []
    dependencies: dict[UUID, list[UUID]] = {}
    total = 0
    for row in rows:
        part = row[0]
        if part == _RESOURCE:
            columns.append(row)
            dependencies[row[1]] = []
        elif part == _EDGE:
            dependencies[row[1]].append(row[6])
        else:
            total = row[7]
    found = [Resource(row[1], row[2], row[3], tuple(dependencies[row[1]]), row[4], row[5]) for row in columns]
    return found, total


def _reachable(origins: Sequence[UUID], source: ColumnElement[UUID], *columns: ColumnElement[Any], fenced: bool) -> CTE:
    """A recursive CTE of the rows of `columns` (one labelled `node`) of the dependency edges reachable from `origins`.

    A walk follows an edge from its `source` end to its `node`, and on along the edges whose `source` is that node.
    `UNION` (not `UNION ALL`) drops rows already reached, so the work grows with the reachable
    part of the graph, never with the number of paths through it. `fenced` (PostgreSQL) makes
    each step an index lookup per reached node: left to itself, the planner may hash-join the
    whole edge table at every step when its statistics are stale (seen: 10 s instead of 30 ms
    for a fresh 10 000-long chain). SQLite has no LATERAL and already plans index lookups.
    """
    reached = select(*columns).where(source.in_(origins)).cte("reached", recursive=True)
    if not fenced:
        return reached.union(select(*columns).join(reached, source == reached.c.node))
    # OFFSET 0 keeps the planner from flattening the LATERAL subquery back into a join.
    steps = select(*columns).where(source == reached.c.node).offset(0).lateral("steps")
    return reached.union(select(*steps.c).select_from(reached).join(steps, true()))
