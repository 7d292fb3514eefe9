"""Descriptors for the CLI: ``--proto`` files compiled by protoc into a private
`DescriptorPool`, and small hand-built files (reflection, health) the CLI speaks itself.

Every pool here is private (never ``descriptor_pool.Default()``), so the CLI's copies of
``grpc.reflection.v1`` or ``grpc.health.v1`` cannot clash with modules the process imported.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool

from .._codegen.generate import GenerateError, find_protoc

FieldProto = descriptor_pb2.FieldDescriptorProto
OPTIONAL = FieldProto.LABEL_OPTIONAL
REPEATED = FieldProto.LABEL_REPEATED
STRING = FieldProto.TYPE_STRING
BYTES = FieldProto.TYPE_BYTES
INT32 = FieldProto.TYPE_INT32
MESSAGE = FieldProto.TYPE_MESSAGE
ENUM = FieldProto.TYPE_ENUM


class CliError(Exception):
    """A failure of the CLI itself (not a gRPC status): one line on stderr, exit 1."""


def field(
    name: str,
    number: int,
    kind: FieldProto.Type.ValueType,
    type_name: str = "",
    *,
    label: FieldProto.Label.ValueType = OPTIONAL,
    oneof: int | None = None,
) -> FieldProto:
    """A field for a hand-built message (``type_name`` fully qualified with a leading dot)."""
    proto = FieldProto(name=name, number=number, type=kind, label=label)
    if type_name:
        proto.type_name = type_name
    if oneof is not None:
        proto.oneof_index = oneof
    return proto


def message(
    name: str, fields: Iterable[FieldProto], oneofs: Sequence[str] = ()
) -> descriptor_pb2.DescriptorProto:
    proto = descriptor_pb2.DescriptorProto(name=name)
    proto.field.extend(fields)
    for oneof in oneofs:
        proto.oneof_decl.add(name=oneof)
    return proto


def build_pool(*files: descriptor_pb2.FileDescriptorProto) -> descriptor_pool.DescriptorPool:
    """A private pool holding ``files`` (given in dependency order)."""
    pool = descriptor_pool.DescriptorPool()
    for file in files:
        pool.AddSerializedFile(file.SerializeToString())
    return pool


def pool_from_set(
    files: Iterable[descriptor_pb2.FileDescriptorProto],
) -> descriptor_pool.DescriptorPool:
    """A private pool with ``files`` added dependencies first, whatever their order."""
    by_name = {file.name: file for file in files}
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str, chain: tuple[str, ...]) -> None:
        if name in added:
            return
        if name in chain:
            raise CliError(f"import cycle: {' -> '.join((*chain, name))}")
        file = by_name.get(name)
        if file is None:
            raise CliError(f"missing imported file {name}")
        for dependency in file.dependency:
            add(dependency, (*chain, name))
        try:
            pool.AddSerializedFile(file.SerializeToString())
        except (TypeError, ValueError) as exc:
            raise CliError(f"bad descriptor for {name}: {exc}") from None
        added.add(name)

    for name in by_name:
        add(name, ())
    return pool


def services_in(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> list[str]:
    """Full names of the services defined in ``files``."""
    found: list[str] = []
    for file in files:
        prefix = f"{file.package}." if file.package else ""
        found.extend(prefix + service.name for service in file.service)
    return sorted(found)


def compile_protos(
    protos: Sequence[str], include_dirs: Sequence[str]
) -> list[descriptor_pb2.FileDescriptorProto]:
    """Run protoc on ``protos`` (with imports); their FileDescriptorProtos, imports included.

    Without ``include_dirs``, each file's own directory is the include path.
    """
    for directory in include_dirs:
        if not Path(directory).is_dir():
            raise CliError(f"no such include directory: {directory}")
    for proto in protos:
        if not Path(proto).is_file():
            raise CliError(f"no such file: {proto}")
    try:
        protoc = find_protoc()
    except GenerateError as exc:
        raise CliError(str(exc)) from None
    dirs = list(include_dirs) or list(dict.fromkeys(str(Path(p).parent) for p in protos))
    with tempfile.TemporaryDirectory(prefix="puregrpc-cli-") as scratch:
        out = Path(scratch, "descriptors.pb")
        argv = [*protoc.command, f"--descriptor_set_out={out}", "--include_imports"]
        argv += [f"--proto_path={directory}" for directory in dirs]
        if protoc.include is not None:
            argv.append(f"--proto_path={protoc.include}")
        argv += protos
        try:
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise CliError(f"cannot run {protoc.command[0]}: {exc.strerror}") from None
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            raise CliError(f"protoc failed: {'; '.join(lines) or f'exit {result.returncode}'}")
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return list(descriptor_set.file)
