"""Server reflection (RF1-RF3): puregrpc.reflection against grpcio-reflection's client
(``ProtoReflectionDescriptorDatabase``, v1alpha and, through a renaming channel, v1) and ours.

The services reflected are generated with our plugin from .proto files written here: a service
whose messages come from another file, which imports a well-known type, and proto2 extensions.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from support.free_threaded import HAVE_GRPCIO
from support.marks import needs_grpcio

import puregrpc
import puregrpc.health
import puregrpc.reflection
from puregrpc._codegen.generate import main as generate
from puregrpc._protos import POOL
from puregrpc._protos.grpc.reflection.v1 import reflection_grpc as v1_grpc
from puregrpc._protos.grpc.reflection.v1 import reflection_pb2 as v1_pb2
from puregrpc._protos.grpc.reflection.v1alpha import reflection_grpc as v1alpha_grpc
from puregrpc._protos.grpc.reflection.v1alpha import reflection_pb2 as v1alpha_pb2
from puregrpc.reflection import ReflectionServicer

if HAVE_GRPCIO or TYPE_CHECKING:  # no grpcio on free-threaded CPython: its tests skip there
    import grpc
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

PACKAGE = "puregrpc_refltest"
PROTOS = {
    "types.proto": """
        syntax = "proto3";
        package puregrpc_refltest;
        import "google/protobuf/timestamp.proto";
        message Outer {
          message Inner { int32 x = 1; }
          enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; }
          Inner inner = 1;
          Kind kind = 2;
          google.protobuf.Timestamp when = 3;
          oneof choice { string a = 4; int32 b = 5; }
        }
        enum Color { COLOR_UNSPECIFIED = 0; RED = 1; }
    """,
    "base.proto": """
        syntax = "proto2";
        package puregrpc_refltest;
        message Extendable { optional int32 id = 1; extensions 100 to 199; }
    """,
    "ext.proto": """
        syntax = "proto2";
        package puregrpc_refltest;
        import "puregrpc_refltest/base.proto";
        extend Extendable { optional string note = 100; optional int32 level = 101; }
        message Holder { extend Extendable { optional bool flag = 150; } }
    """,
    "greeter.proto": """
        syntax = "proto3";
        package puregrpc_refltest;
        import "puregrpc_refltest/types.proto";
        import "puregrpc_refltest/ext.proto";
        service Greeter {
          rpc Greet (Outer) returns (Outer.Inner);
          rpc Chat (stream Outer) returns (stream Outer);
        }
    """,
}
TIMESTAMP = "google/protobuf/timestamp.proto"


def proto(name: str) -> str:
    return f"{PACKAGE}/{name}"


@pytest.fixture(scope="module")
def greeter(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """``puregrpc_refltest.greeter_grpc``, generated with our plugin and imported (which puts
    every file above in the default descriptor pool)."""
    root = tmp_path_factory.mktemp("refltest")
    (root / PACKAGE).mkdir()
    for name, text in PROTOS.items():
        (root / PACKAGE / name).write_text(text)
    out = root / "out"
    files = [str(root / PACKAGE / name) for name in PROTOS]
    assert generate(["-I", str(root), "--out", str(out), *files]) == 0
    sys.path.insert(0, str(out))
    try:
        # greeter_grpc imports the _pb2 modules of its messages only: the file declaring the
        # service gets into the descriptor pool when its own _pb2 module is imported.
        importlib.import_module(f"{PACKAGE}.greeter_pb2")
        module = importlib.import_module(f"{PACKAGE}.greeter_grpc")
    finally:
        sys.path.remove(str(out))
    assert Path(str(module.__file__)).parent == out / PACKAGE
    return module


def make_server(greeter: Any) -> puregrpc.Server:
    class Greeter(greeter.GreeterServicer):  # type: ignore[misc]
        async def Greet(self, request: Any, context: Any) -> Any:
            return greeter.types_pb2.Outer.Inner(x=1)

        async def Chat(self, requests: Any, context: Any) -> AsyncIterator[Any]:
            async for request in requests:
                yield request

    server = puregrpc.Server()
    greeter.add_GreeterServicer_to_server(Greeter(), server)
    puregrpc.health.add_to_server(server)
    puregrpc.reflection.add_to_server(server)
    return server


@contextlib.asynccontextmanager
async def serving(greeter: Any) -> AsyncIterator[str]:
    server = make_server(greeter)
    port = await server.start("127.0.0.1:0")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=1.0)


def names_of(files: list[bytes]) -> list[str]:
    return [descriptor_pb2.FileDescriptorProto.FromString(f).name for f in files]


# -- grpcio-reflection's client (grpcio, blocking: run in a thread)


class V1Channel:
    """A grpc.Channel calling reflection v1 where the client asks for v1alpha (the messages
    are the same on the wire)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._channel = channel

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        v1 = method.replace("/grpc.reflection.v1alpha.", "/grpc.reflection.v1.")
        assert v1 != method
        return self._channel.stream_stream(v1, *args, **kwargs)


