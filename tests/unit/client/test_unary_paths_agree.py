"""The client's unary fast path (no interceptor hooking in before the call's end) behaves as the
general path does: responses, metadata, deadlines, cancellation, errors, compression, odd
servers. Every behaviour test runs both ways: "general" adds an interceptor with an `on_call`
hook, which keeps the call off the fast path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.grpc_util import memory_target
from support.scripted_server import RESPONSE_HEAD, RawStream, scripted

import puregrpc
from puregrpc import (
    ClientCallDetails,
    ClientInterceptor,
    Metadata,
    RpcError,
    ServicerContext,
    Status,
    StatusCode,
)
from puregrpc._client.call import UnaryUnaryCall
from puregrpc._client.deadlines import _MIN_COMPACT
from puregrpc._client.interceptors import ClientChain
from puregrpc._vocab.deadline import decode_timeout, encode_timeout
from puregrpc._wire.framing import frame_message
from puregrpc._wire.request_head import timeout_text

Ctx = ServicerContext[bytes, bytes]
PATHS = ["fast", "general"]


class OnCall(ClientInterceptor):
    """Hooks in before the call starts: the call takes the general path."""

    async def on_call(self, details: ClientCallDetails) -> None:
        pass


class Service:
    """`test.Fast`: Echo, Hang (until cancelled), Fail (aborts), Squeeze (compresses)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.metadata: Metadata | None = None

    async def echo(self, request: bytes, context: Ctx) -> bytes:
        self.metadata = context.invocation_metadata()
        await context.send_initial_metadata([("x-initial", "yes")])
        context.set_trailing_metadata([("x-trailing-bin", b"\x00\x01")])
        return request

    async def hang(self, request: bytes, context: Ctx) -> bytes:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return b""

    async def fail(self, request: bytes, context: Ctx) -> bytes:
        await context.abort(StatusCode.NOT_FOUND, "no such thing", [("x-why", "test")])

    async def squeeze(self, request: bytes, context: Ctx) -> bytes:
        context.set_compression("gzip")
        return request * 100


@contextlib.asynccontextmanager
async def serving(
    path: str, *interceptors: ClientInterceptor, **options: Any
) -> AsyncIterator[tuple[puregrpc.Channel, Service]]:
    """A server of `test.Fast` and a connected channel whose calls take `path`."""
    service = Service()
    server = puregrpc.Server()
    server.add_service(
        puregrpc.ServiceDefinition(
            "test.Fast",
            {
                "Echo": puregrpc.unary_unary_handler(service.echo),
                "Hang": puregrpc.unary_unary_handler(service.hang),
                "Fail": puregrpc.unary_unary_handler(service.fail),
                "Squeeze": puregrpc.unary_unary_handler(service.squeeze),
            },
        )
    )
    target = memory_target()
    await server.start(target)
    extra = (OnCall(),) if path == "general" else ()
    try:
        async with puregrpc.Channel(
            target, interceptors=(*interceptors, *extra), **options
        ) as channel:
            await channel.channel_ready()  # the fast path needs a connection that is up
            yield channel, service
    finally:
        await server.stop(grace=1.0)


def on_fast_path(call: UnaryUnaryCall[Any, Any]) -> bool:
    """Whether the fast path opened the call's stream (the general path starts it in `_start`)."""
    return call._attempt is not None and call._started is None


async def _await(call: UnaryUnaryCall[Any, Any]) -> Any:
    return await call


@pytest.mark.parametrize("path", PATHS)
async def test_response_and_metadata_both_ways(path: str) -> None:
    async with serving(path) as (channel, service):
        for _ in range(3):  # the later calls find the request and response headers cached
            call = channel.unary_unary("/test.Fast/Echo")(
                b"hi", timeout=10, metadata=[("x-id", "7"), ("x-raw-bin", b"\xff\x00")]
            )
            assert await call == b"hi"
            assert on_fast_path(call) == (path == "fast")
            assert service.metadata is not None
            assert service.metadata.get("x-id") == "7"
            assert service.metadata.get("x-raw-bin") == b"\xff\x00"
            assert (await call.initial_metadata()).get("x-initial") == "yes"
            assert (await call.trailing_metadata()).get("x-trailing-bin") == b"\x00\x01"
            assert await call.code() == StatusCode.OK
            assert call.done() and not call.cancelled()
            assert call.last_message_compressed() is False


@pytest.mark.parametrize("path", PATHS)
async def test_no_timeout(path: str) -> None:
    async with serving(path) as (channel, _):
        call = channel.unary_unary("/test.Fast/Echo")(b"x")
        assert await call == b"x"
        assert call.time_remaining() is None
        assert on_fast_path(call) == (path == "fast")


