"""Call features beyond the basics: deadline propagation, server-side compression choices,
explicit read/write in handlers, asyncio idioms inside handlers."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.grpc_util import memory_target

import puregrpc
from puregrpc import RpcError, ServicerContext, StatusCode
from puregrpc._wire.request_head import RequestHeaders

Ctx = ServicerContext[bytes, bytes]
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


async def _start(methods: dict[str, puregrpc.MethodHandler[Any, Any]]) -> tuple[Any, str]:
    server = puregrpc.Server()
    server.add_service(puregrpc.ServiceDefinition("test.F", methods))
    target = memory_target()
    await server.start(target)
    return server, target


async def test_deadline_propagates_into_calls_a_handler_makes() -> None:
    """A handler's outgoing call inherits what is left of its own deadline."""
    seen: list[float | None] = []

    async def backend(request: bytes, context: Ctx) -> bytes:
        seen.append(context.time_remaining())
        return b"ok"

    backend_server, backend_target = await _start({"B": puregrpc.unary_unary_handler(backend)})
    channel = puregrpc.Channel(backend_target)

    async def frontend(request: bytes, context: Ctx) -> bytes:
        reply: bytes = await channel.unary_unary("/test.F/B")(request)  # no timeout of its own
        return reply

    front_server, front_target = await _start({"F": puregrpc.unary_unary_handler(frontend)})
    try:
        async with puregrpc.Channel(front_target) as client:
            assert await client.unary_unary("/test.F/F")(b"x", timeout=3.0) == b"ok"
        assert seen[0] is not None and 2.0 < seen[0] <= 3.0
    finally:
        await channel.close()
        await front_server.stop()
        await backend_server.stop()


async def test_server_compresses_only_what_the_client_accepts() -> None:
    async def big(request: bytes, context: Ctx) -> bytes:
        context.set_compression("gzip")
        return b"z" * 10_000

    async def streamed(request: bytes, context: Ctx) -> AsyncIterator[bytes]:
        context.set_compression("deflate")
        yield b"a" * 1000
        context.disable_next_message_compression()  # C2
        yield b"b" * 1000
        yield b"c" * 1000

    server, target = await _start(
        {
            "Big": puregrpc.unary_unary_handler(big),
            "Streamed": puregrpc.unary_stream_handler(streamed),
        }
    )
    try:
        async with puregrpc.Channel(target) as channel:
            call = channel.unary_unary("/test.F/Big")(b"")
            assert await call == b"z" * 10_000
            assert (
                call._attempt is not None and call._attempt.response_encoding == "gzip"
            )  # the response headers said so
            stream = channel.unary_stream("/test.F/Streamed")(b"")
            assert [m async for m in stream] == [b"a" * 1000, b"b" * 1000, b"c" * 1000]
            assert stream._attempt is not None and stream._attempt.response_encoding == "deflate"
        async with puregrpc.Channel(target) as channel:
            # A client that accepts only identity gets identity (C7).
            channel._request_headers = _IdentityOnly(channel._request_headers)  # type: ignore[assignment]
            call = channel.unary_unary("/test.F/Big")(b"")
            assert await call == b"z" * 10_000
            assert call._attempt is not None and call._attempt.response_encoding == "identity"
    finally:
        await server.stop()


class _IdentityOnly:
    """Request headers that accept only identity (a client without compression)."""

    def __init__(self, inner: RequestHeaders) -> None:
        self._inner = inner

    def build(self, *args: Any) -> list[tuple[str, str]]:
        fields = self._inner.build(*args)
        return [(k, "identity" if k == "grpc-accept-encoding" else v) for k, v in fields]


async def test_handlers_can_use_explicit_read_and_write() -> None:
    async def chat(requests: AsyncIterator[bytes], context: Ctx) -> AsyncIterator[bytes]:
        while (message := await context.read()) is not None:
            await context.write(message[::-1])
        nothing: tuple[bytes, ...] = ()
        for message in nothing:  # an async generator that only writes through the context
            yield message

    server, target = await _start({"Chat": puregrpc.stream_stream_handler(chat)})
    try:
        async with puregrpc.Channel(target) as channel:
            call = channel.stream_stream("/test.F/Chat")()
            await call.write(b"abc")
            assert await call.read() == b"cba"
            await call.write(b"xyz")
            assert await call.read() == b"zyx"
            await call.done_writing()
            assert await call.read() is None
            assert await call.code() == StatusCode.OK
    finally:
        await server.stop()


async def test_asyncio_timeout_and_contextvars_work_inside_handlers() -> None:
    async def handler(request: bytes, context: Ctx) -> bytes:
        request_id.set(request.decode())
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(1)
        except TimeoutError:
            pass
        await asyncio.sleep(0)
        return request_id.get().encode()

    server, target = await _start({"H": puregrpc.unary_unary_handler(handler)})
    try:
        async with puregrpc.Channel(target) as channel:
            method = channel.unary_unary("/test.F/H")
            replies = await asyncio.gather(*(method(str(i).encode()) for i in range(20)))
            assert replies == [str(i).encode() for i in range(20)]  # one context per call
    finally:
        await server.stop()


async def test_streaming_response_cancelled_by_the_client_stops_the_handler() -> None:
    stopped = asyncio.Event()

    async def forever(request: bytes, context: Ctx) -> AsyncIterator[bytes]:
        try:
            i = 0
            while True:
                yield str(i).encode()
                i += 1
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    server, target = await _start({"Forever": puregrpc.unary_stream_handler(forever)})
    try:
        async with puregrpc.Channel(target) as channel:
            call = channel.unary_stream("/test.F/Forever")(b"")
            got = []
            async for message in call:
                got.append(message)
                if len(got) == 3:
                    break  # leaving the loop cancels the call
            assert await call.code() == StatusCode.CANCELLED
            await asyncio.wait_for(stopped.wait(), 5)
    finally:
        await server.stop()


async def test_sending_a_message_over_the_send_limit_fails_locally() -> None:
    async def echo(request: bytes, context: Ctx) -> bytes:
        return request

    server, target = await _start({"E": puregrpc.unary_unary_handler(echo)})
    try:
        async with puregrpc.Channel(target, max_send_message_length=100) as channel:
            with pytest.raises(RpcError) as caught:
                await channel.unary_unary("/test.F/E")(b"x" * 101)
            assert caught.value.code() == StatusCode.RESOURCE_EXHAUSTED
            assert await channel.unary_unary("/test.F/E")(b"x" * 100) == b"x" * 100
    finally:
        await server.stop()
