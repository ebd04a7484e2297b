"""The Alembic scripts: `env.py`, the revision template and `versions/`, shipped in the package so that
`resource-service serve` can migrate a database wherever the service is installed."""
