"""The wheel carries every top-level package: under tox the tests import the installed wheel, not the source tree."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

PACKAGES = ("core", "ports", "adapters", "entrypoints")


@pytest.mark.skipif(not os.environ.get("EXPECT_INSTALLED_WHEEL"), reason="only meaningful against an installed wheel")
@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_comes_from_the_installed_wheel(package: str) -> None:
    module_file = Path(str(importlib.import_module(package).__file__)).resolve()
    assert "site-packages" in module_file.parts
    assert (module_file.parent / "py.typed").is_file()
