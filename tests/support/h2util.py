"""Helpers for engine tests: connected client/server pairs and raw frame builders."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TypeVar

from puregrpc._http2 import Event, H2Config, H2Connection
from puregrpc._http2 import _frames as F
from puregrpc._http2._hpack import Encoder

REQUEST = (
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/hello.HelloService/SayHello"),
    (":authority", "localhost:50051"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
    ("user-agent", "grpc-python-puregrpc/0.1"),
)
RESPONSE = ((":status", "200"), ("content-type", "application/grpc"))
TRAILERS = (("grpc-status", "0"), ("grpc-message", ""))


def pump(a: H2Connection, b: H2Connection) -> tuple[list[Event], list[Event]]:
    """Exchange queued bytes until both sides are quiet; events seen by (a, b)."""
    events_a: list[Event] = []
    events_b: list[Event] = []
    for _ in range(100):
        out_a = a.data_to_send()
        if out_a:
            events_b += b.receive_data(out_a)
        out_b = b.data_to_send()
        if out_b:
            events_a += a.receive_data(out_b)
        if not out_a and not out_b:
            return events_a, events_b
    raise AssertionError("connections never went quiet")


def connected_pair(
    client_config: H2Config | None = None, server_config: H2Config | None = None
) -> tuple[H2Connection, H2Connection]:
    client = H2Connection(client_config or H2Config(client_side=True))
    server = H2Connection(server_config or H2Config(client_side=False))
    client.initiate_connection()
    server.initiate_connection()
    pump(client, server)
    return client, server


T = TypeVar("T")


def of_type(events: Sequence[Event], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]


class RawPeer:
    """A hand-driven client or server: builds exact frames for a connection under test."""

    def __init__(self, encoder: Encoder | None = None) -> None:
        self.encoder = encoder or Encoder()

    def headers(
        self,
        stream_id: int,
        headers: Sequence[tuple[str, str]] = REQUEST,
        end_stream: bool = False,
        flags: int = 0,
    ) -> bytes:
        block = self.encoder.encode(headers)
        flags |= F.FLAG_END_HEADERS | (F.FLAG_END_STREAM if end_stream else 0)
        return F.build_frame(F.HEADERS, flags, stream_id, block)


def data(stream_id: int, payload: bytes, end_stream: bool = False) -> bytes:
    return F.build_frame(F.DATA, F.FLAG_END_STREAM if end_stream else 0, stream_id, payload)


def settings(**values: int) -> bytes:
    codes = {
        "header_table_size": 1,
        "enable_push": 2,
        "max_concurrent_streams": 3,
        "initial_window_size": 4,
        "max_frame_size": 5,
        "max_header_list_size": 6,
    }
    return F.build_settings({codes[k]: v for k, v in values.items()})


def window_update(stream_id: int, increment: int) -> bytes:
    return F.build_frame(F.WINDOW_UPDATE, 0, stream_id, struct.pack(">L", increment))


def goaway_of(data: bytes) -> tuple[int, int, bytes] | None:
    """(last stream id, error code, debug) of the first GOAWAY in `data`, if any."""
    for ftype, _flags, _sid, payload in parse_frames(data):
        if ftype == F.GOAWAY:
            last, code = struct.unpack(">LL", payload[:8])
            return last, code, payload[8:]
    return None


def parse_frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, stream id, payload) of each frame in `data` (client preface skipped)."""
    if data.startswith(F.CLIENT_PREFACE):
        data = data[len(F.CLIENT_PREFACE) :]
    frames = []
    pos = 0
    while pos + 9 <= len(data):
        hi, lo, ftype, flags, sid = F.FRAME_HEADER.unpack_from(data, pos)
        length = (hi << 8) | lo
        frames.append((ftype, flags, sid & 0x7FFFFFFF, data[pos + 9 : pos + 9 + length]))
        pos += 9 + length
    return frames
