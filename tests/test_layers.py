"""The layering holds: lower layers never import higher ones (docs/design.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import puregrpc
import puregrpc._http2

SRC = Path(puregrpc.__file__).parent

# Each package of ours, and the packages of ours it may import besides itself.
ALLOWED: dict[str, set[str]] = {
    "_http2": set(),
    "_transport": {"_http2"},
}


def _imports(path: Path) -> set[str]:
    """Top-level module names imported by `path`, with our own as `puregrpc.<pkg>`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(SRC).parts[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module)
            elif node.level == 1:
                found.add(f"puregrpc.{package}")
            elif node.level >= 2:
                found.add(f"puregrpc.{node.module or ''}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_stdlib_and_lower_layers(package: str) -> None:
    root = SRC / package
    if not root.exists():
        pytest.skip(f"{package} does not exist yet")
    allowed_ours = {f"puregrpc.{package}"} | {f"puregrpc.{p}" for p in ALLOWED[package]}
    for path in sorted(root.rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "puregrpc":
                ours = ".".join(name.split(".")[:2])
                assert ours in allowed_ours, f"{path.name} imports {name}"
            else:
                assert top in sys.stdlib_module_names or top == "__future__", (
                    f"{path.name} imports third-party {name}"
                )


def test_engine_exports_match_all() -> None:
    public = {name for name in vars(puregrpc._http2) if not name.startswith("_")}
    assert sorted(puregrpc._http2.__all__) == sorted(public)
