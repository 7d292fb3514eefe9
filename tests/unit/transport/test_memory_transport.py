"""The in-memory transport (`puregrpc._transport.memory`): delivery order and timing, flow
control both ways, close / write_eof / abort as each end sees them, protocol failures,
listeners, and our real HTTP/2 + gRPC stack (Server, Channel) running over it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

import puregrpc
from puregrpc import ServicerContext
from puregrpc._transport.client_connection import ClientConnection
from puregrpc._transport.connection import GrpcConnection
from puregrpc._transport.memory import (
    DEFAULT_READ_SIZE,
    MemoryNetwork,
    MemoryServer,
    MemoryTransport,
    loop_network,
)
from puregrpc._wire.targets import Target

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Recorder(asyncio.Protocol):
    """A protocol that records every callback; `until` waits for a condition on them."""

    def __init__(self, keep_open: bool = False) -> None:
        self.keep_open = keep_open  # what eof_received returns
        self.events: list[tuple[str, Any]] = []
        self.chunks: list[bytes] = []
        self._transport: MemoryTransport | None = None
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Event()
        self.on_data: Callable[[bytes], None] | None = None

    @property
    def transport(self) -> MemoryTransport:
        assert self._transport is not None
        return self._transport

    def _note(self, kind: str, value: Any = None) -> None:
        self.events.append((kind, value))
        self._changed.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, MemoryTransport)
        self._transport = transport
        self._note("made")

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self._note("data", data)
        if self.on_data is not None:
            self.on_data(data)

    def eof_received(self) -> bool:
        self._note("eof")
        return self.keep_open

    def pause_writing(self) -> None:
        self._note("pause")

    def resume_writing(self) -> None:
        self._note("resume")

    def connection_lost(self, exc: Exception | None) -> None:
        self._note("lost", exc)
        self.lost.set_result(exc)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    def kinds(self) -> list[str]:
        """The callbacks in order, runs of data_received shown once."""
        kinds: list[str] = []
        for kind, _ in self.events:
            if not (kind == "data" and kinds and kinds[-1] == "data"):
                kinds.append(kind)
        return kinds

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self._changed.clear()
            await self._changed.wait()


async def turns(count: int = 20) -> None:
    """Let the loop run `count` iterations (delivery is callback-driven: no clock involved)."""
    for _ in range(count):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def connected(
    network: MemoryNetwork | None = None,
    client: Recorder | None = None,
    server: Recorder | None = None,
) -> AsyncIterator[tuple[Recorder, Recorder]]:
    """A connection between two recorders over `network`; aborted and waited for at the end."""
    network = network or MemoryNetwork()
    accepted: list[Recorder] = []

    def accept() -> Recorder:
        protocol = server or Recorder()
        accepted.append(protocol)
        return protocol

    listener = await network.create_server(accept, "test")
    try:
        _, near = await network.create_connection(lambda: client or Recorder(), "test")
        try:
            yield near, accepted[0]
        finally:
            near.transport.abort()  # (a no-op for an end already lost)
            accepted[0].transport.abort()
            await near.lost
            await accepted[0].lost
    finally:
        listener.close()
        await listener.wait_closed()


# ---------------------------------------------------------------- delivery


async def test_connection_made_on_both_ends_before_any_data() -> None:
    network = MemoryNetwork()
    order: list[str] = []

    class Greeter(Recorder):
        def __init__(self, label: str) -> None:
            super().__init__()
            self.label = label

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            order.append(f"{self.label} made")
            self.transport.write(self.label.encode())  # at once, as GrpcConnection does

        def data_received(self, data: bytes) -> None:
            order.append(f"{self.label} got {data.decode()}")
            super().data_received(data)

    async with connected(network, Greeter("client"), Greeter("server")) as (client, server):
        assert order == ["server made", "client made"]  # nothing delivered inside create_*
        await client.until(lambda: client.data == b"server")
        await server.until(lambda: server.data == b"client")
        assert order[:2] == ["server made", "client made"]


async def test_order_preserved_and_never_delivered_inside_write() -> None:
    async with connected() as (client, server):
        pieces = [bytes([i]) * (i + 1) for i in range(200)]
        for piece in pieces:
            client.transport.write(piece)
        client.transport.writelines([b"tail", bytearray(b"-ba"), memoryview(b"-mv")])
        assert server.chunks == []  # never re-entrantly inside write()
        expected = b"".join(pieces) + b"tail-ba-mv"
        await server.until(lambda: len(server.data) == len(expected))
        assert server.data == expected
        assert len(server.chunks) == 1  # queued writes are coalesced


async def test_written_buffer_is_copied() -> None:
    async with connected() as (client, server):
        buffer = bytearray(b"before")
        client.transport.write(buffer)
        buffer[:] = b"AFTER!"
        await server.until(lambda: len(server.data) == 6)
        assert server.data == b"before"


async def test_large_write_arrives_whole_in_read_size_chunks() -> None:
    async with connected() as (client, server):
        payload = bytes(range(256)) * (5 * 4096 + 3)  # ~5 MiB, not a multiple of the chunk
        client.transport.write(payload)
        await server.until(lambda: len(server.data) == len(payload))
        assert server.data == payload
        assert max(len(chunk) for chunk in server.chunks) == DEFAULT_READ_SIZE
        assert client.kinds() == ["made", "pause", "resume"]
        assert client.transport.get_write_buffer_size() == 0


async def test_read_size_one_delivers_byte_by_byte() -> None:
    async with connected(MemoryNetwork(read_size=1)) as (client, server):
        client.transport.write(b"abc")
        client.transport.write(b"de")
        await server.until(lambda: len(server.data) == 5)
        assert server.chunks == [b"a", b"b", b"c", b"d", b"e"]
    with pytest.raises(ValueError):
        MemoryNetwork(read_size=0)


async def test_both_directions_at_once() -> None:
    async with connected() as (client, server):
        client.transport.write(b"ping")
        server.transport.write(b"pong")
        await server.until(lambda: server.data == b"ping")
        await client.until(lambda: client.data == b"pong")


async def test_write_rejects_non_bytes() -> None:
    async with connected() as (client, _):
        with pytest.raises(TypeError):
            client.transport.write(cast(Any, "text"))
        client.transport.write(b"")  # nothing
        assert client.transport.get_write_buffer_size() == 0


# ---------------------------------------------------------------- flow control


async def test_write_buffer_limits() -> None:
    async with connected() as (client, server):
        transport = client.transport
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        transport.set_write_buffer_limits(high=10, low=5)
        assert transport.get_write_buffer_limits() == (5, 10)
        transport.set_write_buffer_limits(low=3)
        assert transport.get_write_buffer_limits() == (3, 12)
        transport.set_write_buffer_limits(high=8)
        assert transport.get_write_buffer_limits() == (2, 8)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=1, low=2)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=-1, low=-1)
        transport.set_write_buffer_limits(high=10, low=5)

        transport.write(b"12345678")
        assert transport.get_write_buffer_size() == 8
        assert client.kinds() == ["made"]  # at the high-water mark: not above it
        transport.write(b"abc")
        assert transport.get_write_buffer_size() == 11
        assert client.kinds() == ["made", "pause"]  # inside write(), as asyncio does
        transport.write(b"more")  # paused once, not again
        assert client.kinds() == ["made", "pause"]
        await client.until(lambda: client.kinds()[-1] == "resume")
        assert transport.get_write_buffer_size() == 0
        assert server.data == b"12345678abcmore"
        # Lowering the limits below what is buffered pauses at once.
        transport.write(b"xyz")
        transport.set_write_buffer_limits(high=0)
        assert client.kinds()[-1] == "pause"
        await client.until(lambda: client.kinds()[-1] == "resume")


async def test_paused_reader_stops_delivery_and_holds_the_writer_back() -> None:
    async with connected() as (client, server):
        server.transport.pause_reading()
        assert not server.transport.is_reading()
        client.transport.set_write_buffer_limits(high=100, low=20)
        client.transport.write(b"x" * 60)
        await turns()
        assert server.chunks == []  # nothing delivered while paused
        assert client.transport.get_write_buffer_size() == 60  # it counts against the writer
        client.transport.write(b"y" * 60)
        assert client.kinds() == ["made", "pause"]
        await turns()
        assert server.chunks == []
        assert client.kinds() == ["made", "pause"]

        server.transport.resume_reading()
        assert server.transport.is_reading()
        await client.until(lambda: client.kinds()[-1] == "resume")
        assert server.data == b"x" * 60 + b"y" * 60
        assert client.transport.get_write_buffer_size() == 0


async def test_pause_reading_inside_data_received_stops_the_next_chunk() -> None:
    async with connected(MemoryNetwork(read_size=4)) as (client, server):
        server.on_data = lambda data: server.transport.pause_reading()
        client.transport.write(b"aaaabbbbcccc")
        await server.until(lambda: len(server.chunks) == 1)
        await turns()
        assert server.chunks == [b"aaaa"]
        assert client.transport.get_write_buffer_size() == 8
        server.on_data = None
        server.transport.resume_reading()
        await server.until(lambda: server.data == b"aaaabbbbcccc")


# ---------------------------------------------------------------- close, write_eof, abort


async def test_close_delivers_what_is_queued_then_eof_then_lost_on_both_ends() -> None:
    async with connected() as (client, server):
        client.transport.write(b"last words")
        client.transport.close()
        assert client.transport.is_closing()
        client.transport.close()  # idempotent
        client.transport.write(b"dropped")  # after close(): discarded
        assert await client.lost is None
        assert await server.lost is None
        assert server.data == b"last words"
        assert server.kinds() == ["made", "data", "eof", "lost"]
        assert client.kinds() == ["made", "lost"]
        assert server.transport.is_closing()


async def test_close_drops_what_the_peer_had_queued_for_us_and_resumes_it() -> None:
    async with connected() as (client, server):
        client.transport.pause_reading()
        server.transport.set_write_buffer_limits(high=0)
        server.transport.write(b"never read")
        assert server.kinds() == ["made", "pause"]
        client.transport.close()
        assert await client.lost is None
        assert await server.lost is None
        assert client.chunks == []
        assert server.kinds() == ["made", "pause", "resume", "eof", "lost"]


async def test_peer_keeping_open_after_eof_stays_open_until_it_closes() -> None:
    async with connected(server=Recorder(keep_open=True)) as (client, server):
        client.transport.close()
        await server.until(lambda: "eof" in server.kinds())
        assert await client.lost is None
        await turns()
        assert not server.transport.is_closing()
        assert not server.lost.done()
        server.transport.write(b"to nobody")  # the other end is gone: discarded
        assert server.transport.get_write_buffer_size() == 0
        server.transport.close()
        assert await server.lost is None
        assert client.chunks == []


async def test_close_waits_for_a_paused_reader_and_abort_does_not() -> None:
    async with connected() as (client, server):
        server.transport.pause_reading()
        client.transport.write(b"pending")
        client.transport.close()
        await turns()
        assert not client.lost.done()  # its buffer is not delivered yet (as with a socket)
        client.transport.abort()
        assert await client.lost is None
        exc = await server.lost
        assert isinstance(exc, ConnectionResetError)
        assert exc.errno == errno.ECONNRESET
        assert server.chunks == []


async def test_close_with_nothing_queued_does_not_wait_for_a_paused_reader() -> None:
    async with connected() as (client, server):
        server.transport.pause_reading()
        client.transport.close()
        assert await client.lost is None
        await turns()
        assert server.kinds() == ["made"]  # the EOF waits for the reader
        server.transport.resume_reading()
        assert await server.lost is None
        assert server.kinds() == ["made", "eof", "lost"]


async def test_write_eof_is_a_half_close() -> None:
    async with connected(server=Recorder(keep_open=True)) as (client, server):
        assert client.transport.can_write_eof()
        client.transport.write(b"request")
        client.transport.write_eof()
        client.transport.write_eof()  # idempotent
        with pytest.raises(RuntimeError):
            client.transport.write(b"more")
        await server.until(lambda: "eof" in server.kinds())
        assert server.data == b"request"
        assert not server.transport.is_closing()
        server.transport.write(b"response")  # the other direction still works
        server.transport.close()
        assert await server.lost is None
        assert await client.lost is None
        assert client.data == b"response"
        assert client.kinds() == ["made", "data", "eof", "lost"]


async def test_both_halves_shut_leave_the_transport_open_until_close() -> None:
    both = Recorder(keep_open=True)
    async with connected(client=both, server=Recorder(keep_open=True)) as (client, server):
        client.transport.write_eof()
        server.transport.write_eof()
        await client.until(lambda: "eof" in client.kinds())
        await server.until(lambda: "eof" in server.kinds())
        await turns()
        assert not client.lost.done() and not server.lost.done()
        client.transport.close()
        server.transport.close()
        assert await client.lost is None
        assert await server.lost is None


async def test_abort_drops_queued_bytes_and_resets_the_peer() -> None:
    async with connected() as (client, server):
        client.transport.write(b"never delivered")
        server.transport.write(b"never delivered either")
        client.transport.abort()
        assert client.transport.is_closing()
        assert client.transport.get_write_buffer_size() == 0
        assert await client.lost is None
        exc = await server.lost
        assert isinstance(exc, ConnectionResetError)
        assert server.transport.is_closing()
        assert server.chunks == [] and client.chunks == []
        client.transport.abort()  # a no-op now
        server.transport.write(b"after the reset")  # discarded
        await turns()
        assert client.kinds() == ["made", "lost"]
        assert server.kinds() == ["made", "lost"]


async def test_pause_and_resume_reading_after_close_are_no_ops() -> None:
    async with connected() as (client, _):
        client.transport.close()
        client.transport.pause_reading()
        client.transport.resume_reading()
        assert not client.transport.is_reading()
        assert await client.lost is None


# ---------------------------------------------------------------- protocol failures


@contextlib.contextmanager
def captured_errors() -> Any:
    loop = asyncio.get_running_loop()
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))
    try:
        yield contexts
    finally:
        loop.set_exception_handler(None)


async def test_data_received_raising_is_reported_and_ends_the_connection() -> None:
    boom = ValueError("boom")

    def explode(_: bytes) -> None:
        raise boom

    with captured_errors() as errors:
        async with connected() as (client, server):
            server.on_data = explode
            client.transport.write(b"x")
            assert await server.lost is boom
            assert isinstance(await client.lost, ConnectionResetError)
        assert [e["exception"] for e in errors] == [boom]
        assert "data_received" in errors[0]["message"]
        assert errors[0]["protocol"] is server


async def test_eof_received_raising_is_reported_and_ends_the_connection() -> None:
    class BadEof(Recorder):
        def eof_received(self) -> bool:
            raise KeyError("eof")

    with captured_errors() as errors:
        async with connected(server=BadEof()) as (client, server):
            client.transport.write_eof()
            assert isinstance(await server.lost, KeyError)
            assert isinstance(await client.lost, ConnectionResetError)
        assert len(errors) == 1 and "eof_received" in errors[0]["message"]


async def test_connection_made_raising_is_reported_and_ends_the_connection() -> None:
    class BadStart(Recorder):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            raise RuntimeError("no")

    with captured_errors() as errors:
        async with connected(server=BadStart()) as (client, server):
            assert isinstance(await server.lost, RuntimeError)
            assert isinstance(await client.lost, ConnectionResetError)
            assert client.kinds() == ["made", "lost"]
        assert len(errors) == 1 and "connection_made" in errors[0]["message"]


async def test_pause_writing_raising_is_reported_and_nothing_closes() -> None:
    class BadPause(Recorder):
        def pause_writing(self) -> None:
            raise RuntimeError("pause")

        def resume_writing(self) -> None:
            raise RuntimeError("resume")

    with captured_errors() as errors:
        async with connected(client=BadPause()) as (client, server):
            client.transport.set_write_buffer_limits(high=0)
            client.transport.write(b"abc")
            await server.until(lambda: server.data == b"abc")
            await turns()
            assert not client.transport.is_closing()
            assert [e["message"] for e in errors] == [
                "protocol.pause_writing() failed",
                "protocol.resume_writing() failed",
            ]


async def test_connection_lost_raising_reaches_the_loop_handler() -> None:
    class BadLost(Recorder):
        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            raise RuntimeError("lost")

    with captured_errors() as errors:
        async with connected(server=BadLost()) as (client, server):
            client.transport.close()
            await server.lost
            await turns(3)
        assert [type(e["exception"]) for e in errors] == [RuntimeError]


async def test_server_factory_raising_is_reported_and_resets_the_connect() -> None:
    network = MemoryNetwork()

    def refuse() -> asyncio.Protocol:
        raise RuntimeError("factory")

    with captured_errors() as errors:
        listener = await network.create_server(refuse, "bad")
        try:
            with pytest.raises(ConnectionResetError):
                await network.create_connection(asyncio.Protocol, "bad")
        finally:
            listener.close()
            await listener.wait_closed()
        assert len(errors) == 1 and isinstance(errors[0]["exception"], RuntimeError)


# ---------------------------------------------------------------- addresses and listeners


async def test_extra_info() -> None:
    network = MemoryNetwork()
    async with connected(network) as (client, server):
        near, far = client.transport, server.transport
        assert isinstance(near, asyncio.Transport)
        assert far.get_extra_info("sockname") == ("memory", "test")
        assert near.get_extra_info("peername") == ("memory", "test")
        assert near.get_extra_info("sockname") == ("memory", "test#1")
        assert far.get_extra_info("peername") == ("memory", "test#1")
        assert near.get_extra_info("socket") is None
        assert near.get_extra_info("ssl_object") is None
        assert near.get_extra_info("nothing", "default") == "default"
        assert near.get_protocol() is client
        assert "test#1 -> test open" in repr(near)
        _, second = await network.create_connection(Recorder, "test")  # the same listener
        assert second.transport.get_extra_info("sockname") == ("memory", "test#2")
        second.transport.close()
        assert await second.lost is None


async def test_set_protocol_redirects_delivery() -> None:
    async with connected() as (client, server):
        other = Recorder()
        server.transport.set_protocol(other)
        client.transport.write(b"to the new protocol")
        await other.until(lambda: other.data == b"to the new protocol")
        assert server.chunks == []
        server.transport.set_protocol(server)  # (so the cleanup sees connection_lost)


async def test_connection_refused() -> None:
    network = MemoryNetwork()
    with pytest.raises(ConnectionRefusedError) as info:
        await network.create_connection(asyncio.Protocol, "nobody")
    assert info.value.errno == errno.ECONNREFUSED
    listener = await network.create_server(asyncio.Protocol, "later", start_serving=False)
    try:
        assert not listener.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await network.create_connection(asyncio.Protocol, "later")
    finally:
        listener.close()
    for bad in ("", "a#b"):
        with pytest.raises(ValueError):
            await network.create_server(asyncio.Protocol, bad)


async def test_name_in_use_until_the_listener_closes() -> None:
    network = MemoryNetwork()
    listener = await network.create_server(asyncio.Protocol, "taken")
    with pytest.raises(OSError) as info:
        await network.create_server(asyncio.Protocol, "taken")
    assert info.value.errno == errno.EADDRINUSE
    listener.close()
    await listener.wait_closed()
    again = await network.create_server(asyncio.Protocol, "taken")
    again.close()
    await again.wait_closed()


async def test_listener_close_refuses_new_connections_and_keeps_existing_ones() -> None:
    network = MemoryNetwork()
    accepted: list[Recorder] = []

    def accept() -> Recorder:
        accepted.append(Recorder())
        return accepted[-1]

    listener = await network.create_server(accept, "svc")
    assert isinstance(listener, MemoryServer) and isinstance(listener, asyncio.AbstractServer)
    assert listener.is_serving() and listener.sockets == ()
    assert listener.address == ("memory", "svc")
    _, client = await network.create_connection(Recorder, "svc")
    assert listener.connections == 1
    listener.close()
    listener.close()  # idempotent
    assert not listener.is_serving()
    with pytest.raises(ConnectionRefusedError):
        await network.create_connection(Recorder, "svc")

    client.transport.write(b"still")  # the existing connection works both ways
    accepted[0].transport.write(b"here")
    await accepted[0].until(lambda: accepted[0].data == b"still")
    await client.until(lambda: client.data == b"here")

    closed = asyncio.ensure_future(listener.wait_closed())
    await turns()
    assert not closed.done()  # a connection it accepted is still open
    client.transport.close()
    await closed
    assert listener.connections == 0
    assert await client.lost is None
    await listener.wait_closed()  # at once now


async def test_close_clients_and_abort_clients() -> None:
    network = MemoryNetwork()
    async with await network.create_server(Recorder, "svc") as listener:
        _, one = await network.create_connection(Recorder, "svc")
        _, two = await network.create_connection(Recorder, "svc")
        listener.close_clients()
        assert await one.lost is None and await two.lost is None
        _, three = await network.create_connection(Recorder, "svc")
        listener.abort_clients()
        assert isinstance(await three.lost, ConnectionResetError)
    assert not listener.is_serving()


async def test_serve_forever_returns_by_cancellation_when_closed() -> None:
    network = MemoryNetwork()
    listener = await network.create_server(Recorder, "svc")
    serving = asyncio.ensure_future(listener.serve_forever())
    await turns(3)
    with pytest.raises(RuntimeError):
        await listener.serve_forever()
    listener.close()
    with pytest.raises(asyncio.CancelledError):
        await serving
    with pytest.raises(RuntimeError):
        await listener.serve_forever()  # closed


async def test_loop_network_is_one_per_loop() -> None:
    network = loop_network()
    assert loop_network() is network
    assert loop_network(asyncio.get_running_loop()) is network


async def test_unclosed_transport_warns() -> None:
    network = MemoryNetwork()
    listener = await network.create_server(asyncio.Protocol, "svc")
    await network.create_connection(asyncio.Protocol, "svc")
    listener.close()
    await turns(3)
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        del listener
        gc.collect()


# ---------------------------------------------------------------- gRPC over it


async def echo(request: bytes, context: ServicerContext[bytes, bytes]) -> bytes:
    return request


async def peer(request: bytes, context: ServicerContext[bytes, bytes]) -> bytes:
    return context.peer().encode()


async def count(request: bytes, context: ServicerContext[bytes, bytes]) -> AsyncIterator[bytes]:
    for i in range(int(request)):
        yield str(i).encode()


async def upper(
    requests: AsyncIterator[bytes], context: ServicerContext[bytes, bytes]
) -> AsyncIterator[bytes]:
    async for request in requests:
        yield request.upper()


def memory_service() -> puregrpc.ServiceDefinition:
    return puregrpc.ServiceDefinition(
        "test.Memory",
        {
            "Echo": puregrpc.unary_unary_handler(echo),
            "Peer": puregrpc.unary_unary_handler(peer),
            "Count": puregrpc.unary_stream_handler(count),
            "Upper": puregrpc.stream_stream_handler(upper),
        },
    )


def dial(network: MemoryNetwork) -> Any:
    """A channel dialer for `network` (`Channel("memory:...")` dials the loop's own network)."""

    async def dial_memory(
        target: Target, factory: Callable[[], ClientConnection]
    ) -> ClientConnection:
        assert target.memory_name is not None
        _, conn = await network.create_connection(factory, target.memory_name)
        return conn

    return dial_memory


@contextlib.asynccontextmanager
async def grpc_over_memory(
    network: MemoryNetwork, tap: list[bytes] | None = None
) -> AsyncIterator[tuple[puregrpc.Server, puregrpc.Channel]]:
    """Our Server's connections on a listener of `network` (as `Server.start("memory:svc")`
    makes on the loop's network) and a Channel to it; everything stopped and closed at the
    end."""
    server = puregrpc.Server()
    server.add_service(memory_service())

    def accept() -> asyncio.Protocol:
        conn = server._make_protocol()
        if tap is not None:
            received = conn.data_received

            def tapped(data: bytes) -> None:
                tap.append(data)
                received(data)

            conn.data_received = tapped  # type: ignore[method-assign]
        return conn

    listener = await network.create_server(accept, "svc")
    try:
        channel = puregrpc.Channel("memory:svc", _dialer=dial(network))
        try:
            yield server, channel
        finally:
            await channel.close()
    finally:
        listener.close()
        await server.stop(grace=1.0)
        await listener.wait_closed()


async def test_grpc_calls_over_memory() -> None:
    network = MemoryNetwork()
    tap: list[bytes] = []
    async with grpc_over_memory(network, tap) as (server, channel):
        assert await channel.unary_unary("/test.Memory/Echo")(b"hello", timeout=5) == b"hello"
        replies = channel.unary_stream("/test.Memory/Count")(b"3", timeout=5)
        assert [m async for m in replies] == [b"0", b"1", b"2"]
        bidi = channel.stream_stream("/test.Memory/Upper")
        assert [m async for m in bidi(iter([b"a", b"b"]))] == [b"A", b"B"]
        assert (
            channel._subchannels[0]._conn is not None
            and channel._subchannels[0]._conn.transport is not None
        )
        assert isinstance(channel._subchannels[0]._conn.transport, MemoryTransport)
        assert len(server._connections) == 1
    assert b"".join(tap).startswith(PREFACE)  # real HTTP/2 bytes went through


async def test_large_grpc_messages_over_memory_go_through_flow_control(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paused: list[str] = []
    pause_writing = GrpcConnection.pause_writing

    def note_pause(self: GrpcConnection) -> None:
        paused.append(type(self).__name__)
        pause_writing(self)

    monkeypatch.setattr(GrpcConnection, "pause_writing", note_pause)
    network = MemoryNetwork()
    async with grpc_over_memory(network) as (_, channel):
        payload = bytes(range(256)) * 8192  # 2 MiB: above the write buffer, many windows
        assert await channel.unary_unary("/test.Memory/Echo")(payload, timeout=30) == payload
    assert set(paused) == {"ClientConnection", "ServerConnection"}  # both were held back


async def test_grpc_over_memory_byte_by_byte() -> None:
    network = MemoryNetwork(read_size=1)
    async with grpc_over_memory(network) as (_, channel):
        assert await channel.unary_unary("/test.Memory/Echo")(b"tiny", timeout=30) == b"tiny"
        bidi = channel.stream_stream("/test.Memory/Upper")
        assert [m async for m in bidi(iter([b"x", b"y"]))] == [b"X", b"Y"]


async def test_server_stop_closes_memory_connections() -> None:
    network = MemoryNetwork()
    async with grpc_over_memory(network) as (server, channel):
        assert await channel.unary_unary("/test.Memory/Echo")(b"one", timeout=5) == b"one"
        conn = channel._subchannels[0]._conn
        assert conn is not None
        await server.stop(grace=1.0)  # GOAWAY, close: the client end sees EOF and closes
        await conn.wait_closed()
        assert conn.goaway_received
        assert not server._connections


async def test_grpc_server_sees_the_memory_peername() -> None:
    network = MemoryNetwork()
    async with grpc_over_memory(network) as (server, channel):
        await channel.channel_ready()
        (conn,) = server._connections
        assert conn.peer_address == ("memory", "svc#1")


async def test_grpc_peer_string_over_memory() -> None:
    network = MemoryNetwork()
    async with grpc_over_memory(network) as (_, channel):
        assert await channel.unary_unary("/test.Memory/Peer")(b"", timeout=5) == b"memory:svc#1"


async def test_memory_targets_on_the_loops_own_network() -> None:
    server = puregrpc.Server()
    server.add_service(memory_service())
    assert await server.start("memory:own") == 0
    try:
        async with puregrpc.Channel("memory:own") as channel:
            assert await channel.unary_unary("/test.Memory/Echo")(b"hi", timeout=5) == b"hi"
            assert await channel.unary_unary("/test.Memory/Peer")(b"", timeout=5) == b"memory:own#1"
        async with puregrpc.Channel("memory:nobody") as channel:
            with pytest.raises(puregrpc.RpcError) as caught:
                await channel.unary_unary("/test.Memory/Echo")(b"hi", timeout=5)
            assert caught.value.code() == puregrpc.StatusCode.UNAVAILABLE
            assert "memory:nobody" in caught.value.details()
    finally:
        await server.stop()


def test_memory_targets_refuse_tls() -> None:
    context = puregrpc.channel_ssl_context()
    with pytest.raises(ValueError, match="no TLS"):
        puregrpc.Channel("memory:x", ssl_context=context)
