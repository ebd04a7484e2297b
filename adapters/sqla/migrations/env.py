"""Alembic's environment: runs the revisions on the connection `adapters.sqla.schema` shares with it.

That connection is already in a transaction holding the writers' lock, so Alembic joins that transaction
instead of opening its own: all the revisions of one upgrade commit together, and one process migrates at a time.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, cast

from alembic import context
from sqlalchemy.engine import Connection

from adapters.sqla.schema import (
    SHARED_CONNECTION,
    VERSION_CHANGED,
    compare_column_type,
    render_advanced_alchemy_type,
)
from adapters.sqla.tables import metadata

if TYPE_CHECKING:
    from advanced_alchemy.alembic.commands import AlembicCommandConfig
    from alembic.runtime.migration import MigrationContext, MigrationInfo

config = cast("AlembicCommandConfig", context.config)


def note_version_change(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """Tell `adapters.sqla.schema` that this command moved the database to another revision."""
    config.attributes[VERSION_CHANGED] = True


def run_migrations(connection: Connection) -> None:
    """Run the command Alembic was given on `connection`, inside the transaction the connection is in."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=compare_column_type if config.compare_type else False,
        version_table=config.version_table_name,
        version_table_schema=config.version_table_schema,
        version_table_pk=config.version_table_pk,
        user_module_prefix=config.user_module_prefix,
        render_as_batch=config.render_as_batch,
        render_item=render_advanced_alchemy_type,
        on_version_apply=note_version_change,
    )
    with context.begin_transaction():
        context.run_migrations()


shared_connection = config.attributes.get(SHARED_CONNECTION)
if not isinstance(shared_connection, Connection):
    raise RuntimeError("run migrations with `resource-service db`, which hands Alembic a connection holding the lock")
run_migrations(shared_connection)
