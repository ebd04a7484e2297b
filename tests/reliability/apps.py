"""Both apps built in process for the reliability tests, reusing the e2e suite's app factory."""

from __future__ import annotations

from typing import Any

from e2e.apps import FRAMEWORKS, Framework, asgi_app

from core.instrumentation import NoTelemetry
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings

__all__ = ["FRAMEWORKS", "Framework", "lifespan_app"]


def lifespan_app(framework: Framework, database_url: str) -> Any:
    """`framework`'s app on `database_url`, starting and stopping its runtime with the ASGI lifespan."""
    return asgi_app(framework, bootstrap(Settings(database_url=database_url), telemetry=NoTelemetry()))
