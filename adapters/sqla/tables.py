"""The database schema: one row per resource, one row per dependency edge."""

from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import convention
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert_sentinel,
)

from core.model import NAME_MAX_LENGTH

# advanced-alchemy's naming convention, by which revision 0001 named the constraints and indexes.
metadata = MetaData(naming_convention=convention)

# A resource's own columns; its dependencies live in `dependency_edges`.
resources = Table(
    "resources",
    metadata,
    Column("id", GUID, primary_key=True),
    Column("name", String(NAME_MAX_LENGTH), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("created_at", DateTimeUTC(timezone=True), nullable=False),
    Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
    # Revision 0001 made it for the model base these tables once had (advanced-alchemy's insert sentinel).
    insert_sentinel("sa_orm_sentinel"),
    Index("ix_resources_created_at_id", "created_at", "id"),
)
# The unique constraint on names, as revision 0001 named it: PostgreSQL names it when it refuses a statement.
NAME_CONSTRAINT = "uq_resources_name"


# The check that an edge's target exists is deferred to commit: a cascade deletes a set of
# resources in several statements, and edges between them vanish only with their source.
dependency_edges = Table(
    "resource_dependencies",
    metadata,
    Column("resource_id", GUID, ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "dependency_id",
        GUID,
        ForeignKey("resources.id", deferrable=True, initially="DEFERRED"),
        primary_key=True,
        index=True,
    ),
    Column("position", Integer, nullable=False),
)


# How many resources are stored: the sum of `stored` over the rows of this table, so that reporting it never scans
# `resources`. Triggers made by revision 0003 keep it in step with every insert and delete of a resource, whoever
# makes it, in the same transaction, each transaction on one row of its own choosing (PostgreSQL: its transaction
# id modulo COUNT_SHARDS; SQLite, one writer at a time: row 0 only), so that concurrent writers do not queue on
# one row. A row's `stored` may be negative (a delete on another row than the insert's); only the sum is a count.
COUNT_SHARDS = 64
resource_count_shards = Table(
    "resource_count_shards",
    metadata,
    Column(
        "shard",
        Integer,
        CheckConstraint(f"shard >= 0 AND shard < {COUNT_SHARDS}", name="shard_in_range"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("stored", BigInteger, nullable=False),
)


def edge_rows(resource_id: UUID, dependencies: tuple[UUID, ...]) -> list[dict[str, object]]:
    """The `dependency_edges` rows of one resource, keeping the order the client gave."""
    return [
        {"resource_id": resource_id, "dependency_id": dependency, "position": position}
        for position, dependency in enumerate(dependencies)
    ]
