"""``puregrpc describe``: services, methods, messages and enums as proto-like text.

Type references are fully qualified with a leading dot (``.hello.HelloRequest``), as in a
FileDescriptorProto, so that they are unambiguous however the reader's packages nest.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool

FieldProto = descriptor_pb2.FieldDescriptorProto
INDENT = "  "


def find_symbol(pool: descriptor_pool.DescriptorPool, symbol: str) -> tuple[str, Any] | None:
    """The kind (service, method, message, enum) and descriptor of ``symbol``, if in pool."""
    finders = (
        ("service", pool.FindServiceByName),
        ("message", pool.FindMessageTypeByName),
        ("enum", pool.FindEnumTypeByName),
        ("method", pool.FindMethodByName),
    )
    for kind, finder in finders:
        try:
            return kind, finder(symbol)
        except KeyError:
            continue
    return None


def describe(kind: str, descriptor: Any) -> str:
    """``<full name> is a <kind>:`` and the definition."""
    if kind == "service":
        body = service_text(descriptor)
    elif kind == "method":
        body = method_line(_definition(kind, descriptor))
    elif kind == "message":
        message = _definition(kind, descriptor)
        body = "\n".join(message_lines(message, descriptor.full_name, _syntax(descriptor), ""))
    elif kind == "enum":
        body = "\n".join(enum_lines(_definition(kind, descriptor), ""))
    else:
        raise ValueError(f"cannot describe a {kind}")
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{descriptor.full_name} is {article} {kind}:\n{body}"


def _file_proto(descriptor: Any) -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto()
    descriptor.file.CopyToProto(file)
    return file


def _definition(kind: str, descriptor: Any) -> Any:
    """The ``*DescriptorProto`` of a service, method, message or enum, read out of its file's
    FileDescriptorProto. (``descriptor.CopyToProto`` would do with protobuf's upb backend, but
    the pure-Python one, the only one on free-threaded CPython, raises "Descriptor does not
    contain serialization" for a descriptor its pool built from a serialized file.)"""
    if kind == "method":
        service = _definition("service", descriptor.containing_service)
        return next(m for m in service.method if m.name == descriptor.name)
    file = _file_proto(descriptor)
    if kind == "service":
        return next(s for s in file.service if s.name == descriptor.name)
    outer: list[str] = []  # the messages it is nested in, innermost first
    parent = descriptor.containing_type
    while parent is not None:
        outer.append(parent.name)
        parent = parent.containing_type
    scope: Any = file
    messages = file.message_type
    for name in reversed(outer):
        scope = next(m for m in messages if m.name == name)
        messages = scope.nested_type
    if kind == "enum":
        return next(e for e in scope.enum_type if e.name == descriptor.name)
    return next(m for m in messages if m.name == descriptor.name)


def _syntax(descriptor: Any) -> str:
    return _file_proto(descriptor).syntax or "proto2"


def service_text(service: Any) -> str:
    proto = _definition("service", service)
    lines = [f"service {proto.name} {{"]
    lines += [INDENT + method_line(method) for method in proto.method]
    lines.append("}")
    return "\n".join(lines)


def method_line(method: descriptor_pb2.MethodDescriptorProto) -> str:
    request = ("stream " if method.client_streaming else "") + method.input_type
    response = ("stream " if method.server_streaming else "") + method.output_type
    return f"rpc {method.name} ( {request} ) returns ( {response} );"


def _type_name(field: FieldProto) -> str:
    if field.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_ENUM, FieldProto.TYPE_GROUP):
        return field.type_name
    return FieldProto.Type.Name(field.type).removeprefix("TYPE_").lower()


def _options(field: FieldProto) -> str:
    options = []
    if field.HasField("default_value"):
        value = field.default_value
        if field.type in (FieldProto.TYPE_STRING, FieldProto.TYPE_BYTES):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        options.append(f"default = {value}")
    if field.options.HasField("packed"):
        options.append(f"packed = {str(field.options.packed).lower()}")
    if field.options.deprecated:
        options.append("deprecated = true")
    return f" [{', '.join(options)}]" if options else ""


def message_lines(
    message: descriptor_pb2.DescriptorProto, full_name: str, syntax: str, indent: str
) -> list[str]:
    """``message Name { ... }`` with nested types, oneofs and maps."""
    inner = indent + INDENT
    maps = {
        f".{full_name}.{nested.name}": nested
        for nested in message.nested_type
        if nested.options.map_entry
    }
    real_oneofs = {
        field.oneof_index
        for field in message.field
        if field.HasField("oneof_index") and not field.proto3_optional
    }

    def field_line(field: FieldProto, pad: str) -> str:
        entry = maps.get(field.type_name) if field.type == FieldProto.TYPE_MESSAGE else None
        if entry is not None:
            key, value = sorted(entry.field, key=lambda f: f.number)[:2]
            kind = f"map<{_type_name(key)}, {_type_name(value)}>"
            label = ""
        else:
            kind = _type_name(field)
            label = ""
            if field.label == FieldProto.LABEL_REPEATED:
                label = "repeated "
            elif field.label == FieldProto.LABEL_REQUIRED:
                label = "required "
            elif field.proto3_optional or (
                syntax == "proto2" and not field.HasField("oneof_index")
            ):
                label = "optional "
        return f"{pad}{label}{kind} {field.name} = {field.number}{_options(field)};"

    lines = [f"{indent}message {message.name} {{"]
    written_oneofs: set[int] = set()
    for field in message.field:
        index = field.oneof_index if field.HasField("oneof_index") else None
        if index is None or index not in real_oneofs:
            lines.append(field_line(field, inner))
            continue
        if index in written_oneofs:
            continue
        written_oneofs.add(index)
        lines.append(f"{inner}oneof {message.oneof_decl[index].name} {{")
        lines += [
            field_line(member, inner + INDENT)
            for member in message.field
            if member.HasField("oneof_index") and member.oneof_index == index
        ]
        lines.append(f"{inner}}}")
    for nested in message.nested_type:
        if not nested.options.map_entry:
            lines += message_lines(nested, f"{full_name}.{nested.name}", syntax, inner)
    for enum in message.enum_type:
        lines += enum_lines(enum, inner)
    for reserved in message.reserved_range:
        end = reserved.end - 1
        span = str(reserved.start) if end == reserved.start else f"{reserved.start} to {end}"
        lines.append(f"{inner}reserved {span};")
    if message.reserved_name:
        names = ", ".join(f'"{name}"' for name in message.reserved_name)
        lines.append(f"{inner}reserved {names};")
    lines.append(f"{indent}}}")
    return lines


def enum_lines(enum: descriptor_pb2.EnumDescriptorProto, indent: str) -> list[str]:
    lines = [f"{indent}enum {enum.name} {{"]
    lines += [f"{indent}{INDENT}{value.name} = {value.number};" for value in enum.value]
    lines.append(f"{indent}}}")
    return lines
