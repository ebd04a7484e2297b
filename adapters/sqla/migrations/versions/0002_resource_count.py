"""resource count

A one-row table holding how many resources are stored, filled from the rows there are and kept in step by
triggers on `resources`, so that reporting the count after a write reads one row instead of scanning the table.
Triggers, not the application, keep it: every insert and delete counts, whichever process or release makes it.
SQLite has row triggers only; PostgreSQL's are per statement over the rows it changed (a cascade deletes
thousands of rows a statement, and updating one row thousands of times in a transaction grows its version chain).

SQLite drops a table's triggers with it: a later revision that rebuilds `resources` on SQLite (batch mode) must
create these triggers again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 05:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER resource_count_insert AFTER INSERT ON resources
    BEGIN UPDATE resource_count SET stored = stored + 1 WHERE id = 1; END""",
    """CREATE TRIGGER resource_count_delete AFTER DELETE ON resources
    BEGIN UPDATE resource_count SET stored = stored - 1 WHERE id = 1; END""",
)
POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION resource_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE resource_count SET stored = stored + (SELECT count(*) FROM inserted) WHERE id = 1; RETURN NULL; END
    $$""",
    """CREATE FUNCTION resource_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE resource_count SET stored = stored - (SELECT count(*) FROM deleted) WHERE id = 1; RETURN NULL; END
    $$""",
    """CREATE TRIGGER resource_count_insert AFTER INSERT ON resources REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION resource_count_inserted()""",
    """CREATE TRIGGER resource_count_delete AFTER DELETE ON resources REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION resource_count_deleted()""",
)


def upgrade() -> None:
    op.create_table(
        "resource_count",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stored", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_resource_count_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_count")),
    )
    # Upgrades run holding the writers' lock: no resource is added or deleted between the count and the triggers.
    op.execute("INSERT INTO resource_count (id, stored) SELECT 1, count(*) FROM resources")
    for statement in POSTGRESQL_TRIGGERS if _postgresql() else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    on_table = " ON resources" if _postgresql() else ""
    op.execute(f"DROP TRIGGER resource_count_insert{on_table}")
    op.execute(f"DROP TRIGGER resource_count_delete{on_table}")
    if _postgresql():
        op.execute("DROP FUNCTION resource_count_inserted()")
        op.execute("DROP FUNCTION resource_count_deleted()")
    op.drop_table("resource_count")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"
