"""Settings read from the environment, with one clear error per invalid variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///resources.db"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_RESOURCE_COUNT_INTERVAL_S = 15
_SUPPORTED_DRIVERS = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class SettingsError(ValueError):
    """An environment variable has a value the service cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What the service is configured with."""

    database_url: str = DEFAULT_DATABASE_URL
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    resource_count_interval_s: float = DEFAULT_RESOURCE_COUNT_INTERVAL_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Settings from `DATABASE_URL`, `MAX_BODY_BYTES` and `RESOURCE_COUNT_INTERVAL_SECONDS`, with defaults."""
        database_url = env.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        if not database_url.startswith(_SUPPORTED_DRIVERS):
            raise SettingsError(f"DATABASE_URL must start with one of {', '.join(_SUPPORTED_DRIVERS)}")
        return cls(
            database_url=database_url, max_body_bytes=_positive_int(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
        )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) == 0:
        raise SettingsError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)
