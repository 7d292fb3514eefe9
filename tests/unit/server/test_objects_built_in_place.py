"""Objects the hot path builds without `__init__` (`object.__new__` and every field set in
place) are complete: every slot of a request's `GrpcStream` and of its `ServerCall` is set by
the builder, so no field is read before it is written. (The engine's own objects have their
twin test in tests/unit/http2/test_h2_constructors_agree.py.)"""

from __future__ import annotations

from typing import Any

import pytest

import puregrpc
from puregrpc import ServicerContext
from puregrpc._server.call import ServerCall
from puregrpc._server.connection import ServerConnection
from puregrpc._transport.stream import GrpcStream

# ServerCall fields that `parse` sets as the first thing `start` does, before anything reads
# them (the class says so); all others come from the builder.
SET_BY_PARSE = frozenset({"path", "request_encoding", "accept_encodings", "metadata"})


def _slots(cls: type) -> set[str]:
    return {slot for klass in cls.__mro__ for slot in getattr(klass, "__slots__", ())}


def _unset(obj: object, cls: type, exempt: frozenset[str] = frozenset()) -> list[str]:
    return sorted(slot for slot in _slots(cls) - exempt if not hasattr(obj, slot))


async def test_a_requests_stream_and_call_have_every_slot_set_by_their_builders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[tuple[list[str], list[str]]] = []
    on_request = ServerConnection.on_request

    def checked(self: ServerConnection, stream: GrpcStream, end_stream: bool) -> None:
        before = set(self.calls)
        on_request(self, stream, end_stream)
        (call,) = set(self.calls) - before
        built.append((_unset(stream, GrpcStream), _unset(call, ServerCall, SET_BY_PARSE)))

    monkeypatch.setattr(ServerConnection, "on_request", checked)

    async def echo(request: bytes, context: ServicerContext[bytes, bytes]) -> bytes:
        return request

    server = puregrpc.Server()
    methods: dict[str, Any] = {"Echo": puregrpc.unary_unary_handler(echo)}
    server.add_service(puregrpc.ServiceDefinition("test.Built", methods))
    await server.start("memory:built")
    try:
        async with puregrpc.Channel("memory:built") as channel:
            assert await channel.unary_unary("/test.Built/Echo")(b"x", timeout=5) == b"x"
            stream = channel.unary_stream("/test.Built/Echo")(b"y", timeout=5)
            assert [m async for m in stream] == [b"y"]
    finally:
        await server.stop()
    assert built == [([], []), ([], [])]


def test_the_slot_walk_sees_every_field() -> None:
    assert {"stream_id", "on_fail", "_messages"} <= _slots(GrpcStream)
    assert {"stream", "handler", "_code", "compress_next"} <= _slots(ServerCall)
