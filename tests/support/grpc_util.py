"""A test service over raw bytes (no protobuf) and a helper to run our server and client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import puregrpc
from puregrpc import ServicerContext, StatusCode

Ctx = ServicerContext[bytes, bytes]


class EchoService:
    """`test.Echo`: every kind of call, plus behaviours the tests ask for by request content."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.seen_metadata: puregrpc.Metadata | None = None

    async def Unary(self, request: bytes, context: Ctx) -> bytes:
        self.seen_metadata = context.invocation_metadata()
        if request == b"abort":
            await context.abort(StatusCode.NOT_FOUND, "no such thing \u263a", [("x-why", "test")])
        if request == b"raise":
            raise ValueError("boom")
        if request == b"sleep":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if request == b"metadata":
            await context.send_initial_metadata([("x-initial", "yes")])
            context.set_trailing_metadata([("x-trailing-bin", b"\x00\x01\x02")])
        if request == b"slow":
            await asyncio.sleep(0.3)
        if request == b"remaining":
            remaining = context.time_remaining()
            return str(remaining).encode()
        return request

    async def ServerStream(self, request: bytes, context: Ctx) -> AsyncIterator[bytes]:
        count = int(request or b"3")
        for i in range(count):
            yield str(i).encode()

    async def ClientStream(self, requests: AsyncIterator[bytes], context: Ctx) -> bytes:
        parts = [r async for r in requests]
        return b"|".join(parts)

    async def Bidi(self, requests: AsyncIterator[bytes], context: Ctx) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request.upper()

    def definition(self) -> puregrpc.ServiceDefinition:
        return puregrpc.ServiceDefinition(
            "test.Echo",
            {
                "Unary": puregrpc.unary_unary_handler(self.Unary),
                "ServerStream": puregrpc.unary_stream_handler(self.ServerStream),
                "ClientStream": puregrpc.stream_unary_handler(self.ClientStream),
                "Bidi": puregrpc.stream_stream_handler(self.Bidi),
            },
        )


@contextlib.asynccontextmanager
async def running_server(
    service: EchoService | None = None, max_receive_message_length: int = 4 * 1024 * 1024
) -> AsyncIterator[tuple[int, EchoService]]:
    service = service or EchoService()
    server = puregrpc.Server(max_receive_message_length=max_receive_message_length)
    server.add_service(service.definition())
    port = await server.start("127.0.0.1:0")
    try:
        yield port, service
    finally:
        await server.stop(grace=1.0)


_memory_names = itertools.count(1)


def memory_target() -> str:
    """A fresh `memory:` address, for a server of the in-memory transport."""
    return f"memory:test-{next(_memory_names)}"


@contextlib.asynccontextmanager
async def serving_in_memory(
    service: EchoService | None = None, max_receive_message_length: int = 4 * 1024 * 1024
) -> AsyncIterator[tuple[str, EchoService]]:
    """`running_server` on the in-memory transport: yields the `memory:` target to dial."""
    service = service or EchoService()
    server = puregrpc.Server(max_receive_message_length=max_receive_message_length)
    server.add_service(service.definition())
    target = memory_target()
    await server.start(target)
    try:
        yield target, service
    finally:
        await server.stop(grace=1.0)
