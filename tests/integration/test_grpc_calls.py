"""Our client against our server over the in-memory transport (and, where the test is about
sockets, loopback): the four call types and their failures."""

from __future__ import annotations

import asyncio
import socket

import pytest
from support.grpc_util import EchoService, running_server, serving_in_memory

import puregrpc
from puregrpc import RpcError, StatusCode


async def test_unary_round_trip() -> None:
    async with serving_in_memory() as (target, _), puregrpc.Channel(target) as channel:
        echo = channel.unary_unary("/test.Echo/Unary")
        assert await echo(b"hello") == b"hello"
        assert await echo(b"") == b""


async def test_many_concurrent_unary_calls_share_one_connection() -> None:
    async with serving_in_memory() as (target, _), puregrpc.Channel(target) as channel:
        echo = channel.unary_unary("/test.Echo/Unary")
        replies = await asyncio.gather(*(echo(str(i).encode()) for i in range(300)))
        assert replies == [str(i).encode() for i in range(300)]


async def test_server_streaming() -> None:
    async with serving_in_memory() as (target, _), puregrpc.Channel(target) as channel:
        call = channel.unary_stream("/test.Echo/ServerStream")(b"5")
        assert [m async for m in call] == [b"0", b"1", b"2", b"3", b"4"]
        assert await call.code() == StatusCode.OK


async def test_client_streaming_with_iterator_and_with_write() -> None:
    async with serving_in_memory() as (target, _), puregrpc.Channel(target) as channel:
        method = channel.stream_unary("/test.Echo/ClientStream")
        assert await method(iter([b"a", b"b", b"c"])) == b"a|b|c"
        call = method()
        await call.write(b"x")
        await call.write(b"y")
        await call.done_writing()
        assert await call == b"x|y"


async def test_bidi_iterator_and_explicit_styles() -> None:
    async with serving_in_memory() as (target, _), puregrpc.Channel(target) as channel:
        method = channel.stream_stream("/test.Echo/Bidi")

        async def requests() -> asyncio.AsyncIterator[bytes]:  # type: ignore[name-defined]
            for word in (b"ping", b"pong"):
                yield word

        assert [m async for m in method(requests())] == [b"PING", b"PONG"]
        call = method()
        for word in (b"one", b"two"):
            await call.write(word)
            assert await call.read() == word.upper()
        await call.done_writing()
        assert await call.read() is None
        assert await call.code() == StatusCode.OK


async def test_abort_carries_code_details_and_trailing_metadata() -> None:
    async with serving_in_memory() as (target, _), puregrpc.Channel(target) as channel:
        with pytest.raises(RpcError) as caught:
            await channel.unary_unary("/test.Echo/Unary")(b"abort")
        assert caught.value.code() == StatusCode.NOT_FOUND
        assert caught.value.details() == "no such thing \u263a"  # W16 percent-encoding
        assert caught.value.trailing_metadata().get("x-why") == "test"


async def test_handler_exception_is_unknown() -> None:
    async with serving_in_memory() as (target, _), puregrpc.Channel(target) as channel:
        with pytest.raises(RpcError) as caught:
            await channel.unary_unary("/test.Echo/Unary")(b"raise")
        assert caught.value.code() == StatusCode.UNKNOWN
        assert "boom" in caught.value.details()


async def test_unknown_method_and_service_are_unimplemented() -> None:
    async with serving_in_memory() as (target, _), puregrpc.Channel(target) as channel:
        for path in ("/test.Echo/Nope", "/test.Nope/Unary"):
            with pytest.raises(RpcError) as caught:
                await channel.unary_unary(path)(b"")
            assert caught.value.code() == StatusCode.UNIMPLEMENTED


async def test_metadata_both_ways() -> None:
    async with (
        serving_in_memory() as (target, service),
        puregrpc.Channel(target) as channel,
    ):
        call = channel.unary_unary("/test.Echo/Unary")(
            b"metadata", metadata=[("x-token", "abc"), ("x-raw-bin", b"\xff\x00")]
        )
        assert await call == b"metadata"
        assert (await call.initial_metadata()).get("x-initial") == "yes"
        assert (await call.trailing_metadata()).get("x-trailing-bin") == b"\x00\x01\x02"
        assert service.seen_metadata is not None
        assert service.seen_metadata.get("x-token") == "abc"
        assert service.seen_metadata.get("x-raw-bin") == b"\xff\x00"


