"""No private module or attribute of a library is reached outside `adapters/_compat/` and `entrypoints/_compat/`.

The source of core/, ports/, adapters/ and entrypoints/ is read with `ast` (none of it is imported) for:

- imports of a library's private module: `import pkg._x`, `from pkg._x import y`, `from pkg import _x`;
- private attributes, `obj._x`, read or written on anything but `self` and `cls`: the project reaches none of
  its own objects' that way, so each one is a library's;
- through `self` and `cls`, in a class built on a library's class: a private name that the library's classes
  define (a method, property, slot or attribute their own code assigns), used, assigned or overridden. The
  library classes are imported for this, and their source read.

Every finding names its file and line. What must still reach past a library's public API goes into the module
for that library under `adapters/_compat/` (a web framework's under `entrypoints/_compat/`), with the reason,
a canary test and a bound in pyproject.toml.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "ports", "adapters", "entrypoints")
COMPATS = (ROOT / "adapters" / "_compat", ROOT / "entrypoints" / "_compat")
# The logs signal of OpenTelemetry Python is published under these names only, until it is declared stable:
# "move logs to _logs ... this *will* be moved to `logs` once it's ready to be released"
# (https://github.com/open-telemetry/opentelemetry-python/pull/2240, issue #2233), the OTLP log exporters "following
# the same pattern" (https://github.com/open-telemetry/opentelemetry-python/pull/2252). The documented logs API is
# `opentelemetry._logs` (https://opentelemetry-python.readthedocs.io/en/stable/api/_logs.html), and the SDK's
# docs warn that `opentelemetry.sdk._logs` may change in minor releases: pyproject.toml bounds the SDK's.
PUBLIC_UNDERSCORE_MODULES = (
    "opentelemetry._logs",
    "opentelemetry.sdk._logs",
    "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
)
# Public API despite the underscore, so that it cannot clash with field names: namedtuple's methods, and
# SQLAlchemy's Row (https://docs.sqlalchemy.org/en/20/core/connections.html#sqlalchemy.engine.Row).
PUBLIC_UNDERSCORE_ATTRIBUTES = frozenset({"_asdict", "_fields", "_make", "_replace", "_mapping", "_tuple", "_t"})


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _is_library(module: str) -> bool:
    top = module.partition(".")[0]
    return top not in PACKAGES and top not in sys.stdlib_module_names


def _is_private_module(module: str) -> bool:
    if any(module == public or module.startswith(f"{public}.") for public in PUBLIC_UNDERSCORE_MODULES):
        return False
    return _is_library(module) and any(_is_private(part) for part in module.split(".")[1:])


@dataclass
class Module:
    """One source file: its dotted name, its tree, and what each imported name is bound to."""

    path: Path
    name: str
    tree: ast.Module
    # Local name -> (module, attribute): `import a.b as x` is ("a.b", None), `from a.b import C` is ("a.b", "C").
    bindings: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Module:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        module = cls(path, name, ast.parse(path.read_text(), str(path)))
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.partition(".")[0]
                    module.bindings[bound] = (alias.name if alias.asname else bound, None)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    module.bindings[alias.asname or alias.name] = (node.module, alias.name)
        return module

    def where(self, node: ast.stmt | ast.expr) -> str:
        return f"{self.path.relative_to(ROOT)}:{node.lineno}"


def _sources() -> dict[str, Module]:
    paths = (path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py")))
    return {module.name: module for module in map(Module.read, paths)}


def _private_imports(module: Module) -> Iterator[str]:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_private_module(alias.name):
                    yield f"{module.where(node)}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if _is_private_module(node.module):
                yield f"{module.where(node)}: from {node.module} import {', '.join(a.name for a in node.names)}"
            else:
                for alias in node.names:
                    if _is_private(alias.name) and _is_private_module(f"{node.module}.{alias.name}"):
                        yield f"{module.where(node)}: from {node.module} import {alias.name}"


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)) is not None:
        return f"{base}.{node.attr}"
    return None


def _private_attributes(module: Module) -> Iterator[str]:
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Attribute) or not _is_private(node.attr):
            continue
        if node.attr in PUBLIC_UNDERSCORE_ATTRIBUTES or _is_own(node.value):
            continue
        if _reaches_public_module_or_stdlib(module, node):
            continue
        yield f"{module.where(node)}: {ast.unparse(node)}"


def _is_own(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _reaches_public_module_or_stdlib(module: Module, node: ast.Attribute) -> bool:
    """`opentelemetry.sdk._logs` spelt as attributes, or `os._exit`: through an imported module's name."""
    dotted = _dotted(node)
    if dotted is None:
        return False
    root, _, rest = dotted.partition(".")
    bound = module.bindings.get(root)
    if bound is None or bound[1] is not None:
        return False
    return not _is_private_module(f"{bound[0]}.{rest}")


