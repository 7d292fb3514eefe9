"""The engine's server operation `send_response` (HEADERS, one DATA, trailers at once): what the
client receives is what the three separate calls would give, including after the client changes
the settings the cached response frames were built for."""

from __future__ import annotations

import pytest
from support.h2util import REQUEST, RESPONSE, TRAILERS, connected_pair, of_type, parse_frames, pump

from puregrpc._http2 import (
    DataReceived,
    H2Config,
    H2Connection,
    ResponseReceived,
    SettingCode,
    TrailersReceived,
)
from puregrpc._http2 import _frames as F

BODY = b"\x00\x00\x00\x00\x05hello"


def exchange(client: H2Connection, server: H2Connection, body: bytes = BODY) -> tuple[object, ...]:
    """One request answered with send_response; what the client saw."""
    sid = client.get_next_available_stream_id()
    client.send_request(sid, REQUEST, b"")
    pump(client, server)
    server.send_response(sid, RESPONSE, body, TRAILERS)
    events, _ = pump(client, server)
    (headers,) = of_type(events, ResponseReceived)
    (trailers,) = of_type(events, TrailersReceived)
    received = b"".join(e.data for e in of_type(events, DataReceived) if e.stream_id == sid)
    for event in of_type(events, DataReceived):
        client.acknowledge_received_data(event.stream_id, event.flow_controlled_length)
    return tuple(headers.headers), received, tuple(trailers.headers)


def test_repeated_responses_decode_the_same() -> None:
    client, server = connected_pair()
    first = exchange(client, server)
    for _ in range(5):
        assert exchange(client, server) == first
    assert first == (RESPONSE, BODY, TRAILERS)


@pytest.mark.parametrize(
    "change",
    [
        {SettingCode.HEADER_TABLE_SIZE: 0},
        {SettingCode.HEADER_TABLE_SIZE: 256},
        {SettingCode.MAX_FRAME_SIZE: 1 << 20},
        {SettingCode.MAX_HEADER_LIST_SIZE: 1 << 20},
    ],
)
def test_responses_stay_right_after_the_client_changes_its_settings(
    change: dict[int, int],
) -> None:
    client, server = connected_pair()
    before = exchange(client, server)  # the server caches its response frames here
    client.update_settings(change)
    pump(client, server)
    for _ in range(3):
        assert exchange(client, server) == before


def test_a_body_larger_than_the_peer_frame_size_is_split() -> None:
    client, server = connected_pair(server_config=H2Config(client_side=False))
    exchange(client, server)
    big = b"\x00" + (16384 * 2).to_bytes(4, "big") + bytes(16384 * 2)
    sid = client.get_next_available_stream_id()
    client.send_request(sid, REQUEST, b"")
    pump(client, server)
    server.send_response(sid, RESPONSE, big, TRAILERS)
    frames = parse_frames(server.data_to_send())
    data_frames = [f for f in frames if f[0] == F.DATA]
    assert len(data_frames) >= 3
    assert all(len(f[3]) <= 16384 for f in data_frames)
