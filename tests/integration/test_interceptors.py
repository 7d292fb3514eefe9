"""Client and server interceptors on all four call types: order, metadata, messages, refusal."""

from __future__ import annotations

from typing import Any

import pytest
from support.grpc_util import EchoService, memory_target

import puregrpc
from puregrpc import (
    ClientCallDetails,
    ClientInterceptor,
    RpcError,
    ServerInterceptor,
    ServicerContext,
    Status,
    StatusCode,
)

Ctx = ServicerContext[Any, Any]


class Recorder(ServerInterceptor):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def on_call(self, method: str, context: Ctx) -> None:
        self.log.append(f"{self.name}.call {method}")

    async def on_request(self, message: Any, context: Ctx) -> Any:
        self.log.append(f"{self.name}.request {message!r}")
        return message

    async def on_response(self, message: Any, context: Ctx) -> Any:
        self.log.append(f"{self.name}.response {message!r}")
        return message

    def on_end(self, status: Status, context: Ctx) -> None:
        self.log.append(f"{self.name}.end {status.code.name}")


class TokenAuth(ServerInterceptor):
    async def on_call(self, method: str, context: Ctx) -> None:
        if context.invocation_metadata().get("authorization") != "Bearer sesame":
            await context.abort(StatusCode.UNAUTHENTICATED, "bad or missing token")


class AddToken(ClientInterceptor):
    async def on_call(self, details: ClientCallDetails) -> None:
        details.metadata.append(("authorization", "Bearer sesame"))


class Shout(ClientInterceptor):
    """Replaces messages both ways."""

    async def on_request(self, message: Any, details: ClientCallDetails) -> Any:
        return bytes(message) + b"!"

    async def on_response(self, message: Any, details: ClientCallDetails) -> Any:
        return bytes(message).upper()


class ClientLog(ClientInterceptor):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def on_call(self, details: ClientCallDetails) -> None:
        self.log.append(f"{self.name}.call {details.method}")

    def on_end(self, status: Status, details: ClientCallDetails) -> None:
        self.log.append(f"{self.name}.end {status.code.name}")


async def _serve(*interceptors: ServerInterceptor) -> tuple[puregrpc.Server, str]:
    server = puregrpc.Server(interceptors=interceptors)
    server.add_service(EchoService().definition())
    target = memory_target()
    await server.start(target)
    return server, target


async def test_server_interceptor_order_on_a_unary_call() -> None:
    log: list[str] = []
    server, target = await _serve(Recorder("a", log), Recorder("b", log))
    try:
        async with puregrpc.Channel(target) as channel:
            assert await channel.unary_unary("/test.Echo/Unary")(b"hi") == b"hi"
    finally:
        await server.stop(grace=1)
    assert log == [
        "a.call /test.Echo/Unary",
        "b.call /test.Echo/Unary",
        "a.request b'hi'",
        "b.request b'hi'",
        "b.response b'hi'",
        "a.response b'hi'",
        "b.end OK",
        "a.end OK",
    ]


@pytest.mark.parametrize("kind", ["unary", "server_stream", "client_stream", "bidi"])
async def test_token_auth_refuses_and_admits_every_call_type(kind: str) -> None:
    server, target = await _serve(TokenAuth())
    try:
        async with (
            puregrpc.Channel(target) as bare,
            puregrpc.Channel(target, interceptors=[AddToken()]) as authed,
        ):
            with pytest.raises(RpcError) as caught:
                await _call(bare, kind)
            assert caught.value.code() == StatusCode.UNAUTHENTICATED
            assert await _call(authed, kind) == _expected(kind)
    finally:
        await server.stop(grace=1)


async def _call(channel: puregrpc.Channel, kind: str) -> list[bytes]:
    if kind == "unary":
        return [await channel.unary_unary("/test.Echo/Unary")(b"x")]
    if kind == "server_stream":
        return [m async for m in channel.unary_stream("/test.Echo/ServerStream")(b"2")]
    if kind == "client_stream":
        return [await channel.stream_unary("/test.Echo/ClientStream")(iter([b"x", b"y"]))]
    return [m async for m in channel.stream_stream("/test.Echo/Bidi")(iter([b"x", b"y"]))]


def _expected(kind: str) -> list[bytes]:
    return {
        "unary": [b"x"],
        "server_stream": [b"0", b"1"],
        "client_stream": [b"x|y"],
        "bidi": [b"X", b"Y"],
    }[kind]


async def test_client_interceptors_replace_messages_and_see_the_end() -> None:
    log: list[str] = []
    server, target = await _serve()
    try:
        async with puregrpc.Channel(
            target, interceptors=[ClientLog("outer", log), Shout()]
        ) as channel:
            assert await channel.unary_unary("/test.Echo/Unary")(b"hey") == b"HEY!"
            bidi = channel.stream_stream("/test.Echo/Bidi")(iter([b"a", b"b"]))
            assert [m async for m in bidi] == [b"A!", b"B!"]
            with pytest.raises(RpcError):
                await channel.unary_unary("/test.Echo/Nope")(b"")
    finally:
        await server.stop(grace=1)
    assert log == [
        "outer.call /test.Echo/Unary",
        "outer.end OK",
        "outer.call /test.Echo/Bidi",
        "outer.end OK",
        "outer.call /test.Echo/Nope",
        "outer.end UNIMPLEMENTED",
    ]


async def test_client_interceptor_can_refuse_a_call_before_it_starts() -> None:
    class Refuse(ClientInterceptor):
        async def on_call(self, details: ClientCallDetails) -> None:
            raise RpcError(Status(StatusCode.PERMISSION_DENIED, "not from here"))

    server, target = await _serve()
    try:
        async with puregrpc.Channel(target, interceptors=[Refuse()]) as channel:
            with pytest.raises(RpcError) as caught:
                await channel.unary_unary("/test.Echo/Unary")(b"x")
            assert caught.value.code() == StatusCode.PERMISSION_DENIED
            call = channel.unary_unary("/test.Echo/Unary")(b"x")
            assert await call.code() == StatusCode.PERMISSION_DENIED
            assert await call.details() == "not from here"
    finally:
        await server.stop(grace=1)
