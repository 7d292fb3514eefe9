"""The test suite's own layout: test modules share code only through the `support` package."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _test_modules() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.add(module)
            # `from . import test_x` / `from pkg import test_x` name the module in the alias
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _is_test_module(name: str) -> bool:
    return any(part.startswith("test_") or part == "conftest" for part in name.split("."))


LAYERS = [
    "unit/http2",
    "unit/wire",
    "unit/client",
    "unit/server",
    "unit/transport",
    "unit/testing",
    "integration",
    "peers",
    "codegen",
    "cli",
    "project",
]


def test_every_test_module_is_in_a_layer() -> None:
    outside = [
        str(path.relative_to(TESTS))
        for path in _test_modules()
        if path.parent.relative_to(TESTS).as_posix() not in LAYERS
    ]
    assert outside == []
    assert {path.parent.relative_to(TESTS).as_posix() for path in _test_modules()} == set(LAYERS)


def test_no_test_module_imports_a_test_module() -> None:
    offenders = {
        f"{path.relative_to(TESTS)} imports {name}"
        for path in _test_modules()
        for name in _imported_modules(path)
        if _is_test_module(name)
    }
    assert sorted(offenders) == []


def test_support_modules_import_no_test_module() -> None:
    offenders = {
        f"{path.relative_to(TESTS)} imports {name}"
        for path in sorted((TESTS / "support").rglob("*.py"))
        for name in _imported_modules(path)
        if _is_test_module(name)
    }
    assert sorted(offenders) == []


def test_test_module_names_are_unique() -> None:
    # without __init__.py files, pytest and mypy know a test module by its file name alone
    names = [path.name for path in _test_modules()]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []
