"""The engine end to end in memory: our client against our server (RFC 9113)."""

from __future__ import annotations

import pytest
from support.h2util import REQUEST, RESPONSE, TRAILERS, connected_pair, of_type, parse_frames, pump

from puregrpc._http2 import (
    ConnectionTerminated,
    DataReceived,
    ErrorCode,
    H2Config,
    H2Connection,
    PingAckReceived,
    PingReceived,
    RemoteSettingsChanged,
    RequestReceived,
    ResponseReceived,
    SendBufferDrained,
    SendBufferFullError,
    SettingCode,
    SettingsAcknowledged,
    SettingsTimeoutError,
    StreamClosedError,
    StreamReset,
    StreamState,
    TrailersReceived,
    UsageError,
)
from puregrpc._http2 import _frames as F


def test_settings_exchange_is_acknowledged_both_ways() -> None:
    client, server = connected_pair()
    assert client.remote_settings[SettingCode.MAX_CONCURRENT_STREAMS] == 1000
    assert server.remote_settings[SettingCode.ENABLE_PUSH] == 0
    assert client.local_settings[SettingCode.INITIAL_WINDOW_SIZE] == 1 << 20


def test_unary_exchange() -> None:
    client, server = connected_pair()
    sid = client.get_next_available_stream_id()
    assert sid == 1
    client.send_headers(sid, REQUEST)
    client.send_data(sid, b"\x00\x00\x00\x00\x05hello", end_stream=True)
    assert client.stream_state(sid) == StreamState.HALF_CLOSED_LOCAL
    _, server_events = pump(client, server)
    request = of_type(server_events, RequestReceived)[0]
    assert request.headers == REQUEST
    assert not request.end_stream
    body = of_type(server_events, DataReceived)[0]
    assert body.data == b"\x00\x00\x00\x00\x05hello"
    assert body.end_stream
    assert server.stream_state(sid) == StreamState.HALF_CLOSED_REMOTE

    server.send_headers(sid, RESPONSE)
    server.send_data(sid, b"\x00\x00\x00\x00\x02hi")
    server.send_headers(sid, TRAILERS, end_stream=True)
    client_events, _ = pump(client, server)
    kinds = [type(e) for e in client_events]
    assert kinds == [ResponseReceived, DataReceived, TrailersReceived]
    assert of_type(client_events, TrailersReceived)[0].headers == TRAILERS
    assert client.stream_state(sid) == StreamState.CLOSED
    assert server.stream_state(sid) == StreamState.CLOSED
    assert client.open_streams == server.open_streams == 0


def test_trailers_only_response() -> None:
    client, server = connected_pair()
    client.send_headers(1, REQUEST, end_stream=True)
    pump(client, server)
    server.send_headers(1, (*RESPONSE, ("grpc-status", "12")), end_stream=True)
    client_events, _ = pump(client, server)
    response = of_type(client_events, ResponseReceived)[0]
    assert response.end_stream
    assert client.open_streams == 0


def test_many_concurrent_streams_interleave() -> None:
    client, server = connected_pair()
    ids = []
    for _ in range(200):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, REQUEST)
        ids.append(sid)
    for sid in ids:
        client.send_data(sid, sid.to_bytes(4, "big"), end_stream=True)
    _, server_events = pump(client, server)
    assert [e.stream_id for e in of_type(server_events, RequestReceived)] == ids
    assert {e.stream_id: e.data for e in of_type(server_events, DataReceived)} == {
        sid: sid.to_bytes(4, "big") for sid in ids
    }
    for sid in reversed(ids):
        server.send_headers(sid, (*RESPONSE, ("grpc-status", "0")), end_stream=True)
    client_events, _ = pump(client, server)
    assert len(of_type(client_events, ResponseReceived)) == 200
    assert client.open_streams == 0


