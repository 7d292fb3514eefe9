"""The transport's inbound side of a stream: gRPC messages out of DATA payloads however they are
cut (a payload of exactly one whole message needs no decoder), the size limit and framing
errors, and flow-control credit handed back as messages are read (pooled for streams the peer
has ended, and given to the engine at the next flush)."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from support.h2util import REQUEST, RESPONSE, TRAILERS, connected_pair

from puregrpc._http2 import H2Config
from puregrpc._transport.connection import GrpcConnection
from puregrpc._transport.stream import GrpcStream
from puregrpc._vocab.errors import FramingError, MessageTooLargeError
from puregrpc._wire.framing import frame_message


class _Sink(asyncio.Transport):
    """A transport that keeps what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False


def new_stream(max_receive: int = 1000) -> GrpcStream:
    conn = GrpcConnection(H2Config(client_side=True), max_receive)
    return GrpcStream(conn, 1, max_receive)


async def read_all(stream: GrpcStream) -> list[tuple[bool, bytes]]:
    messages = []
    while (message := await stream.read_message()) is not None:
        messages.append(message)
    return messages


async def test_one_whole_message_per_payload_needs_no_decoder() -> None:
    stream = new_stream()
    one, two = frame_message(b"one"), frame_message(b"two", compressed=True)
    stream._on_data(one, len(one), False)
    stream._on_data(two, len(two), True)
    assert stream._decoder is None
    assert await read_all(stream) == [(False, b"one"), (True, b"two")]


async def test_the_only_message() -> None:
    stream = new_stream()
    framed = frame_message(b"payload")
    stream._on_data(framed, len(framed), True)
    assert stream.settled
    assert stream.take_only_message() == b"payload"
    assert stream._decoder is None


@pytest.mark.parametrize(
    "cuts",
    [
        [3],  # inside the prefix
        [5],  # right after the prefix
        [9],  # inside the first payload
        [10, 14],  # first message whole, then part of the second
        [],  # both messages in one payload
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
    ],
)
async def test_messages_cut_anywhere(cuts: list[int]) -> None:
    stream = new_stream()
    wire = frame_message(b"first") + frame_message(b"second!")
    bounds = [0, *cuts, len(wire)]
    pieces = [wire[a:b] for a, b in itertools.pairwise(bounds)]
    for index, piece in enumerate(pieces):
        stream._on_data(piece, len(piece), index == len(pieces) - 1)
    assert await read_all(stream) == [(False, b"first"), (False, b"second!")]
    assert stream.take_only_message() is None


async def test_first_whole_then_a_cut_message() -> None:
    stream = new_stream()
    whole, cut = frame_message(b"a"), frame_message(b"bcdef")
    stream._on_data(whole, len(whole), False)
    stream._on_data(cut[:4], 4, False)
    stream._on_data(cut[4:], len(cut) - 4, True)
    assert await read_all(stream) == [(False, b"a"), (False, b"bcdef")]


async def test_stream_ending_inside_a_message() -> None:
    stream = new_stream()
    framed = frame_message(b"abc")
    stream._on_data(framed[:-1], len(framed) - 1, True)
    assert stream.take_only_message() is None
    with pytest.raises(FramingError, match="inside a message"):
        await read_all(stream)


async def test_size_limit_and_bad_flag() -> None:
    stream = new_stream(max_receive=4)
    framed = frame_message(b"12345")
    stream._on_data(framed, len(framed), True)
    with pytest.raises(MessageTooLargeError):
        await stream.read_message()
    stream = new_stream()
    framed = b"\x02" + frame_message(b"x")[1:]
    stream._on_data(framed, len(framed), True)
    with pytest.raises(FramingError, match="compressed-flag"):
        await stream.read_message()


async def test_credit_of_ended_streams_pooled_until_the_flush() -> None:
    """Reading the message of a stream the peer has ended hands its octets back to the
    connection's window at the connection's next flush (the engine then sends WINDOW_UPDATE
    once half its window is used, as if each had been handed back at once)."""
    window = 65535
    client_config = H2Config(client_side=True, connection_window_size=window)
    h2_client, h2_server = connected_pair(client_config=client_config)
    conn = GrpcConnection(client_config, 1 << 20)
    conn.h2 = h2_client
    conn.transport = sink = _Sink()
    payload = bytes(10_000)
    framed = frame_message(payload)
    read = 0
    sid = 1
    while read < window // 2:
        stream = conn.streams[sid] = GrpcStream(conn, sid, 1 << 20)
        h2_client.send_headers(sid, REQUEST, end_stream=True)
        h2_server.receive_data(h2_client.data_to_send())
        h2_server.send_response(sid, RESPONSE, framed, TRAILERS)
        for event in h2_client.receive_data(h2_server.data_to_send()):
            conn._dispatch(event)
        assert stream.take_only_message() == payload
        assert sid not in conn.streams
        read += len(framed)
        assert h2_client.data_to_send() == b""  # pooled, not yet handed to the engine
        conn.flush()
        assert bool(sink.written) == (read >= window // 2)
        sid += 2
    # The server may send a whole window again.
    h2_client.send_headers(sid, REQUEST, end_stream=True)
    h2_server.receive_data(bytes(sink.written) + h2_client.data_to_send())
    assert h2_server.local_flow_control_window(sid) == window
    assert conn._flush_handle is None  # the reads' scheduled flush was done by `flush()`
