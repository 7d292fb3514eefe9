"""The engine's client operations `send_request` (HEADERS and DATA with END_STREAM in one call)
and `can_open_stream`: the same bytes and state as `send_headers` then `send_data`, whichever
way it takes, and the same errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.h2util import REQUEST, RESPONSE, TRAILERS, connected_pair, parse_frames, pump, settings

from puregrpc._http2 import (
    ConnectionClosedError,
    DataReceived,
    H2Config,
    H2Connection,
    RequestReceived,
    ResponseReceived,
    StreamState,
    TrailersReceived,
    UsageError,
)
from puregrpc._http2 import _frames as F

TIMEOUT_REQUEST = (*REQUEST[:4], ("grpc-timeout", "10000m"), *REQUEST[4:])

Send = Callable[[H2Connection, int, tuple[tuple[str, str], ...], bytes], None]


def combined(
    conn: H2Connection, sid: int, headers: tuple[tuple[str, str], ...], data: bytes
) -> None:
    conn.send_request(sid, headers, data)


def separate(
    conn: H2Connection, sid: int, headers: tuple[tuple[str, str], ...], data: bytes
) -> None:
    conn.send_headers(sid, headers)
    conn.send_data(sid, data, end_stream=True)


def twin_clients(
    *server_settings: bytes, server_config: H2Config | None = None
) -> list[tuple[H2Connection, H2Connection]]:
    """Two identical connected (client, server) pairs; `server_settings` raw SETTINGS frames
    are applied to both clients as if the server had sent them."""
    pairs = [connected_pair(server_config=server_config) for _ in range(2)]
    for client, _ in pairs:
        for frame in server_settings:
            client.receive_data(frame)
        client.data_to_send()  # the SETTINGS ACKs
    return pairs


def state(conn: H2Connection, sid: int) -> tuple[object, ...]:
    return (
        conn.stream_state(sid),
        conn.open_outbound_streams,
        conn.get_next_available_stream_id(),
        conn.local_flow_control_window(sid) if conn.is_stream_open(sid) else None,
        conn.outbound_buffered(sid),
    )


@pytest.mark.parametrize(
    ("headers", "size"),
    [
        (REQUEST, 0),
        (REQUEST, 105),
        (TIMEOUT_REQUEST, 105),
        (REQUEST, 16384),  # one whole frame
        (REQUEST, 16385),  # more than a frame: split
        (REQUEST, 70000),  # more than the window: part waits in the engine
    ],
)
def test_same_bytes_and_state_as_separate_calls(
    headers: tuple[tuple[str, str], ...], size: int
) -> None:
    (mine, _), (theirs, _) = twin_clients()
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    # Three requests: the first encodes the block (no cache yet), the others hit the cache.
    for sid in (1, 3, 5):
        combined(mine, sid, headers, payload)
        separate(theirs, sid, headers, payload)
        assert mine.data_to_send() == theirs.data_to_send()
        assert state(mine, sid) == state(theirs, sid)


def test_request_over_the_wire() -> None:
    client, server = connected_pair()
    for sid in (1, 3):
        client.send_request(sid, REQUEST, b"hello")
        _, server_events = pump(client, server)
        kinds = [type(e) for e in server_events]
        assert kinds == [RequestReceived, DataReceived]
        request, data = server_events
        assert isinstance(request, RequestReceived) and isinstance(data, DataReceived)
        assert request.headers == REQUEST and not request.end_stream
        assert data.data == b"hello" and data.end_stream
        assert client.stream_state(sid) == StreamState.HALF_CLOSED_LOCAL
        server.send_response(sid, RESPONSE, b"world", TRAILERS)
        client_events, _ = pump(client, server)
        kinds = [type(e) for e in client_events]
        assert kinds == [ResponseReceived, DataReceived, TrailersReceived]
        assert not client.is_stream_open(sid) and client.open_outbound_streams == 0


def test_peer_window_and_frame_size_respected() -> None:
    """A smaller initial window or frame size sends the request the long way, as the
    separate calls do."""
    frames = (settings(initial_window_size=10), settings(max_frame_size=16384))
    (mine, _), (theirs, _) = twin_clients(*frames)
    for sid in (1, 3):
        combined(mine, sid, REQUEST, bytes(25))
        separate(theirs, sid, REQUEST, bytes(25))
        out = mine.data_to_send()
        assert out == theirs.data_to_send()
        sent = [(t, flags, len(p)) for t, flags, s, p in parse_frames(out) if t == F.DATA]
        assert sent == [(F.DATA, 0, 10)]  # the rest waits for WINDOW_UPDATE
        assert mine.outbound_buffered(sid) == theirs.outbound_buffered(sid) == 15


def test_connection_window_respected() -> None:
    server_config = H2Config(client_side=False, connection_window_size=65535)
    (mine, _), (theirs, _) = twin_clients(server_config=server_config)
    for conn in (mine, theirs):  # spend most of the connection window (65535) on stream 1
        conn.send_headers(1, REQUEST)
        conn.send_data(1, bytes(65000))
        conn.data_to_send()
    combined(mine, 3, REQUEST, bytes(600))
    separate(theirs, 3, REQUEST, bytes(600))
    assert mine.data_to_send() == theirs.data_to_send()
    assert mine.outbound_buffered(3) == theirs.outbound_buffered(3) == 65


def test_errors_are_those_of_send_headers() -> None:
    client, server = connected_pair()
    with pytest.raises(UsageError, match="next stream id must be 1"):
        client.send_request(3, REQUEST, b"")
    assert client.open_outbound_streams == 0 and client.data_to_send() == b""
    client.send_request(1, REQUEST, b"")
    with pytest.raises(UsageError):  # already open
        client.send_request(1, REQUEST, b"")
    with pytest.raises(UsageError, match="push"):
        server.send_request(2, REQUEST, b"")


def test_concurrency_limit_and_goaway() -> None:
    client, server = connected_pair(
        server_config=H2Config(client_side=False, max_concurrent_streams=1)
    )
    assert client.can_open_stream()
    client.send_request(1, REQUEST, b"x")
    assert not client.can_open_stream()
    with pytest.raises(UsageError, match="concurrent streams"):
        client.send_request(3, REQUEST, b"x")
    pump(client, server)
    server.close_connection()
    pump(client, server)
    assert not client.can_open_stream()
    with pytest.raises(ConnectionClosedError):
        client.send_request(3, REQUEST, b"x")


def test_stream_ids_exhausted() -> None:
    client, _ = connected_pair()
    client._next_local_id = F.MAX_STREAM_ID + 2
    assert not client.can_open_stream()
    with pytest.raises(UsageError, match="exhausted"):
        client.send_request(F.MAX_STREAM_ID + 2, REQUEST, b"")


def test_uncheckable_headers_refused_before_anything_changes() -> None:
    client, _ = connected_pair()
    with pytest.raises(UsageError, match="cannot send"):
        client.send_request(1, (*REQUEST, ("bad\nname", "x")), b"")
    assert client.open_outbound_streams == 0
    assert client.data_to_send() == b""
    client.send_request(1, REQUEST, b"")  # the same id is still the next
