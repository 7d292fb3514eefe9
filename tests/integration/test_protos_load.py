"""`puregrpc.protos`: load a .proto at run time, serve it and call it with no generated code."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import timestamp_pb2

import puregrpc
from puregrpc import protos
from puregrpc._codegen import generate
from puregrpc._server.handlers import Cardinality

PROTO_DIR = Path(__file__).parents[1] / "cli"
ECHO = PROTO_DIR / "echo.proto"


@pytest.fixture(scope="module")
def echo() -> protos.Protos:
    try:
        generate.find_protoc()
    except generate.GenerateError as exc:
        pytest.skip(str(exc))
    return protos.load(str(ECHO))


class Servicer:
    """clitest.Echo over the loaded message classes."""

    def __init__(self, echo: protos.Protos) -> None:
        self.reply = echo.message("clitest.EchoReply")

    async def Unary(self, request: Any, context: puregrpc.ServicerContext[Any, Any]) -> Any:
        if request.HasField("fail_with"):
            await context.abort(puregrpc.StatusCode(request.fail_with), "asked to fail")
        seconds = request.at.seconds if request.WhichOneof("extra") == "at" else 0
        text = (
            f"{request.text}:{seconds}:{sorted(request.counts.items())}:{list(request.inner.tags)}"
        )
        return self.reply(text=text, mood=request.mood)

    async def ServerStream(
        self, request: Any, context: puregrpc.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        for index in range(request.repeat):
            yield self.reply(text=request.text, index=index)

    async def ClientStream(
        self, requests: AsyncIterator[Any], context: puregrpc.ServicerContext[Any, Any]
    ) -> Any:
        texts = [request.text async for request in requests]
        return self.reply(text=" ".join(texts), index=len(texts))

    async def Bidi(
        self, requests: AsyncIterator[Any], context: puregrpc.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async for request in requests:
            yield self.reply(text=request.text.upper())


def test_messages_services_and_imports(echo: protos.Protos) -> None:
    assert {
        "clitest.EchoRequest",
        "clitest.EchoRequest.Inner",
        "clitest.EchoReply",
        "google.protobuf.Timestamp",
    } <= set(echo.messages)
    assert "clitest.EchoRequest.CountsEntry" not in echo.messages  # map entries are internal
    assert {"echo.proto", "mood.proto", "google/protobuf/timestamp.proto"} <= set(echo.files)

    request_class = echo.message("clitest.EchoRequest")
    timestamp = echo.message("google.protobuf.Timestamp")
    request: Any = request_class(text="hi", mood=1, counts={"a": 2}, at=timestamp(seconds=7))
    assert request_class.FromString(request.SerializeToString()) == request
    # The well-known type keeps its helpers, and the bytes match the generated module's.
    stamp: Any = timestamp(seconds=7)
    assert stamp.ToSeconds() == 7
    assert timestamp_pb2.Timestamp.FromString(request.at.SerializeToString()).seconds == 7
    assert echo.pool.FindEnumTypeByName("clitest.Mood").values_by_name["HAPPY"].number == 1

    service = echo.services["clitest.Echo"]
    assert service.name == "clitest.Echo"
    assert [(m.name, m.path, m.cardinality) for m in service.methods] == [
        ("Unary", "/clitest.Echo/Unary", Cardinality.UNARY_UNARY),
        ("ServerStream", "/clitest.Echo/ServerStream", Cardinality.UNARY_STREAM),
        ("ClientStream", "/clitest.Echo/ClientStream", Cardinality.STREAM_UNARY),
        ("Bidi", "/clitest.Echo/Bidi", Cardinality.STREAM_STREAM),
    ]
    for method in service.methods:
        assert method.request_class is request_class
        assert method.response_class is echo.message("clitest.EchoReply")
    assert service.method("Bidi").cardinality is Cardinality.STREAM_STREAM


async def test_serve_and_call_all_four_kinds(echo: protos.Protos) -> None:
    request_class = echo.message("clitest.EchoRequest")
    timestamp = echo.message("google.protobuf.Timestamp")
    server = puregrpc.Server()
    server.add_service(echo.service_definition("clitest.Echo", Servicer(echo)))
    port = await server.start("127.0.0.1:0")
    try:
        async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
            stub = echo.stub("clitest.Echo", channel)
            assert isinstance(stub.Unary, puregrpc.UnaryUnaryMultiCallable)
            assert isinstance(stub.ServerStream, puregrpc.UnaryStreamMultiCallable)
            assert isinstance(stub.ClientStream, puregrpc.StreamUnaryMultiCallable)
            assert isinstance(stub["Bidi"], puregrpc.StreamStreamMultiCallable)

            request = request_class(
                text="hi", mood=2, counts={"b": 1}, at=timestamp(seconds=9), inner={"tags": ["t"]}
            )
            reply = await stub.Unary(request, timeout=5.0)
            assert reply.text == "hi:9:[('b', 1)]:['t']"
            assert reply.mood == 2
            assert type(reply) is echo.message("clitest.EchoReply")

            replies = [r async for r in stub.ServerStream(request_class(text="x", repeat=3))]
            assert [(r.text, r.index) for r in replies] == [("x", 0), ("x", 1), ("x", 2)]

            async def requests(*texts: str) -> AsyncIterator[Any]:
                for text in texts:
                    yield request_class(text=text)

            reply = await stub.ClientStream(requests("a", "b", "c"))
            assert (reply.text, reply.index) == ("a b c", 3)

            replies = [r async for r in stub.Bidi(requests("up", "down"))]
            assert [r.text for r in replies] == ["UP", "DOWN"]

            with pytest.raises(puregrpc.RpcError) as info:
                await stub.Unary(request_class(text="x", fail_with=5))
            assert info.value.code() is puregrpc.StatusCode.NOT_FOUND
    finally:
        await server.stop(grace=1.0)


async def test_missing_servicer_methods_are_unimplemented(echo: protos.Protos) -> None:
    class OnlyUnary:
        async def Unary(self, request: Any, context: Any) -> Any:
            return echo.message("clitest.EchoReply")(text="only")

    definition = echo.service_definition("clitest.Echo", OnlyUnary())
    assert sorted(definition.methods) == ["Unary"]
    server = puregrpc.Server()
    server.add_service(definition)
    port = await server.start("127.0.0.1:0")
    try:
        async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
            stub = echo.stub("clitest.Echo", channel)
            request = echo.message("clitest.EchoRequest")()
            assert (await stub.Unary(request)).text == "only"
            with pytest.raises(puregrpc.RpcError) as info:
                await stub.ClientStream(aiter_of(request))
            assert info.value.code() is puregrpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(grace=1.0)


async def aiter_of(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


def test_loading_twice_gives_independent_pools(echo: protos.Protos) -> None:
    again = protos.load(str(ECHO), include=[str(PROTO_DIR)])
    assert again.pool is not echo.pool
    first, second = echo.message("clitest.EchoRequest"), again.message("clitest.EchoRequest")
    assert first is not second
    data = first(text="same").SerializeToString()
    parsed: Any = second.FromString(data)
    assert parsed.text == "same"


def test_load_with_include_and_relative_imports(tmp_path: Path, echo: protos.Protos) -> None:
    (tmp_path / "deps").mkdir()
    shutil.copy(PROTO_DIR / "mood.proto", tmp_path / "deps" / "mood.proto")
    shutil.copy(ECHO, tmp_path / "echo.proto")
    loaded = protos.load(
        str(tmp_path / "echo.proto"), include=[str(tmp_path), str(tmp_path / "deps")]
    )
    assert "clitest.Echo" in loaded.services


def test_errors(tmp_path: Path, echo: protos.Protos) -> None:
    with pytest.raises(protos.ProtosError, match="no such file"):
        protos.load(str(tmp_path / "missing.proto"))
    with pytest.raises(protos.ProtosError, match="no such include directory"):
        protos.load(str(ECHO), include=[str(tmp_path / "nowhere")])
    bad = tmp_path / "bad.proto"
    bad.write_text('syntax = "proto3";\nmessage M { strin x = 1; }\n')
    with pytest.raises(protos.ProtosError, match=r"protoc failed: .*strin"):
        protos.load(str(bad))
    unresolved = tmp_path / "unresolved.proto"
    unresolved.write_text('syntax = "proto3";\nimport "nope.proto";\n')
    with pytest.raises(protos.ProtosError, match=r"protoc failed: .*nope\.proto"):
        protos.load(str(unresolved))

    with pytest.raises(protos.ProtosError, match=r"no message 'clitest\.Nope'.*EchoRequest"):
        echo.message("clitest.Nope")
    with pytest.raises(protos.ProtosError, match=r"no service 'Echo'.*clitest\.Echo"):
        echo.service("Echo")
    with pytest.raises(protos.ProtosError, match="no service"):
        echo.service_definition("clitest.Nope", object())
    with pytest.raises(protos.ProtosError, match="has no method 'Nope'"):
        echo.services["clitest.Echo"].method("Nope")

    class NotCallable:
        Unary = 3

    with pytest.raises(protos.ProtosError, match=r"NotCallable\.Unary is not callable"):
        echo.service_definition("clitest.Echo", NotCallable())


async def test_stub_errors(echo: protos.Protos) -> None:
    async with puregrpc.Channel("127.0.0.1:1") as channel:  # never connects
        with pytest.raises(protos.ProtosError, match="no service"):
            echo.stub("clitest.Nope", channel)
        stub = echo.stub("clitest.Echo", channel)
        with pytest.raises(AttributeError, match="has no method 'Nope'"):
            _ = stub.Nope
        with pytest.raises(KeyError, match="has no method 'Nope'"):
            _ = stub["Nope"]
        assert {"Unary", "ServerStream", "ClientStream", "Bidi"} <= set(dir(stub))
