"""`resource-service db`: the schema's Alembic revisions, run by advanced-alchemy's commands on DATABASE_URL."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from advanced_alchemy.alembic.commands import AlembicCommands
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from adapters.sqla import create_engine, upgrade_schema
from adapters.sqla.schema import SCRIPTS, alembic_commands, run_alembic
from adapters.sqla.unit_of_work import storage_error
from entrypoints.bootstrap import DatabaseNotMigrated, check_database_migrated
from entrypoints.settings import Settings, SettingsError

DESCRIPTION = (
    "The database schema's Alembic revisions (through advanced-alchemy), on the database DATABASE_URL names. "
    "`serve` upgrades to the head revision at start-up unless DATABASE_MIGRATE_ON_START=false. Commands that "
    "change the database hold the writers' lock, so they run one at a time. Exits 1 when Alembic refuses "
    "(e.g. an unknown revision) or the database cannot be reached, 2 on bad usage or settings."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The actions of `resource-service db` and their options."""
    scripts = argparse.ArgumentParser(add_help=False)
    scripts.add_argument(
        "--directory",
        type=Path,
        default=SCRIPTS,
        metavar="DIR",
        help="the migration scripts (default: adapters/sqla/migrations in the installed package)",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    upgrade = actions.add_parser(
        "upgrade",
        parents=[scripts],
        help="upgrade the database to a revision (default: head)",
        description="Upgrade the database to REVISION. A database made before migrations existed (its tables, no "
        "alembic_version table) is first stamped with the first revision, 0001, its rows untouched.",
    )
    upgrade.add_argument("revision", nargs="?", default="head", help="a revision id, or head (default)")
    downgrade = actions.add_parser(
        "downgrade",
        parents=[scripts],
        help="downgrade the database to a revision",
        description="Downgrade the database to REVISION, undoing the revisions after it (and what they stored).",
    )
    downgrade.add_argument("revision", help="a revision id, -N for N revisions back, or base: no tables at all")
    current = actions.add_parser(
        "current", parents=[scripts], help="show the database's revision", description="Show the database's revision."
    )
    current.add_argument("-v", "--verbose", action="store_true", help="with each revision's details")
    history = actions.add_parser(
        "history",
        parents=[scripts],
        help="list the revisions",
        description="List the revisions of the migration scripts, newest first; reads no database.",
    )
    history.add_argument("-r", "--rev-range", metavar="RANGE", help="only these, e.g. 0001:head")
    history.add_argument("-v", "--verbose", action="store_true", help="with each revision's details")
    revision = actions.add_parser(
        "revision",
        parents=[scripts],
        help="write a new revision script (for developers)",
        description="Write a new revision into the migration scripts (adapters/sqla/migrations/versions in an "
        "editable install). With --autogenerate, Alembic writes in it what the models (adapters/sqla/tables.py) "
        "have that the database, which must be at head, lacks. Review it, and add its upgrade test on SQLite and "
        "PostgreSQL (docs/architecture.md, Schema migrations).",
    )
    revision.add_argument("-m", "--message", required=True, help="what the revision changes, in a few words")
    revision.add_argument("--autogenerate", action="store_true", help="compare the models with the database")
    revision.add_argument("--rev-id", help="the revision id (default: the next number, e.g. 0002)")
    actions.add_parser(
        "check",
        parents=[scripts],
        help="fail when the models and the revisions disagree",
        description="Exit 1 when the models (adapters/sqla/tables.py) differ from the database, which must be at "
        "head: a schema change that has no revision yet.",
    )


def run_command(args: argparse.Namespace) -> int:
    """Run `resource-service db ACTION` as `args` say; Alembic prints what it does."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"resource-service: {exc}", file=sys.stderr)
        return 2
    _show_alembic_log()
    try:
        asyncio.run(_run(args, settings.database_url))
    except CommandError as exc:
        print(f"resource-service: {exc}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, OSError) as exc:
        print(f"resource-service: {_database_failure(exc)}", file=sys.stderr)
        return 1
    return 0


def refusal_to_serve(settings: Settings) -> str | None:
    """Why `serve` must not start: DATABASE_MIGRATE_ON_START=false and a database not at the head revision."""
    if settings.migrate_on_start:
        return None
    try:
        asyncio.run(check_database_migrated(settings.database_url))
    except DatabaseNotMigrated as exc:
        return str(exc)
    except (SQLAlchemyError, OSError) as exc:
        return f"{_database_failure(exc)}, so its schema revision cannot be checked"
    return None


def _database_failure(exc: BaseException) -> str:
    """One sentence for a database that cannot be reached or fails: the driver's words can hold user data."""
    return f"{storage_error(exc)} ({type(exc).__name__})"


async def _run(args: argparse.Namespace, database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        if args.action == "upgrade":
            await upgrade_schema(engine, args.revision, args.directory)
        elif args.action == "history":
            alembic_commands(engine, args.directory).history(rev_range=args.rev_range, verbose=args.verbose)
        else:
            await run_alembic(engine, _action(args), args.directory)
    finally:
        await engine.dispose()


def _action(args: argparse.Namespace) -> Callable[[AlembicCommands], object]:
    actions: dict[str, Callable[[AlembicCommands], object]] = {
        "downgrade": lambda commands: commands.downgrade(args.revision),
        "current": lambda commands: commands.current(verbose=args.verbose),
        "check": lambda commands: commands.check(),
        "revision": lambda commands: commands.revision(
            message=args.message, autogenerate=args.autogenerate, rev_id=args.rev_id or _next_revision_id(commands)
        ),
    }
    return actions[args.action]


def _next_revision_id(commands: AlembicCommands) -> str:
    return f"{len(list(ScriptDirectory.from_config(commands.config).walk_revisions())) + 1:04d}"


def _show_alembic_log() -> None:
    """Alembic tells what it runs through `logging`: show it on stderr, as Alembic's own command line does."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)-5.5s [%(name)s] %(message)s"))
    alembic = logging.getLogger("alembic")
    alembic.addHandler(handler)
    alembic.setLevel(logging.INFO)
    # Which autogenerate plugins load is Alembic's business, not the reader's.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
