"""The layering holds (docs/design.md): every top-level module or package of `puregrpc` is in
exactly one layer; it imports only the standard library, its own package, and packages of lower
layers (never a sibling of its own layer: `_client` and `_server` never import each other); the
runtime layers import nothing from outside the standard library; and no module of ours takes part
in an import cycle (imports under `if TYPE_CHECKING:` are for types only and not counted)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import puregrpc
import puregrpc._http2

SRC = Path(puregrpc.__file__).parent

# Lowest first. A new top-level module or package fails `test_every_module_declares_its_layer`
# until it is placed here.
LAYERS: list[set[str]] = [
    {"_vocab"},  # L0 vocabulary: status, metadata, deadline, the exception tree
    {"_http2"},  # L1 the sans-IO HTTP/2 engine
    {"_wire"},  # L2 every gRPC rule, sans-IO
    {"_transport"},  # L3 asyncio I/O: connections, streams, keepalive, TLS, in-memory
    {"_client", "_server"},  # L4/L5 calls, channel, server
    {"_rich"},  # rich status details (protobuf's google.rpc.Status, imported lazily)
    {"__init__"},  # the public API
    {"_protos"},  # generated code of the bundled services
    {"health", "reflection", "testing"},  # bundled services, the public testing kit
    {"_codegen"},  # the code generator
    {"_cli"},  # the command's parts
    {"protos", "__main__"},  # runtime .proto loading for users (runs protoc), the command
]
RUNTIME = set().union(*LAYERS[:5])  # standard library only (layers L0 to L4/L5)
THIRD_PARTY_ALLOWED = {"testing/pytest_plugin.py": {"pytest"}}  # and nothing else of `testing`


def _layer_of(top: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if top in layer)


def _top(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["puregrpc", *parts])


def _ours() -> Iterator[Path]:
    for path in sorted(SRC.rglob("*.py")):
        if not path.name.endswith("_pb2.py"):
            yield path


def _runtime_imports(path: Path, at_import_time: bool = False) -> set[str]:
    """Absolute names of what `path` imports, leaving out `if TYPE_CHECKING:` blocks (and, with
    `at_import_time`, the imports inside functions, which run later); for `from X import a`,
    both `X` and `X.a` (a may be a submodule)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if at_import_time and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if at_import_time and isinstance(node, ast.ClassDef):
                visit(node.body)
                continue
            for child in ast.walk(node) if not isinstance(node, ast.If) else [node]:
                if isinstance(child, ast.Import):
                    found.update(alias.name for alias in child.names)
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        base = package.split(".")
                        base = base[: len(base) - child.level + 1]
                        module = ".".join([*base, *([child.module] if child.module else [])])
                    else:
                        module = child.module or ""
                    found.add(module)
                    found.update(f"{module}.{alias.name}" for alias in child.names)
            if isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)

    visit(tree.body)
    return found


def test_every_module_declares_its_layer() -> None:
    tops = {_top(p) for p in SRC.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    placed = [top for layer in LAYERS for top in layer]
    assert len(placed) == len(set(placed)), "a module is in two layers"
    assert sorted(tops - set(placed)) == [], "modules with no layer (add them to LAYERS)"
    assert sorted(set(placed) - tops) == [], "LAYERS names modules that do not exist"


@pytest.mark.parametrize("path", list(_ours()), ids=lambda p: p.relative_to(SRC).as_posix())
def test_imports_only_lower_layers(path: Path) -> None:
    top = _top(path)
    layer = _layer_of(top)
    relative = path.relative_to(SRC).as_posix()
    for name in sorted(_runtime_imports(path)):
        head = name.split(".")[0]
        if head == "puregrpc":
            parts = name.split(".")
            if len(parts) == 1:
                other = "__init__"
            else:
                other = parts[1]
                if not ((SRC / other).is_dir() or (SRC / f"{other}.py").exists()):
                    continue  # `from puregrpc import X` names: the check is on `puregrpc`
            if other == top:
                continue
            assert _layer_of(other) < layer, f"{relative} (layer {layer}) imports {name}"
        elif top in RUNTIME or (top == "testing" and relative not in THIRD_PARTY_ALLOWED):
            assert head in sys.stdlib_module_names or head == "__future__", (
                f"{relative} imports third-party {name}"
            )
        elif relative in THIRD_PARTY_ALLOWED:
            assert head in sys.stdlib_module_names | {"__future__"} | THIRD_PARTY_ALLOWED[relative]


def test_no_import_cycles() -> None:
    modules = {_module_name(p): p for p in _ours()}
    # (A module's own ancestor packages are initialised before it: no edge to them.)
    graph = {
        name: {
            m
            for m in _runtime_imports(path, at_import_time=True)
            if m in modules and not name.startswith(f"{m}.") and m != name
        }
        for name, path in modules.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(name: str, trail: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [name, nxt])
            elif nxt not in state:
                walk(nxt, [*trail, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert cycles == []


def test_runtime_never_imports_codegen() -> None:
    for path in _ours():
        if _top(path) in {"_codegen", "_cli", "protos", "__main__"}:
            continue
        assert not any("_codegen" in name for name in _runtime_imports(path)), path


def test_engine_exports_match_all() -> None:
    # (names that are no identifiers: pytest's assertion rewriting of an entry-point plugin's
    # package, puregrpc.testing.pytest_plugin, adds `@py_builtins` and `@pytest_ar`)
    public = {n for n in vars(puregrpc._http2) if not n.startswith("_") and n.isidentifier()}
    assert sorted(puregrpc._http2.__all__) == sorted(public)


def test_the_testing_package_needs_no_pytest() -> None:
    assert "pytest" not in _runtime_imports(SRC / "testing" / "_leaks.py")
    assert "pytest" not in _runtime_imports(SRC / "testing" / "__init__.py")
