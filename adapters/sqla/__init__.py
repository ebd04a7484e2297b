"""The advanced-alchemy (SQLAlchemy async) persistence adapter."""

from adapters.sqla.engine import create_engine, create_schema
from adapters.sqla.repository import SqlaResourceRepository
from adapters.sqla.unit_of_work import SqlaUnitOfWork

__all__ = ["SqlaResourceRepository", "SqlaUnitOfWork", "create_engine", "create_schema"]
