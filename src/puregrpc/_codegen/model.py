"""Protobuf file descriptors -> the small model the printer works from.

Everything protoc-specific (fully qualified type names, module paths of generated ``_pb2``
modules, SourceCodeInfo paths, Python keywords in names) is resolved here, so the printer only
lays out text.
"""

from __future__ import annotations

import keyword
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

# Field numbers used in SourceCodeInfo location paths (descriptor.proto).
_FILE_SERVICE = 6  # FileDescriptorProto.service
_SERVICE_METHOD = 2  # ServiceDescriptorProto.method


class CodegenError(Exception):
    """A descriptor the generator cannot turn into Python (reported through protoc)."""


@dataclass(frozen=True)
class Import:
    """One imported ``_pb2`` module: ``module`` is its dotted path, ``alias`` the bound name."""

    module: str
    alias: str
    # Imported only to register the file's descriptors (the service's own file).
    for_registration: bool = False

    @property
    def statement(self) -> str:
        package, _, name = self.module.rpartition(".")
        suffix = "" if self.alias == name else f" as {self.alias}"
        note = "  # noqa: F401  (registers the service descriptor)" if self.for_registration else ""
        if package:
            return f"from {package} import {name}{suffix}{note}"
        return f"import {name}{suffix}{note}"


@dataclass(frozen=True)
class TypeRef:
    """A message class: ``module`` is the dotted ``_pb2`` module, ``name`` e.g. ``Outer.Inner``."""

    module: str
    name: str


@dataclass(frozen=True)
class Method:
    """One RPC. ``name`` is the protobuf name (used on the wire), ``py_name`` the attribute."""

    name: str
    py_name: str
    request: TypeRef
    response: TypeRef
    client_streaming: bool
    server_streaming: bool
    comment: str

    @property
    def kind(self) -> str:
        """``unary_unary``, ``unary_stream``, ``stream_unary`` or ``stream_stream``."""
        first = "stream" if self.client_streaming else "unary"
        second = "stream" if self.server_streaming else "unary"
        return f"{first}_{second}"


@dataclass(frozen=True)
class Service:
    """One service: ``full_name`` is ``package.Name`` (or ``Name`` without a package)."""

    name: str
    full_name: str
    methods: tuple[Method, ...]
    comment: str

    def path(self, method: Method) -> str:
        """The HTTP/2 ``:path`` of ``method``."""
        return f"/{self.full_name}/{method.name}"


@dataclass(frozen=True)
class File:
    """One ``<name>_grpc.py`` to write."""

    proto_name: str
    output_name: str
    imports: tuple[Import, ...]
    services: tuple[Service, ...]

    def alias(self, ref: TypeRef) -> str:
        """The name ``ref``'s module is bound to in the generated file."""
        for imp in self.imports:
            if imp.module == ref.module:
                return imp.alias
        raise KeyError(ref.module)

    def type_expr(self, ref: TypeRef) -> str:
        """A Python expression naming the message class ``ref``."""
        return f"{self.alias(ref)}.{ref.name}"


def module_name(proto_name: str, suffix: str = "_pb2") -> str:
    """The dotted Python module protobuf generates for ``proto_name`` (``a/b-c.proto``)."""
    base = proto_name.removesuffix(".proto")
    return base.replace("-", "_").replace("/", ".") + suffix


def output_name(proto_name: str) -> str:
    """Where the ``_grpc.py`` for ``proto_name`` goes: beside protobuf's ``_pb2.py``."""
    return module_name(proto_name, "_grpc").replace(".", "/") + ".py"


def python_name(name: str, taken: Iterable[str] = ()) -> str:
    """``name`` made usable as a Python attribute: keywords get ``_`` appended until unique."""
    if not keyword.iskeyword(name):
        return name
    taken = set(taken)
    candidate = name + "_"
    while candidate in taken or keyword.iskeyword(candidate):
        candidate += "_"
    return candidate