def test_large_body_waits_for_window_and_flows_as_consumed() -> None:
    small = H2Config(client_side=False, initial_window_size=65535, connection_window_size=65535)
    client, server = connected_pair(server_config=small)
    body = bytes(range(256)) * 4096  # 1 MiB
    client.send_headers(1, REQUEST)
    client.send_data(1, body, end_stream=True)
    assert client.outbound_buffered(1) == len(body) - 65535
    received = bytearray()
    drained = False
    for _ in range(100):
        client_events, server_events = pump(client, server)
        drained = drained or bool(of_type(client_events, SendBufferDrained))
        chunks = of_type(server_events, DataReceived)
        if not chunks:
            break
        for chunk in chunks:
            assert len(chunk.data) <= 16384
            received += chunk.data
            server.acknowledge_received_data(1, chunk.flow_controlled_length)
    assert bytes(received) == body
    assert drained
    assert server.stream_state(1) == StreamState.HALF_CLOSED_REMOTE


def test_trailers_wait_behind_data_blocked_by_window() -> None:
    small = H2Config(client_side=True, initial_window_size=65535, connection_window_size=65535)
    client, server = connected_pair(client_config=small)
    client.send_headers(1, REQUEST, end_stream=True)
    pump(client, server)
    server.send_headers(1, RESPONSE)
    server.send_data(1, b"x" * 100_000)
    server.send_headers(1, TRAILERS, end_stream=True)
    client_events, _ = pump(client, server)
    assert not of_type(client_events, TrailersReceived)
    got = sum(len(e.data) for e in of_type(client_events, DataReceived))
    assert got == 65535
    for event in of_type(client_events, DataReceived):
        client.acknowledge_received_data(1, event.flow_controlled_length)
    client_events, _ = pump(client, server)
    assert sum(len(e.data) for e in of_type(client_events, DataReceived)) == 100_000 - 65535
    assert isinstance(client_events[-1], TrailersReceived)
    assert server.open_streams == 0


def test_send_buffer_bound_gives_back_pressure() -> None:
    config = H2Config(client_side=True, max_send_buffer=100_000)
    small = H2Config(client_side=False, initial_window_size=65535, connection_window_size=65535)
    client, _server = connected_pair(client_config=config, server_config=small)
    client.send_headers(1, REQUEST)
    client.send_data(1, b"a" * 200_000)  # one call may exceed the bound...
    with pytest.raises(SendBufferFullError):
        client.send_data(1, b"b")  # ...but nothing more is taken until it drains
    assert client.stream_state(1) == StreamState.OPEN


def test_initial_window_change_applies_retroactively() -> None:
    small = H2Config(client_side=False, initial_window_size=1000, connection_window_size=1 << 20)
    client, server = connected_pair(server_config=small)
    client.send_headers(1, REQUEST)
    client.send_data(1, b"z" * 5000)
    _, server_events = pump(client, server)
    assert sum(len(e.data) for e in of_type(server_events, DataReceived)) == 1000
    server.update_settings({SettingCode.INITIAL_WINDOW_SIZE: 6000})
    client_events, server_events = pump(client, server)
    assert sum(len(e.data) for e in of_type(server_events, DataReceived)) == 4000
    assert of_type(client_events, RemoteSettingsChanged)[0].changed == {
        SettingCode.INITIAL_WINDOW_SIZE: 6000
    }
    assert of_type(client_events, SendBufferDrained)


def test_settings_ack_reports_what_took_effect() -> None:
    client, server = connected_pair()
    server.update_settings({SettingCode.MAX_CONCURRENT_STREAMS: 5})
    _, server_events = pump(client, server)
    assert of_type(server_events, SettingsAcknowledged)[0].changed == {
        SettingCode.MAX_CONCURRENT_STREAMS: 5
    }
    assert server.local_settings[SettingCode.MAX_CONCURRENT_STREAMS] == 5


def test_settings_timeout_closes_with_goaway() -> None:
    server = H2Connection(H2Config(client_side=False))
    server.initiate_connection()
    server.data_to_send()
    server.check_timers(100.0)
    with pytest.raises(SettingsTimeoutError):
        server.check_timers(111.0)
    goaway = [f for f in parse_frames(server.data_to_send()) if f[0] == F.GOAWAY]
    assert int.from_bytes(goaway[0][3][4:8], "big") == ErrorCode.SETTINGS_TIMEOUT
    assert server.closed


