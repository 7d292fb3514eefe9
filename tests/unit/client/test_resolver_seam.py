"""The resolver seam (`puregrpc._client.resolver`) through `puregrpc.testing.ManualResolver`:
calls wait for the first addresses, a resolution failure fails calls that do not wait for
ready (WF1), a new address list moves new calls and drains the old connection, a lost
connection asks for re-resolution, and deadlines bound the wait (N1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

import puregrpc
from puregrpc import RpcError, ServicerContext, StatusCode
from puregrpc._client.resolver import register_scheme, resolver_for
from puregrpc.testing import ManualResolver


@asynccontextmanager
async def named_server(name: str) -> AsyncIterator[puregrpc.Server]:
    async def who(request: bytes, context: ServicerContext[bytes, bytes]) -> bytes:
        return name.encode()

    server = puregrpc.Server()
    methods = {"Who": puregrpc.unary_unary_handler(who)}
    server.add_service(puregrpc.ServiceDefinition("test.R", methods))
    await server.start(f"memory:{name}")
    try:
        yield server
    finally:
        await server.stop(grace=1.0)


async def test_calls_wait_for_the_first_addresses() -> None:
    with ManualResolver() as resolver:
        async with named_server("a"), puregrpc.Channel(resolver.target) as channel:
            call = asyncio.ensure_future(channel.unary_unary("/test.R/Who")(b"", timeout=5))
            await asyncio.sleep(0.01)
            assert not call.done()  # no addresses yet
            resolver.update(["memory:a"])
            assert await call == b"a"


async def test_a_channel_made_after_the_update_has_the_addresses_at_once() -> None:
    with ManualResolver() as resolver:
        resolver.update(["memory:a"])
        async with named_server("a"), puregrpc.Channel(resolver.target) as channel:
            assert await channel.unary_unary("/test.R/Who")(b"", timeout=5) == b"a"


async def test_a_resolution_failure_fails_calls_unless_they_wait_for_ready() -> None:
    with ManualResolver() as resolver:
        async with named_server("a"), puregrpc.Channel(resolver.target) as channel:
            resolver.fail("no such name")
            who = channel.unary_unary("/test.R/Who")
            with pytest.raises(RpcError) as caught:
                await who(b"", timeout=5)
            assert caught.value.code() == StatusCode.UNAVAILABLE
            assert caught.value.details() == "no such name"
            waiting = asyncio.ensure_future(who(b"", timeout=5, wait_for_ready=True))
            await asyncio.sleep(0.01)
            assert not waiting.done()
            resolver.update(["memory:a"])
            assert await waiting == b"a"


async def test_the_wait_for_addresses_is_bounded_by_the_deadline() -> None:
    with ManualResolver() as resolver:
        async with puregrpc.Channel(resolver.target) as channel:
            with pytest.raises(RpcError) as caught:
                await channel.unary_unary("/test.R/Who")(b"", timeout=0.05)
            assert caught.value.code() == StatusCode.DEADLINE_EXCEEDED


async def test_a_new_address_list_moves_new_calls_and_drains_the_old_connection() -> None:
    with ManualResolver() as resolver:
        resolver.update(["memory:a"])
        async with (
            named_server("a") as server_a,
            named_server("b"),
            puregrpc.Channel(resolver.target) as channel,
        ):
            who = channel.unary_unary("/test.R/Who")
            assert await who(b"", timeout=5) == b"a"
            old = channel._subchannels[0]._conn
            assert old is not None
            resolver.update(["memory:b", "memory:a"])  # a is still known: b first now
            assert await who(b"", timeout=5) == b"b"
            assert channel._subchannels[1]._conn is old  # the subchannel of `a` was kept
            resolver.update(["memory:b"])  # `a` dropped: its idle connection closes
            await asyncio.wait_for(old.wait_closed(), 5)
            assert await who(b"", timeout=5) == b"b"
            for _ in range(100):
                if not server_a._connections:
                    break
                await asyncio.sleep(0.01)
            assert not server_a._connections


async def test_a_lost_connection_asks_for_re_resolution() -> None:
    with ManualResolver() as resolver:
        resolver.update(["memory:a"])
        async with puregrpc.Channel(resolver.target) as channel:
            async with named_server("a"):
                assert await channel.unary_unary("/test.R/Who")(b"", timeout=5) == b"a"
                assert resolver.resolve_now_calls == 0
            conn = channel._subchannels[0]._conn
            assert conn is not None
            await asyncio.wait_for(conn.wait_closed(), 5)
            assert resolver.resolve_now_calls == 1


async def test_a_closed_channel_stops_listening_to_its_resolver() -> None:
    with ManualResolver() as resolver:
        channel = puregrpc.Channel(resolver.target)
        assert len(resolver._listeners) == 1
        await channel.close()
        assert resolver._listeners == []
        resolver.update(["memory:a"])  # no error: nobody listens
        with pytest.raises(RpcError) as caught:
            await channel.unary_unary("/test.R/Who")(b"", timeout=1)
        assert caught.value.code() == StatusCode.UNAVAILABLE


def test_schemes_are_registered_once_and_unregistered_on_close() -> None:
    with ManualResolver("test-scheme") as resolver:
        assert resolver_for("test-scheme:///x") is not None
        with pytest.raises(ValueError, match="already registered"):
            register_scheme("test-scheme", resolver._build)
    assert resolver_for("test-scheme:///x") is None
    assert resolver_for("127.0.0.1:50051") is None  # no scheme: one address, parsed as today