def explore_with_grpcio(target: str, v1: bool) -> dict[str, Any]:
    """What a reflection client finds out: services, then a method's types through the files
    (and their dependencies) the server sends."""
    found: dict[str, Any] = {}
    with grpc.insecure_channel(target) as raw:
        channel = cast(grpc.Channel, V1Channel(raw)) if v1 else raw
        database = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(database)
        found["services"] = sorted(database.get_services())
        service = pool.FindServiceByName(f"{PACKAGE}.Greeter")
        greet = service.methods_by_name["Greet"]
        chat = service.methods_by_name["Chat"]
        found["greet"] = (greet.input_type.full_name, greet.output_type.full_name)
        found["chat_streaming"] = (chat.client_streaming, chat.server_streaming)
        fields = greet.input_type.fields_by_name
        when, kind = fields["when"].message_type, fields["kind"].enum_type
        assert when is not None and kind is not None
        found["when"] = when.full_name
        found["kind"] = [v.name for v in kind.values]
        found["oneof"] = [f.name for f in greet.input_type.oneofs_by_name["choice"].fields]
        found["files"] = sorted(database._known_files)
        # (Its FindFileContainingExtension never asks the server: protobuf's DescriptorDatabase
        # answers None first. test_one_stream_many_requests covers that request.)
        found["extension_numbers"] = sorted(
            database.FindAllExtensionNumbers(f"{PACKAGE}.Extendable")
        )
        health = pool.FindServiceByName("grpc.health.v1.Health")
        found["health_methods"] = sorted(health.methods_by_name)
        for missing in (
            lambda: database.FindFileContainingSymbol(f"{PACKAGE}.Nope"),
            lambda: database.FindFileByName("nope.proto"),
            lambda: database.FindAllExtensionNumbers(f"{PACKAGE}.Nope"),
        ):
            with pytest.raises(KeyError):  # the client's reading of a NOT_FOUND error_response
                missing()
    return found