@pytest.mark.parametrize("path", PATHS)
async def test_deadline_exceeded(path: str) -> None:
    async with serving(path) as (channel, service):
        call = channel.unary_unary("/test.Fast/Hang")(b"", timeout=0.2)
        with pytest.raises(RpcError) as caught:
            await call
        assert caught.value.code() == StatusCode.DEADLINE_EXCEEDED
        assert await call.code() == StatusCode.DEADLINE_EXCEEDED
        assert on_fast_path(call) == (path == "fast")
        await asyncio.wait_for(service.cancelled.wait(), 10)  # the server's handler ended too


@pytest.mark.parametrize("path", PATHS)
async def test_cancel_from_elsewhere(path: str) -> None:
    async with serving(path) as (channel, service):
        call = channel.unary_unary("/test.Fast/Hang")(b"", timeout=30)
        waiting = asyncio.ensure_future(_await(call))
        await service.started.wait()
        assert call.cancel()
        assert not call.cancel()  # already done
        with pytest.raises(RpcError) as caught:
            await waiting
        assert caught.value.code() == StatusCode.CANCELLED
        assert call.cancelled()
        await asyncio.wait_for(service.cancelled.wait(), 10)


@pytest.mark.parametrize("path", PATHS)
async def test_cancelling_the_awaiting_task(path: str) -> None:
    async with serving(path) as (channel, service):
        call = channel.unary_unary("/test.Fast/Hang")(b"", timeout=30)
        task = asyncio.ensure_future(_await(call))
        await service.started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert call.cancelled()
        assert await call.code() == StatusCode.CANCELLED
        await asyncio.wait_for(service.cancelled.wait(), 10)


@pytest.mark.parametrize("path", PATHS)
async def test_error_status_with_trailing_metadata(path: str) -> None:
    async with serving(path) as (channel, _):
        for _ in range(2):
            call = channel.unary_unary("/test.Fast/Fail")(b"", timeout=10)
            with pytest.raises(RpcError) as caught:
                await call
            assert caught.value.code() == StatusCode.NOT_FOUND
            assert caught.value.details() == "no such thing"
            assert caught.value.trailing_metadata().get("x-why") == "test"
            assert await call.details() == "no such thing"


@pytest.mark.parametrize("path", PATHS)
async def test_done_callbacks_run_once_after_the_status(path: str) -> None:
    async with serving(path) as (channel, _):
        seen: list[tuple[bool, bool]] = []
        call = channel.unary_unary("/test.Fast/Echo")(b"x", timeout=10)
        call.add_done_callback(lambda c: seen.append((c is call, c.done())))
        assert await call == b"x"
        call.add_done_callback(lambda c: seen.append((c is call, c.done())))
        await asyncio.sleep(0)  # callbacks are scheduled, as a future's are
        assert seen == [(True, True), (True, True)]


@pytest.mark.parametrize("path", PATHS)
async def test_compression_both_ways(path: str) -> None:
    async with serving(path, compression="gzip") as (channel, _):
        for _ in range(2):
            call = channel.unary_unary("/test.Fast/Squeeze")(b"ab", timeout=10)
            assert await call == b"ab" * 100
            assert call._attempt is not None and call._attempt.response_encoding == "gzip"
            assert call.last_message_compressed() is True
            assert await channel.unary_unary("/test.Fast/Echo")(b"plain", timeout=10) == b"plain"


async def test_on_end_hooks_run_on_the_fast_path() -> None:
    ended: list[tuple[str, StatusCode]] = []

    class Ends(ClientInterceptor):
        def on_end(self, status: Status, details: ClientCallDetails) -> None:
            ended.append((details.method, status.code))

    async with serving("fast", Ends()) as (channel, _):
        call = channel.unary_unary("/test.Fast/Echo")(b"x", timeout=10)
        assert await call == b"x"
        assert on_fast_path(call)
        with pytest.raises(RpcError):
            await channel.unary_unary("/test.Fast/Hang")(b"", timeout=0.1)
        assert ended == [
            ("/test.Fast/Echo", StatusCode.OK),
            ("/test.Fast/Hang", StatusCode.DEADLINE_EXCEEDED),
        ]