async def test_deadline_exceeded_and_server_handler_cancelled() -> None:
    async with (
        serving_in_memory() as (target, service),
        puregrpc.Channel(target) as channel,
    ):
        with pytest.raises(RpcError) as caught:
            await channel.unary_unary("/test.Echo/Unary")(b"sleep", timeout=0.2)
        assert caught.value.code() == StatusCode.DEADLINE_EXCEEDED
        await asyncio.wait_for(service.cancelled.wait(), 5)


async def test_server_sees_the_deadline() -> None:
    async with serving_in_memory() as (target, _), puregrpc.Channel(target) as channel:
        remaining = float(await channel.unary_unary("/test.Echo/Unary")(b"remaining", timeout=5))
        assert 4.0 < remaining <= 5.0


async def test_client_cancel_cancels_the_handler() -> None:
    async with (
        serving_in_memory() as (target, service),
        puregrpc.Channel(target) as channel,
    ):
        call = channel.unary_unary("/test.Echo/Unary")(b"sleep")
        task = asyncio.ensure_future(_await(call))
        await asyncio.sleep(0.1)
        assert call.cancel()
        with pytest.raises(RpcError) as caught:
            await task
        assert caught.value.code() == StatusCode.CANCELLED
        await asyncio.wait_for(service.cancelled.wait(), 5)


async def _await(call: puregrpc.UnaryUnaryCall[bytes, bytes]) -> bytes:
    return await call


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
async def test_compressed_calls(compression: str) -> None:
    async with (
        serving_in_memory() as (target, _),
        puregrpc.Channel(target, compression=compression) as channel,
    ):
        payload = b"squeeze me " * 1000
        assert await channel.unary_unary("/test.Echo/Unary")(payload) == payload


async def test_message_larger_than_receive_limit_is_resource_exhausted() -> None:
    async with (
        serving_in_memory(max_receive_message_length=1000) as (target, _),
        puregrpc.Channel(target) as channel,
    ):
        with pytest.raises(RpcError) as caught:
            await channel.unary_unary("/test.Echo/Unary")(b"x" * 2000)
        assert caught.value.code() == StatusCode.RESOURCE_EXHAUSTED
        assert await channel.unary_unary("/test.Echo/Unary")(b"ok") == b"ok"


async def test_unreachable_server_is_unavailable() -> None:
    async with running_server() as (port, _):
        pass
    async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(RpcError) as caught:
            await channel.unary_unary("/test.Echo/Unary")(b"x", timeout=5)
        assert caught.value.code() == StatusCode.UNAVAILABLE


async def test_large_messages_cross_flow_control() -> None:
    async with serving_in_memory() as (target, _), puregrpc.Channel(target) as channel:
        payload = bytes(range(256)) * 12000  # ~3 MB, beyond every default window
        assert await channel.unary_unary("/test.Echo/Unary")(payload) == payload


def test_echo_service_definition_lists_paths() -> None:
    paths = EchoService().definition().paths()
    assert sorted(paths) == [
        "/test.Echo/Bidi",
        "/test.Echo/ClientStream",
        "/test.Echo/ServerStream",
        "/test.Echo/Unary",
    ]


def test_channel_and_server_can_be_built_outside_a_loop_and_used_in_one() -> None:
    """No object is bound to an event loop before its first use."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = puregrpc.Channel(f"127.0.0.1:{port}")
    server = puregrpc.Server()
    server.add_service(EchoService().definition())

    async def use() -> bytes:
        await server.start(f"127.0.0.1:{port}")
        try:
            reply: bytes = await channel.unary_unary("/test.Echo/Unary")(b"late")
            return reply
        finally:
            await channel.close()
            await server.stop()

    assert asyncio.run(use()) == b"late"
