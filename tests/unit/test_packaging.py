"""The wheel carries every package and the migration scripts: under tox the tests import it, not the source tree."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

PACKAGES = ("core", "ports", "adapters", "entrypoints")
SOURCE_SCRIPTS = Path(__file__).resolve().parents[2] / "adapters" / "sqla" / "migrations"


@pytest.mark.skipif(not os.environ.get("EXPECT_INSTALLED_WHEEL"), reason="only meaningful against an installed wheel")
@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_comes_from_the_installed_wheel(package: str) -> None:
    module_file = Path(str(importlib.import_module(package).__file__)).resolve()
    assert "site-packages" in module_file.parts
    assert (module_file.parent / "py.typed").is_file()


@pytest.mark.skipif(not os.environ.get("EXPECT_INSTALLED_WHEEL"), reason="only meaningful against an installed wheel")
def test_the_wheel_carries_the_migration_scripts_and_every_revision() -> None:
    installed = Path(str(importlib.import_module("adapters.sqla.migrations").__file__)).resolve().parent
    assert "site-packages" in installed.parts
    assert (installed / "env.py").is_file()
    assert (installed / "script.py.mako").is_file()
    revisions = {path.name for path in (SOURCE_SCRIPTS / "versions").glob("*.py")}
    assert {path.name for path in (installed / "versions").glob("*.py")} == revisions