def _library_bases(module: Module, sources: dict[str, Module], klass: ast.ClassDef) -> Iterator[type]:
    """The library classes `klass` is built on, through the project's own classes too."""
    for base in klass.bases:
        resolved = _resolve(module, _dotted(base))
        if resolved is None:
            continue
        owner, name = resolved
        if owner in sources:
            own = next((n for n in sources[owner].tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
            if own is not None:
                yield from _library_bases(sources[owner], sources, own)
            elif name in sources[owner].bindings:
                yield from _library_classes(*sources[owner].bindings[name])
        elif _is_library(owner):
            yield from _library_classes(owner, name)


def _resolve(module: Module, dotted: str | None) -> tuple[str, str] | None:
    if dotted is None:
        return None
    root, _, rest = dotted.partition(".")
    if root not in module.bindings:
        return (module.name, dotted) if not rest else None
    owner, attribute = module.bindings[root]
    if attribute is not None:
        return (owner, attribute) if not rest else None
    package, _, name = f"{owner}.{rest}".rpartition(".")
    return package, name


def _library_classes(owner: str, name: str | None) -> Iterator[type]:
    value = getattr(importlib.import_module(owner), name) if name else None
    if isinstance(value, type):
        yield value


@cache
def _private_names_of(library_class: type) -> frozenset[str]:
    """What the library's classes in `library_class`'s MRO define or assign under a private name."""
    names: set[str] = set()
    for klass in library_class.__mro__:
        if not _is_library(klass.__module__):
            continue
        names.update(name for name in vars(klass) if _is_private(name))
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # a class of a C extension: its dict is all there is
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and _is_own(node.value) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return frozenset(name for name in names if _is_private(name))


def _inherited_private_names(module: Module, sources: dict[str, Module]) -> Iterator[str]:
    for klass in (node for node in ast.walk(module.tree) if isinstance(node, ast.ClassDef)):
        library = frozenset().union(*(_private_names_of(base) for base in _library_bases(module, sources, klass)))
        if not library:
            continue
        for node in (node for node in ast.walk(klass) if isinstance(node, ast.stmt | ast.expr)):
            used = _name_used_in_class(node)
            if used is not None and used in library:
                yield f"{module.where(node)}: {klass.name} reaches its library base's {used}"


def _name_used_in_class(node: ast.stmt | ast.expr) -> str | None:
    if isinstance(node, ast.Attribute) and _is_own(node.value):
        return node.attr
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


def findings() -> list[str]:
    sources = _sources()
    found: list[str] = []
    for module in (module for module in sources.values() if not set(COMPATS) & set(module.path.parents)):
        found += _private_imports(module)
        found += _private_attributes(module)
        found += _inherited_private_names(module, sources)
    return sorted(set(found), key=_by_place)


def _by_place(finding: str) -> tuple[str, int]:
    path, line, _ = finding.split(":", 2)
    return path, int(line)


def test_no_private_module_or_attribute_of_a_library_is_reached_outside_the_compat_modules() -> None:
    found = findings()
    assert not found, "reached past a library's public API outside the _compat modules:\n" + "\n".join(found)