@pytest.mark.parametrize("v1", [False, True], ids=["v1alpha", "v1"])
@needs_grpcio
async def test_grpcio_reflection_client(greeter: ModuleType, v1: bool) -> None:
    async with serving(greeter) as target:
        found = await asyncio.to_thread(explore_with_grpcio, target, v1)
    assert found["services"] == sorted(
        [
            f"{PACKAGE}.Greeter",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
    )
    assert found["greet"] == (f"{PACKAGE}.Outer", f"{PACKAGE}.Outer.Inner")
    assert found["chat_streaming"] == (True, True)
    assert found["when"] == "google.protobuf.Timestamp"  # a transitive dependency
    assert found["kind"] == ["KIND_UNSPECIFIED", "KIND_A"]
    assert found["oneof"] == ["a", "b"]
    greeter_files = {proto(n) for n in ("greeter.proto", "types.proto", "ext.proto", "base.proto")}
    assert greeter_files | {TIMESTAMP} <= set(found["files"])
    assert found["extension_numbers"] == [100, 101, 150]
    assert found["health_methods"] == ["Check", "List", "Watch"]


# -- our client: one stream, many requests


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_one_stream_many_requests(greeter: ModuleType, version: str) -> None:
    pb2: Any = v1_pb2 if version == "v1" else v1alpha_pb2
    stub_class: Any = (
        v1_grpc.ServerReflectionStub if version == "v1" else v1alpha_grpc.ServerReflectionStub
    )
    Request = pb2.ServerReflectionRequest
    async with serving(greeter) as target, puregrpc.Channel(target) as channel:
        call = stub_class(channel).ServerReflectionInfo()

        async def ask(**fields: Any) -> Any:
            request = Request(host="localhost", **fields)
            await call.write(request)
            response = await asyncio.wait_for(call.read(), 5.0)
            assert response.original_request == request
            assert response.valid_host == "localhost"
            return response

        def files(response: Any) -> list[str]:
            assert response.WhichOneof("message_response") == "file_descriptor_response"
            return names_of(list(response.file_descriptor_response.file_descriptor_proto))

        def error(response: Any) -> tuple[int, str]:
            assert response.WhichOneof("message_response") == "error_response"
            return response.error_response.error_code, response.error_response.error_message

        listed = await ask(list_services="")
        assert {s.name for s in listed.list_services_response.service} >= {
            f"{PACKAGE}.Greeter",
            f"grpc.reflection.{version}.ServerReflection",
        }
        # A method: its file first, then every transitive dependency, breadth first.
        assert files(await ask(file_containing_symbol=f"{PACKAGE}.Greeter.Greet")) == [
            proto("greeter.proto"),
            proto("types.proto"),
            proto("ext.proto"),
            TIMESTAMP,
            proto("base.proto"),
        ]
        # Asked for again: the file itself, but no dependency already sent on this stream.
        assert files(await ask(file_containing_symbol=f"{PACKAGE}.Outer.Inner")) == [
            proto("types.proto")
        ]
        assert error(await ask(file_containing_symbol=f"{PACKAGE}.Nope")) == (
            5,
            f"symbol not found: {PACKAGE}.Nope",
        )
        assert files(await ask(file_by_filename=proto("base.proto"))) == [proto("base.proto")]
        assert error(await ask(file_by_filename="nope.proto"))[0] == 5
        extension = pb2.ExtensionRequest(containing_type=f"{PACKAGE}.Extendable")
        extension.extension_number = 101
        assert files(await ask(file_containing_extension=extension)) == [proto("ext.proto")]
        extension.extension_number = 199
        assert error(await ask(file_containing_extension=extension))[0] == 5
        numbers = (
            await ask(all_extension_numbers_of_type=f"{PACKAGE}.Extendable")
        ).all_extension_numbers_response
        assert (numbers.base_type_name, list(numbers.extension_number)) == (
            f"{PACKAGE}.Extendable",
            [100, 101, 150],
        )
        assert error(await ask(all_extension_numbers_of_type=f"{PACKAGE}.Nope"))[0] == 5
        assert error(await ask())[0] == puregrpc.StatusCode.INVALID_ARGUMENT
        # The stream is still good after all those errors.
        assert files(await ask(file_containing_symbol=f"{PACKAGE}.Color")) == [proto("types.proto")]
        await call.done_writing()
        assert await call.read() is None
        assert await call.code() == puregrpc.StatusCode.OK


# -- the lookups themselves


@pytest.mark.parametrize(
    ("symbol", "file"),
    [
        (f"{PACKAGE}.Greeter", "greeter.proto"),
        (f"{PACKAGE}.Greeter.Chat", "greeter.proto"),
        (f"{PACKAGE}.Outer", "types.proto"),
        (f"{PACKAGE}.Outer.Inner", "types.proto"),
        (f"{PACKAGE}.Outer.Inner.x", "types.proto"),
        (f"{PACKAGE}.Outer.Kind", "types.proto"),
        (f"{PACKAGE}.Outer.KIND_A", "types.proto"),
        (f"{PACKAGE}.Outer.when", "types.proto"),
        (f"{PACKAGE}.Outer.choice", "types.proto"),
        (f"{PACKAGE}.Color", "types.proto"),
        (f"{PACKAGE}.RED", "types.proto"),
        (f"{PACKAGE}.Extendable", "base.proto"),
        (f"{PACKAGE}.note", "ext.proto"),
        (f"{PACKAGE}.Holder.flag", "ext.proto"),
    ],
)
def test_file_containing_symbol(greeter: ModuleType, symbol: str, file: str) -> None:
    servicer = ReflectionServicer(())
    request = v1_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
    response = servicer.respond(request, set())
    names = names_of(list(response.file_descriptor_response.file_descriptor_proto))
    assert names[0] == proto(file)


@pytest.mark.parametrize(
    "symbol",
    [
        "",
        PACKAGE,
        f"{PACKAGE}.Greeter.Nope",
        f"{PACKAGE}.Outer.nope",
        f"{PACKAGE}.Outer.Inner.x.y",
        ".",
        "..",
        f".{PACKAGE}.Outer",
    ],
)
def test_unknown_symbols_are_not_found(greeter: ModuleType, symbol: str) -> None:
    response = ReflectionServicer(()).respond(
        v1_pb2.ServerReflectionRequest(file_containing_symbol=symbol), set()
    )
    assert response.error_response.error_code == puregrpc.StatusCode.NOT_FOUND


def test_our_own_services_come_from_our_pool() -> None:
    """Health and reflection are found even when no other copy of their protos is loaded;
    their files keep upstream's names."""
    servicer = ReflectionServicer((), pools=[POOL])
    for symbol, file in [
        ("grpc.health.v1.Health", "grpc/health/v1/health.proto"),
        ("grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"),
        (
            "grpc.reflection.v1.ServerReflection.ServerReflectionInfo",
            "grpc/reflection/v1/reflection.proto",
        ),
        ("grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto"),
    ]:
        response = servicer.respond(
            v1_pb2.ServerReflectionRequest(file_containing_symbol=symbol), set()
        )
        assert names_of(list(response.file_descriptor_response.file_descriptor_proto)) == [file]


def test_list_services() -> None:
    server = puregrpc.Server()
    servicer = puregrpc.reflection.add_to_server(server)
    puregrpc.health.add_to_server(server)  # added later: listed too
    request = v1_pb2.ServerReflectionRequest(list_services="*")
    listed = servicer.respond(request, set()).list_services_response
    assert [s.name for s in listed.service] == [
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.health.v1.Health",
    ]
    given = puregrpc.reflection.add_to_server(puregrpc.Server(), ["a.A"])
    listed = given.respond(request, set()).list_services_response
    assert [s.name for s in listed.service] == [
        "a.A",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ]
