"""``protoc-gen-puregrpc``: the protoc plugin writing ``<name>_grpc.py`` beside ``<name>_pb2.py``.

protoc runs it with a serialized ``CodeGeneratorRequest`` on stdin and reads a
``CodeGeneratorResponse`` from stdout::

    protoc -I protos --python_out=gen --pyi_out=gen --puregrpc_out=gen protos/hello.proto

(``puregrpc generate`` does all of that, finding protoc and the plugin itself.)
"""

from __future__ import annotations

import sys

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

from puregrpc._codegen.model import CodegenError, build_file
from puregrpc._codegen.printer import print_file


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    """The response to ``request``: one file per requested .proto that declares services."""
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = (
        plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
        | plugin_pb2.CodeGeneratorResponse.FEATURE_SUPPORTS_EDITIONS
    )
    # Field presence and other edition features do not change what is generated here.
    # (getattr: older protobuf releases lack the newest editions.)
    response.minimum_edition = descriptor_pb2.EDITION_PROTO2
    response.maximum_edition = getattr(descriptor_pb2, "EDITION_2024", descriptor_pb2.EDITION_2023)
    by_name = {file.name: file for file in request.proto_file}
    try:
        for name in request.file_to_generate:
            model = build_file(by_name[name], request.proto_file)
            if model is None:
                continue
            out = response.file.add()
            out.name = model.output_name
            out.content = print_file(model)
    except CodegenError as exc:
        response.ClearField("file")
        response.error = f"{name}: {exc}"
    return response


def main() -> None:
    """Entry point of ``protoc-gen-puregrpc``."""
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
