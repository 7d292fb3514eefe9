"""Build what the gRPC benchmark runs: Python code generated from bench/proto/bench.proto, and the
Go load generators (gRPC and raw HTTP/2) and Go server compiled against Debian's grpc-go.

Nothing generated is kept in the repository. Both go to cache directories in the temp dir named
after a hash of everything that goes into them, so a run builds at most once:

* ``puregrpc-bench-py-<hash>/``: ``pb2/bench_pb2.py`` (+ ``.pyi``) and the service glue of each
  Python framework in a directory of its own, because puregrpc's and grpclib's generators both
  write ``bench_grpc.py``: ``puregrpc/bench_grpc.py``, ``grpcio/bench_pb2_grpc.py``,
  ``grpclib/bench_grpc.py``.
* ``puregrpc-bench-go-<hash>/bin/{loadgen,rawload,server}``, with the GOPATH that made them beside.

The Go build reuses tests/support/peers/build.py (GOPATH mode, no network, protoc-gen-go with
``plugins=grpc`` compiled from /usr/share/gocode). ``python bench/build.py`` builds both and
prints the paths.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))

from support.peers.build import (  # noqa: E402
    DEBIAN_GOPATH,
    PROTOC_GEN_GO_PACKAGE,
    BuildError,
    ToolMissingError,
    _go_env,
    _run,
    find_go,
    find_protoc,
)

PROTO_DIR = BENCH_DIR / "proto"
PROTO = PROTO_DIR / "bench.proto"
GO_SOURCES = BENCH_DIR / "go"
GO_PROGRAMS = ("loadgen", "rawload", "server")
# Must match `option go_package` in bench.proto.
GO_PACKAGE = "puregrpc/bench/benchpb"
GO_PROGRAM_PACKAGE = "puregrpc/bench"
FLAVORS = ("puregrpc", "grpcio", "grpclib")
"""Python frameworks whose service glue `python_code` generates."""
GLUE_MODULE = {"puregrpc": "bench_grpc", "grpcio": "bench_pb2_grpc", "grpclib": "bench_grpc"}

__all__ = [
    "BENCH_DIR",
    "FLAVORS",
    "BuildError",
    "GoBinaries",
    "ToolMissingError",
    "go_binaries",
    "load_generated",
    "python_code",
]


@dataclass(frozen=True)
class GoBinaries:
    loadgen: Path
    rawload: Path
    server: Path
    build_seconds: float
    """Time this call spent building; 0.0 when the cache already had the binaries."""


def _venv_tool(name: str) -> Path:
    """A console script installed beside the running interpreter (the venv's bin)."""
    path = Path(sys.executable).parent / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ToolMissingError(
            f"{name} not found beside {sys.executable}: pip install -e '.[dev,bench]'"
        )
    return path


def _hash(paths: Iterable[Path], extra: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    for text in extra:
        digest.update(text.encode() + b"\0")
    return digest.hexdigest()[:16]


def _cached(final: Path, complete: Callable[[], bool], build: Callable[[Path], None]) -> float:
    """Build into a scratch dir renamed to `final` when done, unless `final` is complete;
    concurrent callers serialize on a lock file. Returns the seconds spent building."""
    if complete():
        return 0.0
    started = time.monotonic()
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{final}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if complete():
            return 0.0
        work = Path(tempfile.mkdtemp(prefix=f"{final.name}.partial-", dir=final.parent))
        try:
            build(work)
            if final.exists():  # left incomplete by hand: replace it
                shutil.rmtree(final)
            work.rename(final)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
    return time.monotonic() - started


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def python_code(cache_root: Path | None = None) -> Path:
    """The directory holding the generated Python code (see the module docstring)."""
    protoc = find_protoc()
    codegen = sorted((REPO / "src" / "puregrpc" / "_codegen").glob("*.py"))
    versions = [_run([protoc, "--version"]), *(_version(d) for d in ("grpcio-tools", "grpclib"))]
    root = cache_root or Path(tempfile.gettempdir())
    final = (
        root / f"puregrpc-bench-py-{_hash([PROTO, Path(__file__).resolve(), *codegen], versions)}"
    )
    # grpclib comes with the `bench` extra only: without it, no grpclib glue (the hash says so).
    flavors = [f for f in FLAVORS if f != "grpclib" or _version("grpclib") != "missing"]
    expected = [final / "pb2" / "bench_pb2.py"] + [
        final / flavor / f"{GLUE_MODULE[flavor]}.py" for flavor in flavors
    ]

    def build(work: Path) -> None:
        for sub in ("pb2", *FLAVORS):
            (work / sub).mkdir()
        include = f"-I{PROTO_DIR}"
        _run(
            [
                protoc,
                include,
                f"--python_out={work / 'pb2'}",
                f"--pyi_out={work / 'pb2'}",
                PROTO.name,
            ]
        )
        plugin = _venv_tool("protoc-gen-puregrpc")
        _run(
            [
                protoc,
                include,
                f"--plugin=protoc-gen-puregrpc={plugin}",
                f"--puregrpc_out={work / 'puregrpc'}",
                PROTO.name,
            ]
        )
        # grpcio's generator is built into grpc_tools.protoc; grpclib ships protoc-gen-python_grpc.
        grpc_tools = [sys.executable, "-m", "grpc_tools.protoc", include]
        _run([*grpc_tools, f"--grpc_python_out={work / 'grpcio'}", PROTO.name])
        if "grpclib" in flavors:
            plugin = _venv_tool("protoc-gen-python_grpc")
            grpclib_out = f"--python_grpc_out={work / 'grpclib'}"
            _run(
                [*grpc_tools, f"--plugin=protoc-gen-python_grpc={plugin}", grpclib_out, PROTO.name]
            )
        for path in expected:
            if not (work / path.relative_to(final)).is_file():
                raise BuildError(f"code generation did not write {path.relative_to(final)}")

    _cached(final, lambda: all(p.is_file() for p in expected), build)
    return final


def load_generated(flavor: str, gen_dir: Path | None = None) -> tuple[ModuleType, ModuleType]:
    """Import ``bench_pb2`` and `flavor`'s service glue from `gen_dir` (built if None).

    Both directories stay on sys.path: the glue imports ``bench_pb2`` by its top-level name.
    """
    if flavor not in FLAVORS:
        raise ValueError(f"unknown flavor {flavor!r}")
    gen_dir = gen_dir or python_code()
    for sub in ("pb2", flavor):
        sys.path.insert(0, str(gen_dir / sub))
    pb2 = importlib.import_module("bench_pb2")
    glue = importlib.import_module(GLUE_MODULE[flavor])
    for module in (pb2, glue):
        origin = Path(str(getattr(module, "__file__", ""))).resolve().parent
        if origin.parent != gen_dir.resolve():
            raise ImportError(f"{module.__name__} was imported from {origin}, not from {gen_dir}")
    return pb2, glue


def _go_hash(go: Path, protoc: Path) -> str:
    sources = [PROTO, Path(__file__).resolve(), *sorted(GO_SOURCES.rglob("*.go"))]
    env = _go_env(Path(tempfile.gettempdir()))
    return _hash(sources, [_run([go, "version"], env=env), _run([protoc, "--version"])])


def _build_go_into(work: Path, go: Path, protoc: Path) -> None:
    """Lay out a GOPATH under work, generate the Go code, compile work/bin/<program>."""
    if not (DEBIAN_GOPATH / "src" / "google.golang.org" / "grpc").is_dir():
        raise ToolMissingError(
            f"grpc-go sources not in {DEBIAN_GOPATH}: apt-get install golang-google-grpc-dev "
            "golang-goprotobuf-dev"
        )
    gopath = work / "gopath"
    src = gopath / "src"
    bin_dir = work / "bin"
    bin_dir.mkdir(parents=True)
    env = _go_env(gopath)

    plugin = bin_dir / "protoc-gen-go"
    _run([go, "build", "-o", plugin, PROTOC_GEN_GO_PACKAGE], env=env)
    (src / GO_PACKAGE).mkdir(parents=True)
    _run(
        [
            protoc,
            f"-I{PROTO_DIR}",
            f"--plugin=protoc-gen-go={plugin}",
            f"--go_out=plugins=grpc:{src}",
            PROTO.name,
        ]
    )
    if not (src / GO_PACKAGE / "bench.pb.go").is_file():
        raise BuildError(f"protoc-gen-go did not write {GO_PACKAGE}/bench.pb.go")

    for program in GO_PROGRAMS:
        target = src / GO_PROGRAM_PACKAGE / program
        target.mkdir(parents=True)
        for source in sorted((GO_SOURCES / program).glob("*.go")):
            shutil.copyfile(source, target / source.name)
    packages = [f"{GO_PROGRAM_PACKAGE}/{program}" for program in GO_PROGRAMS]
    _run([go, "build", "-trimpath", "-o", f"{bin_dir}{os.sep}", *packages], env=env)


def go_binaries(cache_root: Path | None = None) -> GoBinaries:
    """The Go load generator and server, built unless the cache already has them."""
    go = find_go()
    protoc = find_protoc()
    root = cache_root or Path(tempfile.gettempdir())
    final = root / f"puregrpc-bench-go-{_go_hash(go, protoc)}"
    loadgen, rawload, server = (final / "bin" / program for program in GO_PROGRAMS)
    seconds = _cached(
        final,
        lambda: all((final / "bin" / program).is_file() for program in GO_PROGRAMS),
        lambda work: _build_go_into(work, go, protoc),
    )
    return GoBinaries(loadgen, rawload, server, seconds)


def main() -> int:
    started = time.monotonic()
    print(f"python code: {python_code()}")
    binaries = go_binaries()
    print(f"loadgen: {binaries.loadgen}")
    print(f"rawload: {binaries.rawload}")
    print(f"server: {binaries.server}")
    print(f"done in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
