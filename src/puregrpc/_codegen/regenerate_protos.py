"""Regenerate ``puregrpc._protos`` (the ``_pb2.py``, ``_pb2.pyi`` and ``_grpc.py`` of our copies
of the standard gRPC .proto files).

``python -m puregrpc._codegen.regenerate_protos [--check]``

It runs ``puregrpc generate`` (protoc's Python and .pyi generators and our plugin) with the
``puregrpc/_protos`` directory as the include root, so that the proto file names stay upstream's
(``grpc/health/v1/health.proto`` ...), then moves the generated code under ``puregrpc._protos``:

* ``_pb2.py``: the file goes into `puregrpc._protos.POOL` instead of protobuf's default pool (see
  the package docstring for why), and the classes' module is the real one;
* ``_grpc.py``: imports ``puregrpc._protos.grpc...`` instead of ``grpc...`` (which would be
  grpcio's package).

With ``--check`` nothing is written; the exit status is 1 when a committed file is out of date.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import puregrpc._protos
from puregrpc._codegen.generate import run
from puregrpc._protos import PROTO_FILES

HERE = Path(puregrpc._protos.__file__).resolve().parent
PREFIX = "puregrpc._protos."
POOL_IMPORT = "from puregrpc._protos import POOL as _PUREGRPC_POOL\n"
MARK = "# Post-processed by puregrpc._codegen.regenerate_protos: puregrpc._protos.POOL.\n"


def _replace_once(text: str, old: str, new: str, where: str) -> str:
    if text.count(old) != 1:
        raise RuntimeError(f"{where}: expected {old!r} exactly once in protoc's output")
    return text.replace(old, new)


def _fix_pb2(text: str, module: str, where: str) -> str:
    text = _replace_once(
        text,
        "# @@protoc_insertion_point(imports)\n",
        f"{POOL_IMPORT}# @@protoc_insertion_point(imports)\n",
        where,
    )
    text = _replace_once(
        text,
        "_descriptor_pool.Default().AddSerializedFile(",
        "_PUREGRPC_POOL.AddSerializedFile(",
        where,
    )
    text = _replace_once(text, f"'{module}'", f"'{PREFIX}{module}'", where)
    return _replace_once(
        text,
        '"""Generated protocol buffer code."""\n',
        MARK + '"""Generated protocol buffer code."""\n',
        where,
    )


def _fix_grpc(text: str, package: str, where: str) -> str:
    return _replace_once(
        text, f"\nfrom {package} import ", f"\nfrom {PREFIX}{package} import ", where
    )


def generated() -> dict[Path, str]:
    """Every generated file (path relative to this package) with its post-processed text."""
    files: dict[Path, str] = {}
    with tempfile.TemporaryDirectory(prefix="puregrpc-protos-") as scratch:
        out = Path(scratch)
        run([str(HERE / name) for name in PROTO_FILES], proto_path=[str(HERE)], out=str(out))
        for name in PROTO_FILES:
            stem = Path(name).with_suffix("")
            package = ".".join(stem.parent.parts)
            module = f"{package}.{stem.name}_pb2"
            pb2 = stem.with_name(f"{stem.name}_pb2.py")
            pyi = stem.with_name(f"{stem.name}_pb2.pyi")
            grpc = stem.with_name(f"{stem.name}_grpc.py")
            files[pb2] = _fix_pb2((out / pb2).read_text(), module, str(pb2))
            files[pyi] = (out / pyi).read_text()
            files[grpc] = _fix_grpc((out / grpc).read_text(), package, str(grpc))
    return files


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    stale = []
    for relative, text in generated().items():
        path = HERE / relative
        if path.is_file() and path.read_text() == text:
            continue
        stale.append(relative)
        if not check:
            path.write_text(text)
    for relative in stale:
        print(f"{'out of date' if check else 'wrote'}: {relative}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
