"""initial schema

The resources and their dependency edges, exactly as `create_all` made them before migrations existed: a database
made by that release is stamped with this revision instead of running it.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 02:31:53.722441
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        # advanced-alchemy's insert sentinel (UUIDBase): lets SQLAlchemy batch the INSERTs of many rows.
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
        sa.UniqueConstraint("name", name=op.f("uq_resources_name")),
    )
    op.create_index("ix_resources_created_at_id", "resources", ["created_at", "id"])
    op.create_table(
        "resource_dependencies",
        sa.Column("resource_id", GUID(length=16), nullable=False),
        sa.Column("dependency_id", GUID(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_resource_dependencies_resource_id_resources"),
            ondelete="CASCADE",
        ),
        # Checked at commit: a cascade deletes a set of resources in several statements.
        sa.ForeignKeyConstraint(
            ["dependency_id"],
            ["resources.id"],
            name=op.f("fk_resource_dependencies_dependency_id_resources"),
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("resource_id", "dependency_id", name=op.f("pk_resource_dependencies")),
    )
    op.create_index(op.f("ix_resource_dependencies_dependency_id"), "resource_dependencies", ["dependency_id"])


def downgrade() -> None:
    op.drop_table("resource_dependencies")
    op.drop_table("resources")
