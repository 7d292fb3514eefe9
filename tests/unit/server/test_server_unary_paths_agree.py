"""The server's lean unary path (a call that is its own servicer context, a response sent with
the trailers in one step) behaves as the general path does, and leaves no reference cycles."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from support.grpc_util import memory_target

import puregrpc
from puregrpc import RpcError, ServicerContext, StatusCode

Ctx = ServicerContext[bytes, bytes]


async def _serve(handler: Any, deserializer: Any = None) -> tuple[puregrpc.Server, str]:
    server = puregrpc.Server()
    methods = {"H": puregrpc.unary_unary_handler(handler, deserializer)}
    server.add_service(puregrpc.ServiceDefinition("test.E", methods))
    target = memory_target()
    await server.start(target)
    return server, target


async def test_the_context_is_a_servicer_context_and_outlives_its_call() -> None:
    contexts: list[Ctx] = []

    async def handler(request: bytes, context: Ctx) -> bytes:
        assert isinstance(context, ServicerContext)
        assert not context.done() and not context.cancelled()
        assert context.code() == StatusCode.OK and context.details() == ""
        assert context.time_remaining() is None and context.deadline is None
        assert not context.last_message_compressed()
        contexts.append(context)
        return request

    server, target = await _serve(handler)
    try:
        async with puregrpc.Channel(target) as channel:
            assert await channel.unary_unary("/test.E/H")(b"a") == b"a"
    finally:
        await server.stop()
    assert contexts[0].done() and contexts[0].code() == StatusCode.OK


async def test_what_a_returning_handler_sets_reaches_the_client() -> None:
    async def handler(request: bytes, context: Ctx) -> bytes:
        if request == b"code":
            context.set_code(StatusCode.NOT_FOUND)
            context.set_details("no such thing")
        elif request == b"trailers":
            context.set_trailing_metadata([("k", "v")])
        return request

    server, target = await _serve(handler)
    try:
        async with puregrpc.Channel(target) as channel:
            method = channel.unary_unary("/test.E/H")
            with pytest.raises(RpcError) as caught:
                await method(b"code")
            assert caught.value.code() == StatusCode.NOT_FOUND
            assert caught.value.details() == "no such thing"
            call = method(b"trailers")
            assert await call == b"trailers"
            assert (await call.trailing_metadata()).get("k") == "v"
    finally:
        await server.stop()


async def test_a_request_that_does_not_parse_is_internal() -> None:
    def parse(data: bytes) -> bytes:
        if data == b"bad":
            raise ValueError("bad request")
        return data

    async def handler(request: bytes, context: Ctx) -> bytes:
        return request

    server, target = await _serve(handler, parse)
    try:
        async with puregrpc.Channel(target) as channel:
            method = channel.unary_unary("/test.E/H")
            with pytest.raises(RpcError) as caught:
                await method(b"bad")
            assert caught.value.code() == StatusCode.INTERNAL
            assert "could not parse request: bad request" in caught.value.details()
            assert await method(b"good") == b"good"
    finally:
        await server.stop()


async def test_calls_leave_no_reference_cycles_of_the_server() -> None:
    async def handler(request: bytes, context: Ctx) -> bytes:
        if request == b"wait":
            await asyncio.sleep(0)
        return request

    server, target = await _serve(handler)
    gc.collect()
    gc.disable()
    try:
        async with puregrpc.Channel(target) as channel:
            method = channel.unary_unary("/test.E/H")
            for request in (b"x", b"wait") * 50:
                assert await method(request) == request
            await asyncio.sleep(0.01)
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            ours = [o for o in gc.garbage if type(o).__module__.partition(".")[0] == "puregrpc"]
            assert ours == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        await server.stop()
