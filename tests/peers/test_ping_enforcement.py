"""Ping enforcement (K2) must not cut off honest peers: grpc-go and grpcio send BDP pings while
data flows, and sending headers or DATA resets the strikes, as in grpc-go."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from support.free_threaded import HAVE_GRPCIO
from support.grpc_util import running_server
from support.marks import needs_grpcio

from puregrpc._http2 import (
    ConnectionTerminated,
    DataReceived,
    H2Config,
    H2Connection,
    PingAckReceived,
)
from puregrpc._wire.framing import frame_message

if HAVE_GRPCIO or TYPE_CHECKING:  # no grpcio on free-threaded CPython: its tests skip there
    import grpc

HEADERS = (
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/test.Echo/Bidi"),
    (":authority", "localhost"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
)


async def test_pings_between_messages_of_a_busy_stream_are_not_strikes() -> None:
    """A ping before every message (as grpc-go's BDP estimator does) on a stream the server is
    answering: no GOAWAY too_many_pings."""
    async with running_server() as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = H2Connection(H2Config(client_side=True))
        client.initiate_connection()
        client.send_headers(1, HEADERS)
        try:
            for i in range(20):
                client.ping(i.to_bytes(8, "big"))
                client.send_data(1, frame_message(b"m%d" % i))
                writer.write(client.data_to_send())
                got_reply = got_ack = False
                while not (got_reply and got_ack):
                    data = await asyncio.wait_for(reader.read(65536), 5)
                    assert data, "server closed the connection"
                    for event in client.receive_data(data):
                        assert not isinstance(event, ConnectionTerminated), event
                        if isinstance(event, DataReceived):
                            client.acknowledge_received_data(1, event.flow_controlled_length)
                            got_reply = True
                        got_ack = got_ack or isinstance(event, PingAckReceived)
                    writer.write(client.data_to_send())
        finally:
            writer.close()
            await writer.wait_closed()


@needs_grpcio
async def test_long_bidi_stream_with_a_grpcio_client() -> None:
    async with (
        running_server() as (port, _),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        method: Any = channel.stream_stream("/test.Echo/Bidi")
        call = method()
        for i in range(2000):
            await call.write(b"x" * (i % 300 + 1))
            assert await call.read() == b"X" * (i % 300 + 1)
        await call.done_writing()
        assert await call.code() == grpc.StatusCode.OK