def test_large_headers_use_continuation() -> None:
    client, server = connected_pair()
    big = (*REQUEST, ("x-big", "v" * 40_000))
    client.send_headers(1, big, end_stream=True)
    wire = client.data_to_send()
    types = [f[0] for f in parse_frames(wire)]
    assert types[0] == F.HEADERS
    assert types.count(F.CONTINUATION) >= 2
    events = server.receive_data(wire)
    assert of_type(events, RequestReceived)[0].headers == big


def test_ping_is_acknowledged() -> None:
    client, server = connected_pair()
    client.ping(b"12345678")
    client_events, server_events = pump(client, server)
    assert of_type(server_events, PingReceived)[0].data == b"12345678"
    assert of_type(client_events, PingAckReceived)[0].data == b"12345678"
    with pytest.raises(UsageError):
        client.ping(b"short")


def test_client_cancel_resets_stream_and_server_sees_cancel() -> None:
    client, server = connected_pair()
    client.send_headers(1, REQUEST)
    pump(client, server)
    client.reset_stream(1, ErrorCode.CANCEL)
    client.reset_stream(1)  # idempotent once closed
    _, server_events = pump(client, server)
    reset = of_type(server_events, StreamReset)[0]
    assert (reset.stream_id, reset.error_code, reset.remote) == (1, ErrorCode.CANCEL, True)
    with pytest.raises(StreamClosedError):
        server.send_headers(1, RESPONSE)
    # Frames the server had in flight are ignored by the client, not errors.
    client_events = client.receive_data(
        F.build_frame(F.DATA, 0, 1, b"late")
        + F.build_frame(F.WINDOW_UPDATE, 0, 1, (5).to_bytes(4, "big"))
    )
    assert client_events == []
    assert not client.data_to_send()


def test_goaway_events() -> None:
    client, _server = connected_pair()
    for sid in (1, 3, 5):
        client.send_headers(sid, REQUEST)
    events = client.receive_data(F.build_goaway(3, ErrorCode.NO_ERROR, b"bye"))
    refused = of_type(events, StreamReset)
    assert [(e.stream_id, e.error_code, e.remote) for e in refused] == [
        (5, ErrorCode.REFUSED_STREAM, True)
    ]
    terminated = of_type(events, ConnectionTerminated)[0]
    assert (terminated.last_stream_id, terminated.additional_data) == (3, b"bye")
    assert client.goaway_received
    assert client.stream_state(3) == StreamState.OPEN
    assert client.stream_state(5) == StreamState.CLOSED
    with pytest.raises(UsageError):
        client.send_headers(client.get_next_available_stream_id(), REQUEST)


def test_graceful_shutdown_lets_accepted_streams_finish() -> None:
    client, server = connected_pair()
    client.send_headers(1, REQUEST, end_stream=True)
    pump(client, server)
    server.start_graceful_shutdown()
    client.send_headers(3, REQUEST, end_stream=True)  # races the first GOAWAY
    client_events, server_events = pump(client, server)
    first = of_type(client_events, ConnectionTerminated)[0]
    assert first.last_stream_id == 2**31 - 1
    assert [e.stream_id for e in of_type(server_events, RequestReceived)] == [3]
    assert of_type(server_events, PingAckReceived)
    server.close_connection()
    client_events, _ = pump(client, server)
    assert of_type(client_events, ConnectionTerminated)[0].last_stream_id == 3
    for sid in (1, 3):
        server.send_headers(sid, (*RESPONSE, ("grpc-status", "0")), end_stream=True)
    client_events, _ = pump(client, server)
    assert len(of_type(client_events, ResponseReceived)) == 2
    assert server.open_streams == 0


