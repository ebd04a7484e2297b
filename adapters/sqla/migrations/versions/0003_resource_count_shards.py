"""resource count shards

The kept count moves from one row to the sum over `resource_count_shards`, so that writers stop queueing on one
row: 0002's one row took a row lock in every transaction that inserted or deleted resources and held it to
commit, so every create of every process waited for the one before it to commit (pgbench, 16 clients: 0.22x the
inserts without the count). On PostgreSQL the count's statement triggers now update the row of their
transaction id modulo 64: the transactions in flight at once have nearby ids, so they nearly always update
different rows, and a transaction updates one row only, however many statements it runs, so two transactions
never wait on each other's rows in turn (no deadlock). SQLite has one writer at a time: its row triggers update
row 0, the only row it has.

The count moves over exactly: on PostgreSQL the revision first locks `resources` against inserts and deletes
(creates without dependencies do not take the writers' lock that upgrades hold), so no write lands between
reading the old count and the new triggers; SQLite's upgrades hold its one write lock.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SHARDS = 64
LOCK_WRITES = "LOCK TABLE resources IN SHARE ROW EXCLUSIVE MODE"
# The functions keep 0002's names, so 0002's statement triggers (REFERENCING its transition tables) call them.
# The row is worked out once per statement, not for each row the UPDATE's scan of the table's few pages meets.
POSTGRESQL_FUNCTIONS = tuple(
    f"""CREATE OR REPLACE FUNCTION resource_count_{change}() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        own_row integer := pg_current_xact_id()::text::bigint % {SHARDS};
        changed bigint := (SELECT count(*) FROM {change});
    BEGIN
        UPDATE resource_count_shards SET stored = stored {sign} changed WHERE shard = own_row;
        RETURN NULL;
    END $$"""
    for change, sign in (("inserted", "+"), ("deleted", "-"))
)
POSTGRESQL_0002_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION resource_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE resource_count SET stored = stored + (SELECT count(*) FROM inserted) WHERE id = 1; RETURN NULL; END
    $$""",
    """CREATE OR REPLACE FUNCTION resource_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE resource_count SET stored = stored - (SELECT count(*) FROM deleted) WHERE id = 1; RETURN NULL; END
    $$""",
)
SQLITE_TRIGGERS = (
    """CREATE TRIGGER resource_count_insert AFTER INSERT ON resources
    BEGIN UPDATE resource_count_shards SET stored = stored + 1 WHERE shard = 0; END""",
    """CREATE TRIGGER resource_count_delete AFTER DELETE ON resources
    BEGIN UPDATE resource_count_shards SET stored = stored - 1 WHERE shard = 0; END""",
)
SQLITE_0002_TRIGGERS = (
    """CREATE TRIGGER resource_count_insert AFTER INSERT ON resources
    BEGIN UPDATE resource_count SET stored = stored + 1 WHERE id = 1; END""",
    """CREATE TRIGGER resource_count_delete AFTER DELETE ON resources
    BEGIN UPDATE resource_count SET stored = stored - 1 WHERE id = 1; END""",
)


def upgrade() -> None:
    postgresql = _postgresql()
    if postgresql:
        op.execute(LOCK_WRITES)
    op.create_table(
        "resource_count_shards",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stored", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(f"shard >= 0 AND shard < {SHARDS}", name=op.f("ck_resource_count_shards_shard_in_range")),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_resource_count_shards")),
    )
    op.execute("INSERT INTO resource_count_shards (shard, stored) SELECT 0, stored FROM resource_count WHERE id = 1")
    if postgresql:
        op.execute(
            "INSERT INTO resource_count_shards (shard, stored) "
            f"SELECT shard, 0 FROM generate_series(1, {SHARDS - 1}) AS shard"
        )
        _run_all(POSTGRESQL_FUNCTIONS)
    else:
        _replace_sqlite_triggers(SQLITE_TRIGGERS)
    op.drop_table("resource_count")


def downgrade() -> None:
    postgresql = _postgresql()
    if postgresql:
        op.execute(LOCK_WRITES)
    op.create_table(
        "resource_count",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stored", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_resource_count_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_count")),
    )
    op.execute("INSERT INTO resource_count (id, stored) SELECT 1, sum(stored) FROM resource_count_shards")
    if postgresql:
        _run_all(POSTGRESQL_0002_FUNCTIONS)
    else:
        _replace_sqlite_triggers(SQLITE_0002_TRIGGERS)
    op.drop_table("resource_count_shards")


def _replace_sqlite_triggers(triggers: tuple[str, ...]) -> None:
    op.execute("DROP TRIGGER resource_count_insert")
    op.execute("DROP TRIGGER resource_count_delete")
    _run_all(triggers)


def _run_all(statements: tuple[str, ...]) -> None:
    for statement in statements:
        op.execute(statement)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"
