"""The advanced-alchemy (SQLAlchemy async) persistence adapter."""

from adapters.sqla.engine import create_engine
from adapters.sqla.repository import SqlaResourceRepository
from adapters.sqla.schema import SchemaNotCurrentError, require_head, upgrade_schema
from adapters.sqla.unit_of_work import SqlaUnitOfWork, database_of

__all__ = [
    "SchemaNotCurrentError",
    "SqlaResourceRepository",
    "SqlaUnitOfWork",
    "create_engine",
    "database_of",
    "require_head",
    "upgrade_schema",
]
