"""Connection management: graceful stop (W23), keepalive (K1-K3), idle limit (K5),
reconnect backoff (K6) and wait-for-ready (WF1)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from support.grpc_util import EchoService

import puregrpc
from puregrpc import RpcError, StatusCode
from puregrpc._client import channel as client_channel
from puregrpc._http2 import _frames as F
from puregrpc._transport import keepalive

Echo = puregrpc.UnaryUnaryMultiCallable[bytes, bytes]


@pytest.fixture
def fast_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift the 10 s floor of K1 so keepalive can be tested in seconds."""
    monkeypatch.setattr(keepalive, "MIN_KEEPALIVE_TIME", 0.0)
    monkeypatch.setattr(client_channel, "MIN_KEEPALIVE_TIME", 0.0)


async def _server(**options: float | bool | None) -> tuple[puregrpc.Server, int]:
    server = puregrpc.Server(**options)  # type: ignore[arg-type]
    server.add_service(EchoService().definition())
    return server, await server.start("127.0.0.1:0")


async def _echo(method: Echo, data: bytes) -> bytes:
    return await method(data)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_graceful_stop_lets_running_calls_finish_and_refuses_new_ones() -> None:
    server, port = await _server()
    async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
        echo = channel.unary_unary("/test.Echo/Unary")
        assert await echo(b"warm") == b"warm"
        slow = asyncio.ensure_future(_echo(echo, b"slow"))
        await asyncio.sleep(0.05)
        await server.stop(grace=5.0)
        assert await slow == b"slow"  # started before the GOAWAY: finished
        with pytest.raises(RpcError) as caught:
            await echo(b"after", timeout=2)
        assert caught.value.code() == StatusCode.UNAVAILABLE


async def test_stop_cancels_calls_that_outlive_the_grace_period() -> None:
    service = EchoService()
    server = puregrpc.Server()
    server.add_service(service.definition())
    port = await server.start("127.0.0.1:0")
    async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
        stuck = asyncio.ensure_future(_echo(channel.unary_unary("/test.Echo/Unary"), b"sleep"))
        await asyncio.sleep(0.05)
        await server.stop(grace=0.2)
        assert service.cancelled.is_set()
        with pytest.raises(RpcError) as caught:
            await stuck
        assert caught.value.code() == StatusCode.UNAVAILABLE


@pytest.mark.usefixtures("fast_keepalive")
async def test_server_ends_a_connection_that_pings_too_often() -> None:
    """K2 on the server, K3 on the client: GOAWAY ENHANCE_YOUR_CALM too_many_pings, and the
    client doubles its keepalive time."""
    server, port = await _server()
    try:
        async with puregrpc.Channel(
            f"127.0.0.1:{port}", keepalive_time=0.5, keepalive_without_calls=True
        ) as channel:
            assert await channel.unary_unary("/test.Echo/Unary")(b"x") == b"x"
            conn = channel._subchannels[0]._conn
            assert conn is not None
            await asyncio.wait_for(conn.wait_closed(), 15)
            assert conn.goaway_received
            assert channel._subchannels[0]._keepalive is not None
            assert channel._subchannels[0]._keepalive.time == 1.0
            # The channel reconnects for the next call.
            assert await channel.unary_unary("/test.Echo/Unary")(b"y") == b"y"
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """An HTTP/2 'server' that sends its SETTINGS and then never says anything again."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        writer.write(F.build_settings({}))
        await reader.read(100_000)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.usefixtures("fast_keepalive")
async def test_keepalive_detects_a_dead_peer() -> None:
    """K1/W24: an unanswered keepalive PING ends the connection; calls fail UNAVAILABLE."""
    async with (
        silent_server() as port,
        puregrpc.Channel(f"127.0.0.1:{port}", keepalive_time=0.5, keepalive_timeout=1.0) as channel,
    ):
        with pytest.raises(RpcError) as caught:
            await channel.unary_unary("/test.Echo/Unary")(b"x", timeout=10)
        assert caught.value.code() == StatusCode.UNAVAILABLE
        assert "keepalive" in caught.value.details()


async def test_idle_connections_are_closed_and_replaced() -> None:
    server, port = await _server(max_connection_idle=1.0)
    try:
        async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
            echo = channel.unary_unary("/test.Echo/Unary")
            assert await echo(b"1") == b"1"
            first = channel._subchannels[0]._conn
            assert first is not None
            await asyncio.wait_for(first.wait_closed(), 5)
            assert first.goaway_received
            assert await echo(b"2") == b"2"
            assert channel._subchannels[0]._conn is not first
    finally:
        await server.stop()


async def test_reconnect_backoff_fails_fast_then_wait_for_ready_waits() -> None:
    port = _free_port()
    async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
        echo = channel.unary_unary("/test.Echo/Unary")
        with pytest.raises(RpcError) as first:
            await echo(b"x", timeout=5)
        assert first.value.code() == StatusCode.UNAVAILABLE
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RpcError) as second:
            await echo(b"x", timeout=5)
        assert second.value.code() == StatusCode.UNAVAILABLE
        assert loop.time() - started < 0.5  # inside the backoff: no new connection attempt
        server = puregrpc.Server()
        server.add_service(EchoService().definition())
        await server.start(f"127.0.0.1:{port}")
        try:
            assert await echo(b"ready", timeout=10, wait_for_ready=True) == b"ready"
        finally:
            await server.stop()


async def test_wait_for_ready_still_honours_the_deadline() -> None:
    port = _free_port()
    async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(RpcError) as caught:
            await channel.unary_unary("/test.Echo/Unary")(b"x", timeout=0.5, wait_for_ready=True)
        assert caught.value.code() == StatusCode.DEADLINE_EXCEEDED


async def test_connections_are_retired_at_max_age_and_calls_cut_after_the_grace() -> None:
    """K5: GOAWAY "max_age" after about max_connection_age (±10 %), then calls still running
    after max_connection_age_grace are cancelled; the channel moves to a new connection."""
    server, port = await _server(max_connection_age=1.0, max_connection_age_grace=0.5)
    try:
        async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
            echo = channel.unary_unary("/test.Echo/Unary")
            assert await echo(b"1") == b"1"
            first = channel._subchannels[0]._conn
            assert first is not None
            stuck = asyncio.ensure_future(_echo(echo, b"sleep"))
            await asyncio.wait_for(first.wait_closed(), 10)
            assert first.goaway_received
            with pytest.raises(RpcError) as caught:
                await stuck
            assert caught.value.code() == StatusCode.UNAVAILABLE
            assert await echo(b"2") == b"2"
            assert channel._subchannels[0]._conn is not first
    finally:
        await server.stop()