def clean_comment(text: str) -> str:
    """A SourceCodeInfo comment as docstring text, laid out as formatters lay docstrings out.

    No blank lines around it, no trailing spaces, no tabs, the first line stripped and the
    others dedented together.
    """
    lines = [line.expandtabs().rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        return ""
    rest = textwrap.dedent("\n".join(lines[1:]))
    return lines[0].strip() + ("\n" + rest if len(lines) > 1 else "")


class _TypeIndex:
    """Fully qualified message name (``.pkg.Outer.Inner``) -> where its class lives."""

    def __init__(self, files: Iterable[descriptor_pb2.FileDescriptorProto]) -> None:
        self._types: dict[str, TypeRef] = {}
        for file in files:
            prefix = f".{file.package}" if file.package else ""
            self._add(module_name(file.name), prefix, "", file.message_type)

    def _add(
        self,
        module: str,
        prefix: str,
        outer: str,
        messages: Iterable[descriptor_pb2.DescriptorProto],
    ) -> None:
        for message in messages:
            local = f"{outer}.{message.name}" if outer else message.name
            if any(keyword.iskeyword(part) for part in local.split(".")):
                # protobuf binds such classes only through getattr(); leave them untyped.
                ref = TypeRef(module, "")
            else:
                ref = TypeRef(module, local)
            self._types[f"{prefix}.{message.name}"] = ref
            self._add(module, f"{prefix}.{message.name}", local, message.nested_type)

    def resolve(self, full_name: str) -> TypeRef:
        try:
            ref = self._types[full_name]
        except KeyError:
            raise CodegenError(f"message type {full_name} not found") from None
        if not ref.name:
            raise CodegenError(f"message type {full_name} has a Python keyword in its name")
        return ref


def _comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    found: dict[tuple[int, ...], str] = {}
    for location in file.source_code_info.location:
        if location.leading_comments:
            found[tuple(location.path)] = clean_comment(location.leading_comments)
    return found


def _aliases(modules: Sequence[str]) -> tuple[Import, ...]:
    """Bind each module to its last component, unless two share it: then to a mangled name."""
    last = [module.rpartition(".")[2] for module in modules]
    imports = []
    for module, name in zip(modules, last, strict=True):
        if last.count(name) > 1:
            name = module.replace("_", "__").replace(".", "_dot_")
        imports.append(Import(module, name))
    return tuple(imports)


def build_file(
    file: descriptor_pb2.FileDescriptorProto,
    all_files: Iterable[descriptor_pb2.FileDescriptorProto],
) -> File | None:
    """The model of ``file``'s ``_grpc.py``, or None when it declares no services.

    ``all_files`` must hold ``file`` and every file it imports (as protoc's request does).
    """
    if not file.service:
        return None
    index = _TypeIndex(all_files)
    comments = _comments(file)
    services = []
    for s_index, service in enumerate(file.service):
        proto_names = {method.name for method in service.method}
        methods = []
        for m_index, method in enumerate(service.method):
            methods.append(
                Method(
                    name=method.name,
                    py_name=python_name(method.name, proto_names),
                    request=index.resolve(method.input_type),
                    response=index.resolve(method.output_type),
                    client_streaming=method.client_streaming,
                    server_streaming=method.server_streaming,
                    comment=comments.get((_FILE_SERVICE, s_index, _SERVICE_METHOD, m_index), ""),
                )
            )
        full_name = f"{file.package}.{service.name}" if file.package else service.name
        services.append(
            Service(
                name=service.name,
                full_name=full_name,
                methods=tuple(methods),
                comment=comments.get((_FILE_SERVICE, s_index), ""),
            )
        )
    used = {
        ref.module
        for service in services
        for m in service.methods
        for ref in (m.request, m.response)
    }
    # The file's own _pb2 always: importing it registers the service's descriptor, which
    # reflection needs even when every message type lives in another file.
    own = module_name(file.name)
    imports = _aliases(sorted(used | {own}))
    if own not in used:
        imports = tuple(
            Import(imp.module, imp.alias, for_registration=True) if imp.module == own else imp
            for imp in imports
        )
    return File(
        proto_name=file.name,
        output_name=output_name(file.name),
        imports=imports,
        services=tuple(services),
    )