def test_concurrency_limit_refuses_excess_streams() -> None:
    limited = H2Config(client_side=False, max_concurrent_streams=2)
    client, _server = connected_pair(server_config=limited)
    assert client.max_outbound_streams() == 2
    client.send_headers(1, REQUEST)
    client.send_headers(3, REQUEST)
    with pytest.raises(UsageError):
        client.send_headers(5, REQUEST)


def test_stream_ids_must_increase() -> None:
    client, _ = connected_pair()
    with pytest.raises(UsageError):
        client.send_headers(3, REQUEST)


def test_server_cannot_open_streams() -> None:
    _, server = connected_pair()
    with pytest.raises(UsageError):
        server.send_headers(2, REQUEST)


def test_data_before_headers_is_a_usage_error() -> None:
    client, server = connected_pair()
    client.send_headers(1, REQUEST, end_stream=True)
    pump(client, server)
    with pytest.raises(UsageError):
        server.send_data(1, b"x")


def test_informational_response_then_final() -> None:
    from puregrpc._http2 import InformationalResponseReceived

    client, server = connected_pair()
    client.send_headers(1, REQUEST, end_stream=True)
    pump(client, server)
    server.send_headers(1, ((":status", "103"), ("link", "</a>")))
    server.send_headers(1, RESPONSE)
    server.send_headers(1, TRAILERS, end_stream=True)
    client_events, _ = pump(client, server)
    assert [type(e) for e in client_events] == [
        InformationalResponseReceived,
        ResponseReceived,
        TrailersReceived,
    ]


@pytest.mark.parametrize(
    "bad",
    [
        ("x-trailing-space", "value "),
        ("x-newline", "a\r\nb"),
        ("Upper-Case", "v"),
        ("", "empty name"),
        ("connection", "keep-alive"),
        ("te", "gzip"),
    ],
)
def test_outbound_header_sections_are_checked_before_sending(bad: tuple[str, str]) -> None:
    """RFC 9113 8.2: we never put a field on the wire that a conforming peer must reject."""
    client, _ = connected_pair()
    with pytest.raises(UsageError):
        client.send_headers(1, (*REQUEST, bad))
    assert client.stream_state(1) == StreamState.IDLE
    assert client.open_streams == 0
    assert client.get_next_available_stream_id() == 1
    assert not [f for f in parse_frames(client.data_to_send()) if f[0] == F.HEADERS]


def test_header_list_above_peer_limit_is_refused_locally() -> None:
    client, _ = connected_pair(server_config=H2Config(client_side=False, max_header_list_size=1000))
    with pytest.raises(UsageError, match="exceeds the peer's limit"):
        client.send_headers(1, (*REQUEST, ("x-big", "v" * 1000)))


def test_request_received_reports_grpc_timeout_and_stable_headers() -> None:
    """`RequestReceived.stable_headers`: the headers without grpc-timeout, the same object for
    every call of a method, so the server can key a cache on it."""
    client, server = connected_pair()
    stable: dict[str, set[int]] = {}
    for i in range(40):
        path = f"/svc/M{i % 2}"
        base = (*REQUEST[:2], (":path", path), *REQUEST[3:])
        headers = (*base[:4], ("grpc-timeout", f"{i * 977 + 1}m"), *base[4:])
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, headers if i % 5 else base, end_stream=True)
        _, events = pump(client, server)
        (request,) = of_type(events, RequestReceived)
        assert request.headers == (headers if i % 5 else base)
        if i % 5:
            assert request.grpc_timeout == f"{i * 977 + 1}m"
            assert request.stable_headers == base
            stable.setdefault(path, set()).add(id(request.stable_headers))
        else:
            assert request.grpc_timeout is None
            assert request.stable_headers is request.headers
        server.send_headers(sid, RESPONSE, end_stream=True)
        pump(client, server)
    assert {path: len(ids) for path, ids in stable.items()} == {"/svc/M0": 1, "/svc/M1": 1}
    # Constructed by hand, the event fills in the defaults.
    event = RequestReceived(1, REQUEST, False)
    assert event.stable_headers is REQUEST and event.grpc_timeout is None
