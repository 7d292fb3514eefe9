"""The layering holds: lower layers never import higher ones (docs/design.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import puregrpc
import puregrpc._http2

SRC = Path(puregrpc.__file__).parent

L0 = {"_status", "_metadata", "_deadline", "_target", "_credentials", "_eager"}
L2 = {"_wire", "_compression"}
# Each package or module of ours, and the ones of ours it may import besides itself
# (docs/design.md: L0 vocabulary, L1 engine, L2 wire, L3 transport, L4/L5 calls and API).
ALLOWED: dict[str, set[str]] = {
    "_http2": set(),
    "_status": {"_metadata"},
    "_metadata": set(),
    "_deadline": set(),
    "_eager": set(),
    "_target": set(),
    "_credentials": set(),
    "_wire": {"_http2", *L0},
    "_compression": set(),
    "_transport": {"_http2", *L0, *L2},
    "_interceptors": {"_server", *L0},
    "_handlers": {"_server", *L0},
    "_server": {"_http2", "_transport", "_handlers", "_interceptors", *L0, *L2},
    "_channel": {"_http2", "_transport", "_interceptors", *L0, *L2},
}
# puregrpc.testing: a public module on top of the runtime; it may import every layer above,
# and its pytest plugin (only) may import pytest. No runtime layer imports it.
ALLOWED["testing"] = set(ALLOWED)
THIRD_PARTY_ALLOWED = {"testing/pytest_plugin.py": {"pytest"}}


def test_runtime_never_imports_codegen() -> None:
    for path in sorted(SRC.rglob("*.py")):
        # protos.py is tooling (L6) like _cli: it runs protoc through the CLI's helpers.
        if {"_codegen", "_cli", "protos.py"} & set(path.parts) or path.name == "__main__.py":
            continue
        assert not any("_codegen" in name for name in _imports(path)), path


def _imports(path: Path) -> set[str]:
    """Top-level module names imported by `path`, with our own as `puregrpc.<pkg>`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(SRC).parts[0].removesuffix(".py")
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module)
            elif node.level == 1 and path.parent != SRC:
                found.add(f"puregrpc.{package}")
            elif node.level == 1 or node.level >= 2:
                found.add(f"puregrpc.{node.module or ''}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_stdlib_and_lower_layers(package: str) -> None:
    root = SRC / package
    files = sorted(root.rglob("*.py")) if root.is_dir() else [SRC / f"{package}.py"]
    allowed_ours = {f"puregrpc.{package}"} | {f"puregrpc.{p}" for p in ALLOWED[package]}
    allowed_ours.add("puregrpc.")  # `from . import __version__`
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "puregrpc":
                ours = ".".join(name.split(".")[:2])
                assert ours in allowed_ours, f"{path.name} imports {name}"
            else:
                third_party = THIRD_PARTY_ALLOWED.get(path.relative_to(SRC).as_posix(), set())
                assert top in sys.stdlib_module_names or top in {"__future__", *third_party}, (
                    f"{path.name} imports third-party {name}"
                )


def test_engine_exports_match_all() -> None:
    # (names that are no identifiers: pytest's assertion rewriting of an entry-point plugin's
    # package, puregrpc.testing.pytest_plugin, adds `@py_builtins` and `@pytest_ar`)
    public = {n for n in vars(puregrpc._http2) if not n.startswith("_") and n.isidentifier()}
    assert sorted(puregrpc._http2.__all__) == sorted(public)


def test_the_testing_package_is_in_the_layers() -> None:
    assert (SRC / "testing" / "__init__.py").exists()
    assert "pytest" not in _imports(SRC / "testing" / "_leaks.py")
    assert "pytest" not in _imports(SRC / "testing" / "__init__.py")