async def test_deadlines_out_of_order_and_many_finished_calls() -> None:
    """Shorter timeouts after longer ones get timers of their own; finished calls do not pile
    up behind a long one holding the front of the channel's deadline queue."""
    async with serving("fast") as (channel, service):
        echo = channel.unary_unary("/test.Fast/Echo")
        hang = channel.unary_unary("/test.Fast/Hang")
        long_call = asyncio.ensure_future(_await(hang(b"", timeout=60)))
        await service.started.wait()
        short = hang(b"", timeout=0.2)  # earlier than the queued deadline
        with pytest.raises(RpcError) as caught:
            await short
        assert caught.value.code() == StatusCode.DEADLINE_EXCEEDED
        for _ in range(3 * _MIN_COMPACT):
            assert await echo(b"x", timeout=30) == b"x"
        deadlines = channel._deadlines
        assert deadlines is not None
        assert len(deadlines._queue) <= 2 * _MIN_COMPACT
        long_call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await long_call


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([], StatusCode.UNIMPLEMENTED),  # S2: no response message
        ([b"a", b"b"], StatusCode.UNIMPLEMENTED),  # more than one
        ([b"big" * 30_000, b"big" * 30_000], StatusCode.UNIMPLEMENTED),  # over the window
        ([b"\x01compressed"], StatusCode.INTERNAL),  # compressed, without grpc-encoding
    ],
)
async def test_odd_responses_fail_the_same_way(
    path: str, messages: list[bytes], code: StatusCode
) -> None:
    async def script(stream: RawStream) -> None:
        stream.send_headers(RESPONSE_HEAD)
        for message in messages:
            compressed = message.startswith(b"\x01")
            stream.send_data(frame_message(message[compressed:], compressed))
        stream.send_headers([("grpc-status", "0")], end_stream=True)

    async with scripted(script) as channel:
        if path == "general":
            channel._chain = ClientChain((OnCall(),))
        await channel.channel_ready()
        call = channel.unary_unary("/test.Echo/Unary")(b"x", timeout=10)
        with pytest.raises(RpcError) as caught:
            await call
        assert caught.value.code() == code
        assert on_fast_path(call) == (path == "fast")


async def test_request_headers_are_one_tuple_per_combination() -> None:
    channel = puregrpc.Channel("127.0.0.1:1")
    headers = channel._request_headers.build
    first = headers("/s/M", 5.0004, Metadata(), "identity")
    assert headers("/s/M", 5.0001, Metadata(), "identity") is first  # the same millisecond
    assert ("grpc-timeout", "5001m") in first
    assert headers("/s/M", 5.0014, Metadata(), "identity") is not first
    with_metadata = headers("/s/M", None, Metadata([("k", "v")]), "gzip")
    assert headers("/s/M", None, Metadata([("k", "v")]), "gzip") is with_metadata
    assert ("k", "v") in with_metadata and ("grpc-encoding", "gzip") in with_metadata
    assert not any(name == "grpc-timeout" for name, _ in with_metadata)
    await channel.close()


@pytest.mark.parametrize(
    "seconds", [1.0, 1.0000001, 2.5, 9.99999, 59.0, 3600.25, 99_998.9, 0.5, 1.5e-6, 1e6]
)
def test_timeout_text_never_says_less_than_the_timeout(seconds: float) -> None:
    text = timeout_text(seconds)
    if 1.0 <= seconds < 99_999.0:
        assert text.endswith("m")
        assert seconds * 1000 <= int(text[:-1]) < seconds * 1000 + 1
    else:
        assert text == encode_timeout(seconds)
    assert decode_timeout(text) > 0


@pytest.mark.parametrize("path", PATHS)
async def test_deadline_enforced_by_the_client_when_the_server_never_answers(path: str) -> None:
    async def script(stream: RawStream) -> None:
        pass  # no response, and no grpc-timeout enforcement: only the client's timer ends it

    async with scripted(script) as channel:
        if path == "general":
            channel._chain = ClientChain((OnCall(),))
        await channel.channel_ready()
        call = channel.unary_unary("/test.Echo/Unary")(b"x", timeout=0.2)
        with pytest.raises(RpcError) as caught:
            await call
        assert caught.value.code() == StatusCode.DEADLINE_EXCEEDED
        assert on_fast_path(call) == (path == "fast")


@pytest.mark.parametrize("path", PATHS)
async def test_responses_beyond_the_connection_window(path: str) -> None:
    """The credit of responses read is handed back to the connection (16 MiB window)."""
    async with serving(path) as (channel, _):
        echo = channel.unary_unary("/test.Fast/Echo")
        request = bytes(range(256)) * 4096  # 1 MiB
        for _ in range(3):
            calls = [echo(request, timeout=30) for _ in range(8)]
            assert await asyncio.gather(*calls) == [request] * 8
