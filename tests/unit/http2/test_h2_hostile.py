"""A hostile or broken peer against the engine: every violation gets exactly what RFC 9113
prescribes.

* A connection error (RFC 9113 5.4.1): `receive_data` raises a `ProtocolError` with the
  prescribed `error_code`, a GOAWAY with that code and the highest peer stream processed as
  last-stream-id is queued, the connection is closed and ignores further input.
* A stream error (5.4.2): RST_STREAM with the prescribed code on that stream, a
  `StreamReset(remote=False)` event when the application knew the stream, and the rest of the
  connection keeps working: another stream then completes a whole request/response.

Test names carry the RFC 9113 section; docstrings name the h2spec group (RFC 7540 numbering)
where h2spec checks the same rule.
"""

from __future__ import annotations

import struct
import time
from typing import NamedTuple

import pytest
from support.h2util import (
    REQUEST,
    RESPONSE,
    TRAILERS,
    data,
    of_type,
    parse_frames,
    settings,
    window_update,
)

from puregrpc._http2 import (
    DataReceived,
    ErrorCode,
    Event,
    H2Config,
    H2Connection,
    Headers,
    InformationalResponseReceived,
    PingReceived,
    PriorityReceived,
    ProtocolError,
    RemoteSettingsChanged,
    RequestReceived,
    ResponseReceived,
    StreamReset,
    StreamState,
    TrailersReceived,
)
from puregrpc._http2 import _frames as F
from puregrpc._http2._hpack import Decoder, Encoder

E = ErrorCode
UNKNOWN_TYPE = 0xFA


class Frame(NamedTuple):
    type: int
    flags: int
    sid: int
    payload: bytes
    headers: Headers | None  # the decoded header block, on the frame that completes it


class Peer:
    """The remote end of a connection under test, driven frame by frame.

    Its HPACK encoder and decoder follow the connection's decoder and encoder, so it can send
    well-formed requests or responses between the hostile frames, and read what comes back.
    """

    def __init__(self, conn: H2Connection) -> None:
        self.conn = conn
        self.encoder = Encoder()
        self.decoder = Decoder(4096, 1 << 24)
        self._fragments: list[bytes] = []

    def block(self, headers: Headers) -> bytes:
        return self.encoder.encode(headers)

    def headers(
        self,
        sid: int,
        headers: Headers = REQUEST,
        *,
        end_stream: bool = False,
        end_headers: bool = True,
        flags: int = 0,
    ) -> bytes:
        flags |= F.FLAG_END_HEADERS if end_headers else 0
        flags |= F.FLAG_END_STREAM if end_stream else 0
        return F.build_frame(F.HEADERS, flags, sid, self.block(headers))

    def send(self, wire: bytes) -> list[Event]:
        return self.conn.receive_data(wire)

    def read(self) -> list[Frame]:
        """The frames the connection queued, header blocks decoded."""
        frames = []
        for ftype, flags, sid, payload in parse_frames(self.conn.data_to_send()):
            decoded = None
            if ftype == F.HEADERS:
                self._fragments = [payload]  # the engine never pads nor sends priority
            elif ftype == F.CONTINUATION:
                self._fragments.append(payload)
            if ftype in (F.HEADERS, F.CONTINUATION) and flags & F.FLAG_END_HEADERS:
                decoded = self.decoder.decode(b"".join(self._fragments))
            frames.append(Frame(ftype, flags, sid, payload, decoded))
        return frames


def serving(**config: int) -> tuple[H2Connection, Peer]:
    """A server past the preface exchange, facing a hand-driven client."""
    conn = H2Connection(H2Config(client_side=False, **config))
    conn.initiate_connection()
    peer = Peer(conn)
    peer.read()
    peer.send(F.CLIENT_PREFACE + settings() + F.SETTINGS_ACK)
    peer.read()
    return conn, peer


def dialing(**config: int) -> tuple[H2Connection, Peer]:
    """A client past the preface exchange, facing a hand-driven server."""
    conn = H2Connection(H2Config(client_side=True, **config))
    conn.initiate_connection()
    peer = Peer(conn)
    peer.read()
    peer.send(settings() + F.SETTINGS_ACK)
    peer.read()
    return conn, peer


def endpoint(role: str, **config: int) -> tuple[H2Connection, Peer]:
    return serving(**config) if role == "server" else dialing(**config)


ROLES = pytest.mark.parametrize("role", ["server", "client"])


# ------------------------------------------------------------------------------ verdicts


def connection_error(peer: Peer, wire: bytes, code: ErrorCode, last_stream_id: int = 0) -> None:
    """`wire` must end the connection with `code` (5.4.1)."""
    conn = peer.conn
    with pytest.raises(ProtocolError) as info:
        conn.receive_data(wire)
    assert info.value.error_code == code, info.value
    goaways = [f for f in peer.read() if f.type == F.GOAWAY]
    assert len(goaways) == 1
    assert struct.unpack(">LL", goaways[0].payload[:8]) == (last_stream_id, code)
    assert conn.closed
    # After a connection error the peer's input is ignored, and nothing more is sent.
    assert conn.receive_data(F.build_ping(b"still?!?")) == []
    assert conn.data_to_send() == b""


def stream_error(
    peer: Peer, wire: bytes, sid: int, code: ErrorCode, *, known: bool = True
) -> list[Event]:
    """`wire` must reset stream `sid` with `code` (5.4.2) and leave the connection open.

    `known`: the application had heard of the stream (else there is no StreamReset event)."""
    conn = peer.conn
    events = conn.receive_data(wire)
    frames = peer.read()
    assert not conn.closed
    assert not [f for f in frames if f.type == F.GOAWAY]
    resets = [(f.sid, struct.unpack(">L", f.payload)[0]) for f in frames if f.type == F.RST_STREAM]
    assert resets == [(sid, code)]
    local = [(e.stream_id, e.error_code, e.remote) for e in of_type(events, StreamReset)]
    assert local == ([(sid, code, False)] if known else [])
    assert conn.stream_state(sid) == StreamState.CLOSED
    return events


def still_works(peer: Peer, sid: int = 0) -> None:
    """A whole request/response on a fresh stream (server: `sid`; client: the next id)."""
    conn = peer.conn
    if conn.client_side:
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, REQUEST)
        conn.send_data(sid, b"ping", end_stream=True)
        sent = [f for f in peer.read() if f.sid == sid]
        assert [(f.type, f.headers, f.payload) for f in sent][1:] == [(F.DATA, None, b"ping")]
        assert sent[0].headers == REQUEST
        events = peer.send(
            peer.headers(sid, RESPONSE)
            + data(sid, b"pong")
            + peer.headers(sid, TRAILERS, end_stream=True)
        )
        assert [type(e) for e in events] == [ResponseReceived, DataReceived, TrailersReceived]
        assert of_type(events, ResponseReceived)[0].headers == RESPONSE
        assert of_type(events, DataReceived)[0].data == b"pong"
        assert of_type(events, TrailersReceived)[0].headers == TRAILERS
    else:
        events = peer.send(peer.headers(sid, REQUEST) + data(sid, b"ping", end_stream=True))
        assert [type(e) for e in events] == [RequestReceived, DataReceived]
        assert of_type(events, RequestReceived)[0].headers == REQUEST
        assert of_type(events, DataReceived)[0].data == b"ping"
        conn.send_headers(sid, RESPONSE)
        conn.send_data(sid, b"pong")
        conn.send_headers(sid, TRAILERS, end_stream=True)
        sent = [f for f in peer.read() if f.sid == sid]
        assert [(f.type, f.headers) for f in sent] == [
            (F.HEADERS, RESPONSE),
            (F.DATA, None),
            (F.HEADERS, TRAILERS),
        ]
        assert sent[1].payload == b"pong"
        assert sent[2].flags & F.FLAG_END_STREAM
    assert conn.stream_state(sid) == StreamState.CLOSED
    assert not conn.closed


def open_request(peer: Peer, sid: int, end_stream: bool = False) -> None:
    events = peer.send(peer.headers(sid, end_stream=end_stream))
    assert [type(e) for e in events] == [RequestReceived]


def open_call(peer: Peer) -> int:
    """Client under test: open a stream whose request is complete; its id."""
    sid = peer.conn.get_next_available_stream_id()
    peer.conn.send_headers(sid, REQUEST, end_stream=True)
    peer.read()
    return sid


def u32(value: int) -> bytes:
    return struct.pack(">L", value)


def priority(depends_on: int, weight: int = 15, exclusive: bool = False) -> bytes:
    return u32(depends_on | (1 << 31 if exclusive else 0)) + bytes((weight,))


# ------------------------------------------------------------------------------ preface (3.4)


@pytest.mark.parametrize(
    "wire",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings(),
        b"PRI * HTTP/1.1",  # wrong already, though shorter than the preface
    ],
)
def test_3_4_bad_client_preface_is_protocol_error(wire: bytes) -> None:
    """h2spec http2/3.5: an invalid connection preface is a connection error."""
    conn = H2Connection(H2Config(client_side=False))
    conn.initiate_connection()
    peer = Peer(conn)
    peer.read()
    connection_error(peer, wire, E.PROTOCOL_ERROR)


def test_3_4_preface_may_arrive_byte_by_byte() -> None:
    conn = H2Connection(H2Config(client_side=False))
    conn.initiate_connection()
    wire = F.CLIENT_PREFACE + settings(max_frame_size=20000)
    events: list[Event] = []
    for i in range(len(wire)):
        events += conn.receive_data(wire[i : i + 1])
    assert [type(e) for e in events] == [RemoteSettingsChanged]


@ROLES
def test_3_4_first_frame_must_be_settings(role: str) -> None:
    conn = H2Connection(H2Config(client_side=role == "client"))
    conn.initiate_connection()
    peer = Peer(conn)
    peer.read()
    preface = F.CLIENT_PREFACE if role == "server" else b""
    connection_error(peer, preface + F.build_ping(b"12345678"), E.PROTOCOL_ERROR)


# ------------------------------------------------------------------------------ frame size (4.2)


@ROLES
@pytest.mark.parametrize("ftype", [F.DATA, F.HEADERS, F.SETTINGS, F.PING, UNKNOWN_TYPE])
def test_4_2_frame_above_max_frame_size_is_frame_size_error(role: str, ftype: int) -> None:
    """h2spec http2/4.2: a frame larger than SETTINGS_MAX_FRAME_SIZE (2^14 here)."""
    _conn, peer = endpoint(role)
    last = 0
    sid = 0
    if ftype in (F.DATA, F.HEADERS):
        if role == "server":
            open_request(peer, 1)
            sid = last = 1
        else:
            sid = open_call(peer)
    connection_error(peer, F.build_frame(ftype, 0, sid, b"\0" * 16385), E.FRAME_SIZE_ERROR, last)


def test_4_2_frame_of_exactly_max_frame_size_is_fine() -> None:
    _conn, peer = serving()
    open_request(peer, 1)
    events = peer.send(data(1, b"x" * 16384))
    assert len(of_type(events, DataReceived)[0].data) == 16384


# ------------------------------------------------------------------------------ DATA (6.1)


@ROLES
def test_6_1_data_on_stream_0_is_protocol_error(role: str) -> None:
    """h2spec http2/6.1/1."""
    _conn, peer = endpoint(role)
    connection_error(peer, data(0, b"x"), E.PROTOCOL_ERROR)


@pytest.mark.parametrize("sid", [1, 2, 7])
def test_5_1_data_on_idle_stream_is_protocol_error_server(sid: int) -> None:
    """h2spec http2/5.1/1: idle stream, any frame but HEADERS or PRIORITY."""
    _conn, peer = serving()
    connection_error(peer, data(sid, b"x"), E.PROTOCOL_ERROR)


@pytest.mark.parametrize("sid", [3, 2])
def test_5_1_data_on_idle_stream_is_protocol_error_client(sid: int) -> None:
    _conn, peer = dialing()
    open_call(peer)  # stream 1
    connection_error(peer, data(sid, b"x"), E.PROTOCOL_ERROR)


def test_5_1_data_after_end_stream_is_stream_closed() -> None:
    """h2spec http2/5.1/5: half-closed (remote) receiving DATA: stream error STREAM_CLOSED."""
    conn, peer = serving()
    open_request(peer, 1, end_stream=True)
    assert conn.stream_state(1) == StreamState.HALF_CLOSED_REMOTE
    stream_error(peer, data(1, b"late"), 1, E.STREAM_CLOSED)
    still_works(peer, 3)


def test_5_1_data_after_end_stream_client() -> None:
    conn, peer = dialing()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, REQUEST)  # the client keeps its side open
    peer.read()
    peer.send(peer.headers(sid, RESPONSE, end_stream=True))
    assert conn.stream_state(sid) == StreamState.HALF_CLOSED_REMOTE
    stream_error(peer, data(sid, b"late"), sid, E.STREAM_CLOSED)
    still_works(peer)


def test_5_1_data_on_stream_closed_by_end_stream_is_connection_error() -> None:
    """h2spec http2/5.1/11: frames after END_STREAM on a closed stream: connection error
    STREAM_CLOSED."""
    conn, peer = serving()
    open_request(peer, 1, end_stream=True)
    conn.send_headers(1, (*RESPONSE, *TRAILERS), end_stream=True)
    peer.read()
    assert conn.stream_state(1) == StreamState.CLOSED
    connection_error(peer, data(1, b"late"), E.STREAM_CLOSED, 1)


def test_5_1_headers_on_stream_closed_by_end_stream_is_connection_error() -> None:
    """h2spec http2/5.1/12."""
    conn, peer = serving()
    open_request(peer, 1, end_stream=True)
    conn.send_headers(1, (*RESPONSE, *TRAILERS), end_stream=True)
    peer.read()
    connection_error(peer, peer.headers(1, TRAILERS, end_stream=True), E.STREAM_CLOSED, 1)


def test_5_1_data_after_peer_reset_is_stream_closed() -> None:
    """h2spec http2/5.1/8: closed by RST_STREAM, then DATA: stream error STREAM_CLOSED."""
    _conn, peer = serving()
    open_request(peer, 1)
    events = peer.send(F.build_rst_stream(1, E.CANCEL))
    assert of_type(events, StreamReset)[0].remote
    stream_error(peer, data(1, b"late"), 1, E.STREAM_CLOSED, known=False)
    still_works(peer, 3)


def test_6_1_pad_length_not_below_payload_length_is_protocol_error() -> None:
    """h2spec http2/6.1/3: padding as long as the payload or longer."""
    _conn, peer = serving()
    open_request(peer, 1)
    wire = F.build_frame(F.DATA, F.FLAG_PADDED, 1, bytes((5,)) + b"abcd")
    connection_error(peer, wire, E.PROTOCOL_ERROR, 1)


def test_6_1_padded_data_without_pad_length_is_frame_size_error() -> None:
    _conn, peer = serving()
    open_request(peer, 1)
    connection_error(peer, F.build_frame(F.DATA, F.FLAG_PADDED, 1), E.FRAME_SIZE_ERROR, 1)


def test_6_1_padding_counts_against_flow_control() -> None:
    _conn, peer = serving()
    open_request(peer, 1)
    events = peer.send(F.build_frame(F.DATA, F.FLAG_PADDED, 1, bytes((4,)) + b"ab" + b"\0" * 4))
    chunk = of_type(events, DataReceived)[0]
    assert (chunk.data, chunk.flow_controlled_length) == (b"ab", 7)
    # Padding only: the whole payload is padding but for the pad length octet.
    events = peer.send(F.build_frame(F.DATA, F.FLAG_PADDED, 1, bytes((3,)) + b"\0" * 3))
    assert of_type(events, DataReceived)[0].data == b""


# ------------------------------------------------------------------------------ HEADERS (6.2)


@ROLES
def test_6_2_headers_on_stream_0_is_protocol_error(role: str) -> None:
    """h2spec http2/6.2/3."""
    _conn, peer = endpoint(role)
    connection_error(peer, peer.headers(0, REQUEST), E.PROTOCOL_ERROR)


def test_6_2_headers_padding_beyond_fragment_is_protocol_error() -> None:
    """h2spec http2/6.2/4."""
    _conn, peer = serving()
    block = peer.block(REQUEST)
    wire = F.build_frame(
        F.HEADERS, F.FLAG_PADDED | F.FLAG_END_HEADERS, 1, bytes((len(block) + 1,)) + block
    )
    connection_error(peer, wire, E.PROTOCOL_ERROR)


def test_6_2_headers_padding_eating_priority_fields_is_protocol_error() -> None:
    """Pad length, 5 priority octets, then padding longer than what remains (zero octets):
    the padding exceeds the fragment, a PROTOCOL_ERROR, not a frame too short."""
    _conn, peer = serving()
    flags = F.FLAG_PADDED | F.FLAG_PRIORITY | F.FLAG_END_HEADERS
    wire = F.build_frame(F.HEADERS, flags, 1, bytes((1,)) + priority(0))
    connection_error(peer, wire, E.PROTOCOL_ERROR)


def test_6_2_headers_too_short_for_priority_is_frame_size_error() -> None:
    _conn, peer = serving()
    wire = F.build_frame(F.HEADERS, F.FLAG_PRIORITY | F.FLAG_END_HEADERS, 1, b"\0\0\0")
    connection_error(peer, wire, E.FRAME_SIZE_ERROR)


def test_6_2_padded_headers_with_priority_are_accepted() -> None:
    _conn, peer = serving()
    block = peer.block(REQUEST)
    flags = F.FLAG_PADDED | F.FLAG_PRIORITY | F.FLAG_END_HEADERS
    wire = F.build_frame(F.HEADERS, flags, 1, bytes((3,)) + priority(0) + block + b"\0" * 3)
    events = peer.send(wire)
    assert of_type(events, RequestReceived)[0].headers == REQUEST


@pytest.mark.parametrize("sid", [2, 4])
def test_5_1_1_even_stream_from_client_is_protocol_error(sid: int) -> None:
    """h2spec http2/5.1.1/1."""
    _conn, peer = serving()
    open_request(peer, 1)
    connection_error(peer, peer.headers(sid), E.PROTOCOL_ERROR, 1)


def test_5_1_1_stream_id_going_backwards_is_protocol_error() -> None:
    """h2spec http2/5.1.1/2: a new stream id below one already used (3, never used itself,
    was implicitly closed by 5)."""
    _conn, peer = serving()
    open_request(peer, 5)
    connection_error(peer, peer.headers(3), E.PROTOCOL_ERROR, 5)


@pytest.mark.parametrize("sid", [2, 3])
def test_5_1_1_headers_on_stream_the_client_never_opened(sid: int) -> None:
    """A server cannot open streams without push (2), nor use the client's ids (3)."""
    _conn, peer = dialing()
    open_call(peer)
    connection_error(peer, peer.headers(sid, RESPONSE), E.PROTOCOL_ERROR)


def test_5_1_headers_after_end_stream_is_stream_closed() -> None:
    """h2spec http2/5.1/6: half-closed (remote) receiving HEADERS."""
    _conn, peer = serving()
    open_request(peer, 1, end_stream=True)
    stream_error(peer, peer.headers(1, TRAILERS, end_stream=True), 1, E.STREAM_CLOSED)
    still_works(peer, 3)


def test_5_3_1_headers_depending_on_itself_is_stream_error() -> None:
    """h2spec http2/5.3.1/1."""
    _conn, peer = serving()
    block = peer.block(REQUEST)
    flags = F.FLAG_PRIORITY | F.FLAG_END_HEADERS
    stream_error(peer, F.build_frame(F.HEADERS, flags, 1, priority(1) + block), 1, E.PROTOCOL_ERROR)
    still_works(peer, 3)


# ------------------------------------------------------------------------------ CONTINUATION


@ROLES
def test_6_10_continuation_without_headers_is_protocol_error(role: str) -> None:
    _conn, peer = endpoint(role)
    sid = 1 if role == "server" else open_call(peer)
    wire = F.build_frame(F.CONTINUATION, F.FLAG_END_HEADERS, sid, peer.block(REQUEST))
    connection_error(peer, wire, E.PROTOCOL_ERROR)


def test_6_10_continuation_after_end_headers_is_protocol_error() -> None:
    """h2spec http2/6.10/4."""
    _conn, peer = serving()
    open_request(peer, 1)
    wire = F.build_frame(F.CONTINUATION, F.FLAG_END_HEADERS, 1, peer.block(TRAILERS))
    connection_error(peer, wire, E.PROTOCOL_ERROR, 1)


@pytest.mark.parametrize("sid", [0, 3])
def test_6_10_continuation_on_another_stream_is_protocol_error(sid: int) -> None:
    """h2spec http2/6.10/5 and 6.10/6: CONTINUATION must be on the header block's stream."""
    _conn, peer = serving()
    block = peer.block(REQUEST)
    wire = F.build_frame(F.HEADERS, 0, 1, block[:3]) + F.build_frame(
        F.CONTINUATION, F.FLAG_END_HEADERS, sid, block[3:]
    )
    connection_error(peer, wire, E.PROTOCOL_ERROR)


@pytest.mark.parametrize(
    "interloper",
    [
        data(1, b"x"),
        F.build_ping(b"12345678"),
        F.build_frame(F.PRIORITY, 0, 1, priority(0)),
        F.build_frame(F.PRIORITY, 0, 3, priority(0)),
        window_update(0, 100),
        F.build_frame(F.HEADERS, F.FLAG_END_HEADERS, 3, b"\x82"),
        F.build_frame(UNKNOWN_TYPE, 0, 0, b"ext"),  # h2spec http2/5.5/2
        F.build_frame(UNKNOWN_TYPE, 0, 1, b""),
    ],
)
def test_4_3_frame_inside_a_header_block_is_protocol_error(interloper: bytes) -> None:
    """h2spec http2/4.3/2, http2/6.2/2: a header block is one contiguous sequence of frames;
    not even an unknown extension frame may come in between (5.5)."""
    _conn, peer = serving()
    block = peer.block(REQUEST)
    wire = (
        F.build_frame(F.HEADERS, 0, 1, block[:2])
        + interloper
        + F.build_frame(F.CONTINUATION, F.FLAG_END_HEADERS, 1, block[2:])
    )
    connection_error(peer, wire, E.PROTOCOL_ERROR)


def test_6_10_header_block_split_anywhere_is_fine() -> None:
    _conn, peer = serving()
    block = peer.block((*REQUEST, ("x-pad", "p" * 300)))
    wire = F.build_frame(F.HEADERS, F.FLAG_END_STREAM, 1, block[:1])
    for i in range(1, len(block), 7):
        last = F.FLAG_END_HEADERS if i + 7 >= len(block) else 0
        wire += F.build_frame(F.CONTINUATION, last, 1, block[i : i + 7])
    events = peer.send(wire)
    assert of_type(events, RequestReceived)[0].end_stream


# ------------------------------------------------------------------------------ PRIORITY (6.3)


@ROLES
def test_6_3_priority_on_stream_0_is_protocol_error(role: str) -> None:
    """h2spec http2/6.3/1."""
    _conn, peer = endpoint(role)
    connection_error(peer, F.build_frame(F.PRIORITY, 0, 0, priority(1)), E.PROTOCOL_ERROR)


@pytest.mark.parametrize("length", [4, 6])
def test_6_3_priority_of_wrong_length_is_stream_frame_size_error(length: int) -> None:
    """h2spec http2/6.3/2: a stream error, not a connection error."""
    _conn, peer = serving()
    open_request(peer, 1)
    wire = F.build_frame(F.PRIORITY, 0, 1, (priority(0) + b"\0")[:length])
    stream_error(peer, wire, 1, E.FRAME_SIZE_ERROR)
    still_works(peer, 3)


def test_5_3_1_priority_depending_on_itself_is_stream_error() -> None:
    """h2spec http2/5.3.1/2."""
    _conn, peer = serving()
    open_request(peer, 1)
    stream_error(peer, F.build_frame(F.PRIORITY, 0, 1, priority(1)), 1, E.PROTOCOL_ERROR)
    still_works(peer, 3)


@ROLES
@pytest.mark.parametrize(
    ("payload", "code"),
    [(priority(0)[:4], E.FRAME_SIZE_ERROR), (priority(9), E.PROTOCOL_ERROR)],
    ids=["wrong length", "self-dependency"],
)
def test_6_4_priority_stream_error_on_idle_stream_is_connection_error(
    role: str, payload: bytes, code: ErrorCode
) -> None:
    """6.3 and 5.3.1 make these stream errors, but 6.4 forbids RST_STREAM on an idle stream:
    the engine treats them as connection errors of the same code (allowed by 5.4.1)."""
    _conn, peer = endpoint(role)
    connection_error(peer, F.build_frame(F.PRIORITY, 0, 9, payload), code)


def test_5_1_priority_is_allowed_on_idle_and_closed_streams() -> None:
    conn, peer = serving()
    events = peer.send(F.build_frame(F.PRIORITY, 0, 9, priority(0, exclusive=True)))
    (event,) = of_type(events, PriorityReceived)
    assert (event.stream_id, event.depends_on, event.weight, event.exclusive) == (9, 0, 16, True)
    assert conn.stream_state(9) == StreamState.IDLE
    still_works(peer, 1)
    assert of_type(peer.send(F.build_frame(F.PRIORITY, 0, 1, priority(0))), PriorityReceived)
    assert not conn.closed
    # PRIORITY on an idle stream does not use up its id: it may still be opened.
    still_works(peer, 9)


# ------------------------------------------------------------------------------ RST_STREAM (6.4)


@ROLES
def test_6_4_rst_stream_on_stream_0_is_protocol_error(role: str) -> None:
    """h2spec http2/6.4/1."""
    _conn, peer = endpoint(role)
    connection_error(peer, F.build_rst_stream(0, E.CANCEL), E.PROTOCOL_ERROR)


@pytest.mark.parametrize(("role", "sid"), [("server", 1), ("server", 2), ("client", 3)])
def test_5_1_rst_stream_on_idle_stream_is_protocol_error(role: str, sid: int) -> None:
    """h2spec http2/6.4/2, http2/5.1/2."""
    _conn, peer = endpoint(role)
    if role == "client":
        open_call(peer)
    connection_error(peer, F.build_rst_stream(sid, E.CANCEL), E.PROTOCOL_ERROR)


@pytest.mark.parametrize("length", [3, 5])
def test_6_4_rst_stream_of_wrong_length_is_frame_size_error(length: int) -> None:
    """h2spec http2/6.4/3: a connection error."""
    _conn, peer = serving()
    open_request(peer, 1)
    wire = F.build_frame(F.RST_STREAM, 0, 1, b"\0" * length)
    connection_error(peer, wire, E.FRAME_SIZE_ERROR, 1)


# ------------------------------------------------------------------------------ SETTINGS (6.5)


@ROLES
def test_6_5_settings_on_a_stream_is_protocol_error(role: str) -> None:
    """h2spec http2/6.5/2."""
    _conn, peer = endpoint(role)
    connection_error(peer, F.build_frame(F.SETTINGS, 0, 1, b""), E.PROTOCOL_ERROR)


@ROLES
@pytest.mark.parametrize("length", [1, 5, 7, 13])
def test_6_5_settings_length_not_multiple_of_6_is_frame_size_error(role: str, length: int) -> None:
    """h2spec http2/6.5/3."""
    _conn, peer = endpoint(role)
    wire = F.build_frame(F.SETTINGS, 0, 0, b"\0" * length)
    connection_error(peer, wire, E.FRAME_SIZE_ERROR)


@ROLES
def test_6_5_settings_ack_with_payload_is_frame_size_error(role: str) -> None:
    """h2spec http2/6.5/1."""
    conn, peer = endpoint(role)
    conn.update_settings({4: 70000})
    peer.read()
    wire = F.build_frame(F.SETTINGS, F.FLAG_ACK, 0, struct.pack(">HL", 4, 70000))
    connection_error(peer, wire, E.FRAME_SIZE_ERROR)


@ROLES
def test_6_5_settings_ack_without_settings_outstanding_is_protocol_error(role: str) -> None:
    """RFC 9113 does not name this case; like nghttp2, an ACK for nothing is PROTOCOL_ERROR."""
    _conn, peer = endpoint(role)
    connection_error(peer, F.SETTINGS_ACK, E.PROTOCOL_ERROR)


@ROLES
@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"enable_push": 2}, E.PROTOCOL_ERROR),  # h2spec http2/6.5.2/1
        ({"initial_window_size": 2**31}, E.FLOW_CONTROL_ERROR),  # h2spec http2/6.5.2/2
        ({"initial_window_size": 2**32 - 1}, E.FLOW_CONTROL_ERROR),
        ({"max_frame_size": 16383}, E.PROTOCOL_ERROR),  # h2spec http2/6.5.2/3
        ({"max_frame_size": 2**24}, E.PROTOCOL_ERROR),  # h2spec http2/6.5.2/4
    ],
)
def test_6_5_2_setting_out_of_range(role: str, values: dict[str, int], code: ErrorCode) -> None:
    _conn, peer = endpoint(role)
    connection_error(peer, settings(**values), code)


def test_6_5_2_server_enabling_push_is_protocol_error() -> None:
    """A server may only send ENABLE_PUSH 0; a client MUST reject 1."""
    _conn, peer = dialing()
    connection_error(peer, settings(enable_push=1), E.PROTOCOL_ERROR)


def test_6_5_2_client_may_send_enable_push_1() -> None:
    conn, peer = serving()
    peer.send(settings(enable_push=1))
    assert not conn.closed


@ROLES
def test_6_5_2_unknown_settings_are_ignored(role: str) -> None:
    """h2spec http2/6.5.2/5: an unknown identifier is ignored, and the SETTINGS acknowledged."""
    conn, peer = endpoint(role)
    payload = struct.pack(">HL", 0x99, 7) + struct.pack(">HL", 0xFFFF, 2**32 - 1)
    events = peer.send(F.build_frame(F.SETTINGS, 0, 0, payload))
    assert [type(e) for e in events] == [RemoteSettingsChanged]
    assert [(f.type, f.flags) for f in peer.read()] == [(F.SETTINGS, F.FLAG_ACK)]
    still_works(peer, 1)
    assert not conn.closed


@ROLES
def test_6_9_2_initial_window_change_overflowing_a_stream_is_flow_control_error(
    role: str,
) -> None:
    """h2spec http2/6.9.2: a change that makes any stream window exceed 2^31-1."""
    conn, peer = endpoint(role)
    if role == "server":
        open_request(peer, 1, end_stream=True)
        sid = last = 1
    else:
        sid, last = open_call(peer), 0
    peer.send(window_update(sid, 2**31 - 1 - 65535))
    assert conn.local_flow_control_window(sid) == 65535  # the connection window bounds it
    connection_error(peer, settings(initial_window_size=65536), E.FLOW_CONTROL_ERROR, last)


# ------------------------------------------------------------------------------ PUSH_PROMISE (6.6)


@ROLES
def test_8_4_push_promise_is_protocol_error(role: str) -> None:
    """h2spec http2/8.2 (RFC 7540): a client cannot push; a client that disabled push
    rejects PUSH_PROMISE (6.6)."""
    _conn, peer = endpoint(role)
    sid = 1 if role == "server" else open_call(peer)
    last = 0
    if role == "server":
        open_request(peer, 1)
        last = 1
    payload = u32(2) + peer.block(REQUEST)
    wire = F.build_frame(F.PUSH_PROMISE, F.FLAG_END_HEADERS, sid, payload)
    connection_error(peer, wire, E.PROTOCOL_ERROR, last)


# ------------------------------------------------------------------------------ PING (6.7)


@ROLES
@pytest.mark.parametrize("length", [0, 7, 9])
def test_6_7_ping_of_wrong_length_is_frame_size_error(role: str, length: int) -> None:
    """h2spec http2/6.7/4."""
    _conn, peer = endpoint(role)
    connection_error(peer, F.build_frame(F.PING, 0, 0, b"p" * length), E.FRAME_SIZE_ERROR)


@ROLES
def test_6_7_ping_on_a_stream_is_protocol_error(role: str) -> None:
    """h2spec http2/6.7/3."""
    _conn, peer = endpoint(role)
    connection_error(peer, F.build_frame(F.PING, 0, 1, b"p" * 8), E.PROTOCOL_ERROR)


@ROLES
def test_6_7_ping_ack_is_not_answered(role: str) -> None:
    """h2spec http2/6.7/2."""
    _conn, peer = endpoint(role)
    peer.send(F.build_ping(b"unasked!", ack=True))
    assert peer.read() == []


# ------------------------------------------------------------------------------ GOAWAY (6.8)


@ROLES
def test_6_8_goaway_on_a_stream_is_protocol_error(role: str) -> None:
    """h2spec http2/6.8/1."""
    _conn, peer = endpoint(role)
    wire = F.build_frame(F.GOAWAY, 0, 1, struct.pack(">LL", 0, 0))
    connection_error(peer, wire, E.PROTOCOL_ERROR)


@ROLES
@pytest.mark.parametrize("length", [0, 4, 7])
def test_6_8_goaway_too_short_is_frame_size_error(role: str, length: int) -> None:
    _conn, peer = endpoint(role)
    connection_error(peer, F.build_frame(F.GOAWAY, 0, 0, b"\0" * length), E.FRAME_SIZE_ERROR)


# ------------------------------------------------------------------------------ WINDOW_UPDATE (6.9)


@ROLES
def test_6_9_zero_increment_on_connection_is_protocol_error(role: str) -> None:
    """h2spec http2/6.9/1."""
    _conn, peer = endpoint(role)
    connection_error(peer, window_update(0, 0), E.PROTOCOL_ERROR)


@ROLES
def test_6_9_zero_increment_on_stream_is_stream_error(role: str) -> None:
    """h2spec http2/6.9/2."""
    _conn, peer = endpoint(role)
    if role == "server":
        open_request(peer, 1)
        sid = 1
    else:
        sid = open_call(peer)
    stream_error(peer, window_update(sid, 0), sid, E.PROTOCOL_ERROR)
    still_works(peer, 3)


@ROLES
@pytest.mark.parametrize(("sid", "length"), [(0, 3), (0, 5), (1, 3), (1, 8)])
def test_6_9_window_update_of_wrong_length_is_frame_size_error(
    role: str, sid: int, length: int
) -> None:
    """h2spec http2/6.9/3: a connection error whatever the stream."""
    _conn, peer = endpoint(role)
    last = 0
    if sid:
        if role == "server":
            open_request(peer, 1)
            last = 1
        else:
            open_call(peer)
    wire = F.build_frame(F.WINDOW_UPDATE, 0, sid, b"\0\0\0\1\0\0\0\0"[:length])
    connection_error(peer, wire, E.FRAME_SIZE_ERROR, last)


@ROLES
def test_6_9_1_connection_window_overflow_is_flow_control_error(role: str) -> None:
    """h2spec http2/6.9.1/2."""
    _conn, peer = endpoint(role)
    wire = window_update(0, 2**31 - 1 - 65535) + window_update(0, 1)
    connection_error(peer, wire, E.FLOW_CONTROL_ERROR)


@ROLES
def test_6_9_1_stream_window_overflow_is_stream_error(role: str) -> None:
    """h2spec http2/6.9.1/3."""
    _conn, peer = endpoint(role)
    if role == "server":
        open_request(peer, 1)
        sid = 1
    else:
        sid = open_call(peer)
    wire = window_update(sid, 2**31 - 1 - 65535) + window_update(sid, 1)
    stream_error(peer, wire, sid, E.FLOW_CONTROL_ERROR)
    still_works(peer, 3)


@pytest.mark.parametrize(("role", "sid"), [("server", 1), ("server", 2), ("client", 3)])
def test_5_1_window_update_on_idle_stream_is_protocol_error(role: str, sid: int) -> None:
    """h2spec http2/5.1/3."""
    _conn, peer = endpoint(role)
    if role == "client":
        open_call(peer)
    connection_error(peer, window_update(sid, 10), E.PROTOCOL_ERROR)


def test_6_9_window_update_reserved_bit_is_ignored() -> None:
    conn, peer = serving()
    open_request(peer, 1)
    peer.send(window_update(0, (1 << 31) | 1000) + window_update(1, (1 << 31) | 1000))
    assert conn.local_flow_control_window(1) == 65535 + 1000
    assert not conn.closed


# ------------------------------------------------------------------------------ flow control


def test_6_9_1_data_beyond_connection_window_is_flow_control_error() -> None:
    _conn, peer = serving(connection_window_size=65535, initial_window_size=1 << 20)
    open_request(peer, 1)
    events = peer.send(data(1, b"x" * 16384) * 3 + data(1, b"x" * 16383))
    assert sum(len(e.data) for e in of_type(events, DataReceived)) == 65535
    connection_error(peer, data(1, b"x"), E.FLOW_CONTROL_ERROR, 1)


def test_6_9_1_data_beyond_stream_window_is_stream_error() -> None:
    conn, peer = serving(initial_window_size=65535)
    open_request(peer, 1)
    peer.send(data(1, b"x" * 16384) * 3 + data(1, b"x" * 16383))
    stream_error(peer, data(1, b"y"), 1, E.FLOW_CONTROL_ERROR)
    still_works(peer, 3)
    assert not conn.closed


def test_6_9_1_window_is_reopened_by_acknowledging() -> None:
    conn, peer = serving(initial_window_size=65535, connection_window_size=65535)
    open_request(peer, 1)
    for _ in range(10):
        events = peer.send(data(1, b"x" * 16384) * 3 + data(1, b"x" * 16383))
        for event in of_type(events, DataReceived):
            conn.acknowledge_received_data(1, event.flow_controlled_length)
        updates = [f for f in peer.read() if f.type == F.WINDOW_UPDATE]
        assert sum(struct.unpack(">L", f.payload)[0] for f in updates if f.sid == 0) == 65535
        assert sum(struct.unpack(">L", f.payload)[0] for f in updates if f.sid == 1) == 65535


# ------------------------------------------------------------------------------ HPACK (4.3)


@ROLES
@pytest.mark.parametrize(
    "block",
    [
        b"\x80",  # indexed field 0
        b"\xbe",  # index 62 with an empty dynamic table
        b"\xff\xff\xff\xff\xff\xff\xff",  # integer overflow
        b"\x40\x05ab",  # string longer than the block
        b"\x40\x81\xff\x00",  # Huffman string holding EOS
        b"\x82\x3f\xe1\x1f",  # size update after a field, and above the maximum
        b"\x3f\xe1\x3f",  # size update above SETTINGS_HEADER_TABLE_SIZE
        b"\x20\x20\x20\x82",  # three size updates
    ],
)
def test_4_3_undecodable_header_block_is_compression_error(role: str, block: bytes) -> None:
    """h2spec http2/4.3/1, hpack/*: a field block that cannot be decoded."""
    _conn, peer = endpoint(role)
    sid = 1 if role == "server" else open_call(peer)
    wire = F.build_frame(F.HEADERS, F.FLAG_END_HEADERS, sid, block)
    connection_error(peer, wire, E.COMPRESSION_ERROR)


def test_4_3_undecodable_trailers_are_compression_error_with_last_stream_id() -> None:
    _conn, peer = serving()
    open_request(peer, 1)
    open_request(peer, 3)
    wire = F.build_frame(F.HEADERS, F.FLAG_END_HEADERS | F.FLAG_END_STREAM, 1, b"\xff\x80")
    connection_error(peer, wire, E.COMPRESSION_ERROR, 3)


# ------------------------------------------------------------------------------ malformed requests

BASE = (
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/svc/Method"),
    (":authority", "localhost"),
)
MALFORMED_REQUESTS: dict[str, Headers] = {
    "missing :method": BASE[1:],
    "missing :scheme": (BASE[0], BASE[2], BASE[3]),
    "missing :path": (BASE[0], BASE[1], BASE[3]),
    "empty :path": (BASE[0], BASE[1], (":path", ""), BASE[3]),
    "unknown pseudo-header": (*BASE, (":foo", "bar")),
    "response pseudo-header in request": (*BASE, (":status", "200")),
    "pseudo-header after regular": (BASE[0], ("x-a", "1"), *BASE[1:]),
    "duplicate :method": (*BASE, (":method", "GET")),
    "duplicate :path": (BASE[0], BASE[1], BASE[2], BASE[2]),
    "uppercase name": (*BASE, ("Content-Type", "application/grpc")),
    "zero-length name": (*BASE, ("", "value")),
    "space in name": (*BASE, ("x y", "1")),
    "colon inside name": (*BASE, ("x:y", "1")),
    "connection header": (*BASE, ("connection", "keep-alive")),
    "keep-alive header": (*BASE, ("keep-alive", "timeout=5")),
    "proxy-connection header": (*BASE, ("proxy-connection", "close")),
    "transfer-encoding header": (*BASE, ("transfer-encoding", "chunked")),
    "upgrade header": (*BASE, ("upgrade", "h2c")),
    "te other than trailers": (*BASE, ("te", "gzip")),
    "value with LF": (*BASE, ("x-a", "1\n2")),
    "value with NUL": (*BASE, ("x-a", "1\x002")),
    "value with leading space": (*BASE, ("x-a", " 1")),
    "invalid content-length": (*BASE, ("content-length", "abc")),
    "conflicting content-length": (*BASE, ("content-length", "1"), ("content-length", "2")),
    "CONNECT with :path": ((":method", "CONNECT"), (":authority", "a:1"), (":path", "/")),
    "CONNECT without :authority": ((":method", "CONNECT"),),
}


@pytest.mark.parametrize("headers", MALFORMED_REQUESTS.values(), ids=MALFORMED_REQUESTS.keys())
def test_8_1_1_malformed_request_is_stream_protocol_error(headers: Headers) -> None:
    """RFC 9113 8.2.1, 8.2.2, 8.3.1 (h2spec http2/8.1.2.*): a malformed request is a stream
    error PROTOCOL_ERROR; the connection is unaffected."""
    conn, peer = serving()
    events = stream_error(peer, peer.headers(1, headers, end_stream=True), 1, E.PROTOCOL_ERROR)
    assert not of_type(events, RequestReceived)
    still_works(peer, 3)
    assert conn.open_streams == 0


TIMED_OUT = (*BASE, ("grpc-timeout", "1S"), ("content-type", "application/grpc"))
MALFORMED_TIMED_REQUESTS: dict[str, Headers] = {
    "grpc-timeout before a pseudo-header": (
        *BASE[:3],
        ("grpc-timeout", "2S"),
        BASE[3],
        ("content-type", "application/grpc"),
    ),
    "grpc-timeout first": (("grpc-timeout", "2S"), *BASE, ("content-type", "application/grpc")),
    "grpc-timeout with LF": (*BASE, ("grpc-timeout", "2\nS"), ("content-type", "application/grpc")),
    "grpc-timeout with NUL": (
        *BASE,
        ("grpc-timeout", "2\x00"),
        ("content-type", "application/grpc"),
    ),
    "grpc-timeout with leading space": (
        *BASE,
        ("grpc-timeout", " 2S"),
        ("content-type", "application/grpc"),
    ),
    "second grpc-timeout with CR": (*TIMED_OUT[:-1], ("grpc-timeout", "3S\r"), TIMED_OUT[-1]),
    "uppercase name besides grpc-timeout": (*TIMED_OUT, ("X-Upper", "1")),
    "missing :path with grpc-timeout": (*BASE[:2], BASE[3], *TIMED_OUT[4:]),
}


@pytest.mark.parametrize("indexing", [False, True], ids=["literal", "indexed"])
@pytest.mark.parametrize(
    "headers", MALFORMED_TIMED_REQUESTS.values(), ids=MALFORMED_TIMED_REQUESTS.keys()
)
def test_8_1_1_malformed_request_with_grpc_timeout(headers: Headers, indexing: bool) -> None:
    """Requests with a per-call grpc-timeout are validated with a cache of the rest of the
    section (`RequestReceived.stable_headers`): it must not let a malformed one through."""
    conn, peer = serving()
    peer.encoder._index_all = indexing  # like grpc-go and grpcio: grpc-timeout indexed
    for sid, value in ((1, "1S"), (3, "9S"), (5, "10S")):  # warm every cache
        timed = (*BASE, ("grpc-timeout", value), ("content-type", "application/grpc"))
        events = peer.send(peer.headers(sid, timed, end_stream=True))
        (request,) = of_type(events, RequestReceived)
        assert request.headers == timed
        assert request.grpc_timeout == value
        assert request.stable_headers == (*BASE, ("content-type", "application/grpc"))
        conn.send_headers(sid, RESPONSE, end_stream=True)
        peer.read()
    events = stream_error(peer, peer.headers(7, headers, end_stream=True), 7, E.PROTOCOL_ERROR)
    assert not of_type(events, RequestReceived)
    still_works(peer, 9)
    events = peer.send(peer.headers(11, TIMED_OUT, end_stream=True))
    assert of_type(events, RequestReceived)[0].headers == TIMED_OUT
    assert conn.open_streams == 1


def test_8_3_1_te_trailers_and_connect_are_well_formed() -> None:
    _conn, peer = serving()
    events = peer.send(peer.headers(1, (*BASE, ("te", "trailers")), end_stream=True))
    assert of_type(events, RequestReceived)
    events = peer.send(peer.headers(3, ((":method", "CONNECT"), (":authority", "a:1"))))
    assert of_type(events, RequestReceived)


@pytest.mark.parametrize(
    ("trailers", "end_stream"),
    [
        (((":path", "/"),), True),  # h2spec http2/8.1.2.1/3: pseudo-header in trailers
        (((":status", "200"),), True),
        (TRAILERS, False),  # h2spec http2/8.1/1: a second header block without END_STREAM
        ((("connection", "close"),), True),
        ((("X-Upper", "1"),), True),
    ],
)
def test_8_1_malformed_trailers_are_stream_protocol_error(
    trailers: Headers, end_stream: bool
) -> None:
    _conn, peer = serving()
    open_request(peer, 1)
    peer.send(data(1, b"body"))
    stream_error(peer, peer.headers(1, trailers, end_stream=end_stream), 1, E.PROTOCOL_ERROR)
    still_works(peer, 3)


@pytest.mark.parametrize(
    ("declared", "frames"),
    [
        ("10", [(b"12345", True)]),  # less than declared
        ("3", [(b"12345", False)]),  # more than declared, before END_STREAM
        ("4", [(b"12", False), (b"34", False), (b"5", True)]),
        ("5", [(b"", True)]),
    ],
)
def test_8_1_1_content_length_mismatch_is_stream_protocol_error(
    declared: str, frames: list[tuple[bytes, bool]]
) -> None:
    """h2spec http2/8.1.2.6."""
    _conn, peer = serving()
    open_request_with_length = peer.headers(1, (*REQUEST, ("content-length", declared)))
    wire = open_request_with_length + b"".join(data(1, chunk, end) for chunk, end in frames)
    events = stream_error(peer, wire, 1, E.PROTOCOL_ERROR)
    assert of_type(events, RequestReceived)
    still_works(peer, 3)


def test_8_1_1_content_length_with_end_stream_on_headers_is_stream_error() -> None:
    _conn, peer = serving()
    wire = peer.headers(1, (*REQUEST, ("content-length", "3")), end_stream=True)
    stream_error(peer, wire, 1, E.PROTOCOL_ERROR)
    still_works(peer, 3)


def test_8_1_1_content_length_mismatch_at_trailers_is_stream_error() -> None:
    _conn, peer = serving()
    wire = peer.headers(1, (*REQUEST, ("content-length", "9"))) + data(1, b"abc")
    wire += peer.headers(1, TRAILERS, end_stream=True)
    stream_error(peer, wire, 1, E.PROTOCOL_ERROR)
    still_works(peer, 3)


def test_8_1_1_matching_content_length_is_fine() -> None:
    _conn, peer = serving()
    wire = peer.headers(1, (*REQUEST, ("content-length", "5"))) + data(1, b"ab")
    wire += data(1, b"cde") + peer.headers(1, TRAILERS, end_stream=True)
    events = peer.send(wire)
    assert of_type(events, TrailersReceived)
    assert not peer.read()


# ------------------------------------------------------------------------------ malformed responses

MALFORMED_RESPONSES: dict[str, Headers] = {
    "missing :status": (("content-type", "application/grpc"),),
    ":status 101": ((":status", "101"),),
    "short :status": ((":status", "20"),),
    "non-digit :status": ((":status", "2x0"),),
    "request pseudo-header": ((":status", "200"), (":path", "/")),
    "duplicate :status": ((":status", "200"), (":status", "204")),
    "pseudo-header after regular": (("x-a", "1"), (":status", "200")),
    "uppercase name": ((":status", "200"), ("Grpc-Status", "0")),
    "connection header": ((":status", "200"), ("connection", "close")),
}


@pytest.mark.parametrize("headers", MALFORMED_RESPONSES.values(), ids=MALFORMED_RESPONSES.keys())
def test_8_3_2_malformed_response_is_stream_protocol_error(headers: Headers) -> None:
    """RFC 9113 8.3.2 and 8.6 (101 is not allowed)."""
    conn, peer = dialing()
    sid = open_call(peer)
    events = stream_error(peer, peer.headers(sid, headers, end_stream=True), sid, E.PROTOCOL_ERROR)
    assert not of_type(events, ResponseReceived)
    still_works(peer)
    assert conn.open_streams == 0


def test_8_1_informational_response_with_end_stream_is_malformed() -> None:
    _conn, peer = dialing()
    sid = open_call(peer)
    wire = peer.headers(sid, ((":status", "103"),), end_stream=True)
    stream_error(peer, wire, sid, E.PROTOCOL_ERROR)
    still_works(peer)


def test_8_1_response_data_before_headers_is_malformed() -> None:
    _conn, peer = dialing()
    sid = open_call(peer)
    stream_error(peer, data(sid, b"body"), sid, E.PROTOCOL_ERROR)
    still_works(peer)


def test_8_1_response_trailers_without_end_stream_is_malformed() -> None:
    _conn, peer = dialing()
    sid = open_call(peer)
    peer.send(peer.headers(sid, RESPONSE))
    stream_error(peer, peer.headers(sid, TRAILERS), sid, E.PROTOCOL_ERROR)
    still_works(peer)


def test_8_1_1_response_content_length_mismatch() -> None:
    _conn, peer = dialing()
    sid = open_call(peer)
    wire = peer.headers(sid, (*RESPONSE, ("content-length", "2"))) + data(sid, b"abc", True)
    stream_error(peer, wire, sid, E.PROTOCOL_ERROR)
    still_works(peer)


def test_8_1_informational_then_final_response_is_fine() -> None:
    _conn, peer = dialing()
    sid = open_call(peer)
    events = peer.send(
        peer.headers(sid, ((":status", "100"),)) + peer.headers(sid, RESPONSE, end_stream=True)
    )
    assert [type(e) for e in events] == [InformationalResponseReceived, ResponseReceived]


# ------------------------------------------------------------------------------ limits (10.5)


@ROLES
def test_10_5_1_header_list_above_limit_is_stream_error_and_hpack_stays_in_sync(
    role: str,
) -> None:
    """Above our SETTINGS_MAX_HEADER_LIST_SIZE: the block is still decoded (10.5.1: "MUST be
    processed to ensure a consistent connection state"), the stream reset (the code is the
    engine's choice, ENHANCE_YOUR_CALM), and later blocks that reference the entries it
    inserted decode fine."""
    conn, peer = endpoint(role, max_header_list_size=1000)
    indexed = ("x-indexed", "i" * 500)  # small enough to enter the dynamic table
    if role == "server":
        sid = 1
        big: Headers = (*REQUEST, indexed, ("x-big", "b" * 2000))
    else:
        sid = open_call(peer)
        big = (*RESPONSE, indexed, ("x-big", "b" * 2000))
    events = stream_error(
        peer, peer.headers(sid, big, end_stream=True), sid, E.ENHANCE_YOUR_CALM, known=True
    )
    assert not of_type(events, RequestReceived) and not of_type(events, ResponseReceived)
    assert indexed in peer.encoder.dynamic_table()
    # The next header block refers to the entry indexed above.
    if role == "server":
        events = peer.send(peer.headers(3, (*REQUEST, indexed), end_stream=True))
        assert of_type(events, RequestReceived)[0].headers == (*REQUEST, indexed)
        still_works(peer, 5)
    else:
        sid = open_call(peer)
        events = peer.send(peer.headers(sid, (*RESPONSE, indexed), end_stream=True))
        assert of_type(events, ResponseReceived)[0].headers == (*RESPONSE, indexed)
        still_works(peer)
    assert not conn.closed


def test_10_5_hpack_bomb_is_refused_cheaply() -> None:
    """One big dynamic table entry referenced by thousands of one-octet indexes would decode
    to ~63 MB of headers; the engine stops collecting at the limit and resets the stream."""
    conn, peer = serving()
    peer.encoder._index_all = True  # lets the encoder index a field as big as the table
    bomb = ("x-bomb", "b" * 3900)
    events = peer.send(peer.headers(1, (*REQUEST, bomb), end_stream=True))
    assert of_type(events, RequestReceived)
    block = peer.block((bomb,) * 16000)
    assert len(block) == 16000  # one octet per field
    started = time.perf_counter()
    wire = F.build_frame(F.HEADERS, F.FLAG_END_HEADERS | F.FLAG_END_STREAM, 3, block)
    stream_error(peer, wire, 3, E.ENHANCE_YOUR_CALM)
    assert time.perf_counter() - started < 1.0
    still_works(peer, 5)
    assert not conn.closed


def test_10_5_continuation_flood_by_count_is_enhance_your_calm() -> None:
    _conn, peer = serving(max_continuation_frames=8)
    open_request(peer, 1)
    wire = F.build_frame(F.HEADERS, 0, 3, b"\x82")
    wire += F.build_frame(F.CONTINUATION, 0, 3, b"") * 8
    assert not peer.send(wire)
    connection_error(peer, F.build_frame(F.CONTINUATION, 0, 3, b""), E.ENHANCE_YOUR_CALM, 1)


def test_10_5_continuation_flood_by_size_is_enhance_your_calm() -> None:
    _conn, peer = serving(max_header_block_size=1000)
    wire = F.build_frame(F.HEADERS, 0, 1, b"\x00" * 600)
    wire += F.build_frame(F.CONTINUATION, 0, 1, b"\x00" * 401)
    connection_error(peer, wire, E.ENHANCE_YOUR_CALM)


def test_10_5_continuation_flood_default_limits() -> None:
    _conn, peer = serving()
    wire = F.build_frame(F.HEADERS, 0, 1, b"\x82")
    wire += F.build_frame(F.CONTINUATION, 0, 1, b"\x40") * 100
    connection_error(peer, wire, E.ENHANCE_YOUR_CALM)


def test_5_1_2_streams_above_max_concurrent_streams_are_refused() -> None:
    """h2spec http2/5.1.2/1: a stream error of type PROTOCOL_ERROR or REFUSED_STREAM; the
    refused stream's header block still updates the HPACK state."""
    conn, peer = serving(max_concurrent_streams=2)
    open_request(peer, 1)
    open_request(peer, 3)
    wire = peer.headers(5, (*REQUEST, ("x-new", "indexed")))
    events = stream_error(peer, wire, 5, E.REFUSED_STREAM, known=False)
    assert events == []
    # What the client had in flight for the refused stream is ignored.
    assert peer.send(data(5, b"late", end_stream=True)) == []
    assert peer.read() == []
    # Once a stream ends, a new one is accepted, and the refused block's entry decodes.
    conn.reset_stream(1)
    peer.read()
    events = peer.send(peer.headers(7, (*REQUEST, ("x-new", "indexed")), end_stream=True))
    assert of_type(events, RequestReceived)[0].headers[-1] == ("x-new", "indexed")
    assert conn.open_inbound_streams == 2


def test_10_5_rapid_reset_is_enhance_your_calm() -> None:
    """CVE-2023-44487: streams opened and reset at once, beyond the per-window budget."""
    conn, peer = serving(max_resets_per_window=10)
    conn.check_timers(0.0)
    wire = b"".join(
        peer.headers(sid) + F.build_rst_stream(sid, E.CANCEL) for sid in range(1, 21, 2)
    )
    events = peer.send(wire)
    assert len(of_type(events, StreamReset)) == 10
    wire = peer.headers(21) + F.build_rst_stream(21, E.CANCEL)
    connection_error(peer, wire, E.ENHANCE_YOUR_CALM, 21)


def test_10_5_resets_below_the_budget_per_window_are_fine() -> None:
    conn, peer = serving(max_resets_per_window=10)
    now = 0.0
    conn.check_timers(now)
    sid = 1
    for _ in range(5):
        for _ in range(10):
            events = peer.send(peer.headers(sid) + F.build_rst_stream(sid, E.CANCEL))
            assert of_type(events, StreamReset)
            sid += 2
        now += 1.0
        conn.check_timers(now)
    assert not conn.closed
    still_works(peer, sid)


def test_10_5_refused_streams_count_as_resets() -> None:
    conn, peer = serving(max_concurrent_streams=1, max_resets_per_window=5)
    open_request(peer, 1)
    for sid in range(3, 13, 2):
        stream_error(peer, peer.headers(sid), sid, E.REFUSED_STREAM, known=False)
    connection_error(peer, peer.headers(13), E.ENHANCE_YOUR_CALM, 13)
    assert conn.closed


@ROLES
@pytest.mark.parametrize("kind", ["ping", "settings"])
def test_10_5_control_frame_flood_without_reading_is_enhance_your_calm(
    role: str, kind: str
) -> None:
    """A peer that sends PINGs or SETTINGS but never reads makes us queue the answers."""
    _conn, peer = endpoint(role, max_control_frames_queued=100)
    frame = F.build_ping(b"pingping") if kind == "ping" else settings()
    events = peer.send(frame * 60)
    assert len(events) == 60
    connection_error(peer, frame * 41, E.ENHANCE_YOUR_CALM)


def test_10_5_control_frames_are_fine_while_the_peer_reads() -> None:
    conn, peer = serving(max_control_frames_queued=100)
    for _ in range(20):
        events = peer.send(F.build_ping(b"pingping") * 100)
        assert len(of_type(events, PingReceived)) == 100
        assert len(peer.read()) == 100
    assert not conn.closed


def test_10_5_empty_data_flood_is_enhance_your_calm() -> None:
    _conn, peer = serving(max_empty_data_frames=100)
    open_request(peer, 1)
    events = peer.send(data(1, b"") * 100 + data(1, b"x") + data(1, b"") * 100)
    assert len(of_type(events, DataReceived)) == 201
    connection_error(peer, data(1, b""), E.ENHANCE_YOUR_CALM, 1)


def test_10_5_empty_data_with_end_stream_is_not_counted() -> None:
    _conn, peer = serving(max_empty_data_frames=2)
    for sid in range(1, 21, 2):
        peer.send(peer.headers(sid) + data(sid, b"", end_stream=True))
    assert not peer.conn.closed


# ------------------------------------------------------------------------------ extensions (5.5)


@ROLES
@pytest.mark.parametrize("sid", [0, 1, 99])
def test_5_5_unknown_frame_types_are_ignored(role: str, sid: int) -> None:
    """h2spec http2/5.5/1: on the connection, an open stream or an idle one."""
    conn, peer = endpoint(role)
    if role == "server":
        open_request(peer, 1)
    else:
        open_call(peer)
    for ftype in (UNKNOWN_TYPE, 0x0A, 0xFF):
        assert peer.send(F.build_frame(ftype, 0xFF, sid, b"whatever" * 10)) == []
    assert peer.read() == []
    assert not conn.closed
    still_works(peer, 3)


# ------------------------------------------------------------------------------ late frames


def test_5_4_2_late_frames_after_our_reset_are_ignored() -> None:
    """5.4.2 / 5.1 closed: after we send RST_STREAM, frames the peer had in flight are
    ignored; their header blocks still update the HPACK state."""
    conn, peer = serving()
    open_request(peer, 1)
    conn.reset_stream(1, E.CANCEL)
    peer.read()
    late = (
        data(1, b"body")
        + peer.headers(1, (("x-late", "trailer-value"),), end_stream=True)
        + window_update(1, 100)
        + F.build_rst_stream(1, E.CANCEL)
    )
    assert peer.send(late) == []
    assert peer.read() == []
    events = peer.send(peer.headers(3, (*REQUEST, ("x-late", "trailer-value")), end_stream=True))
    assert of_type(events, RequestReceived)[0].headers[-1] == ("x-late", "trailer-value")
    still_works(peer, 5)


def test_5_4_2_late_frames_after_a_stream_error_are_ignored() -> None:
    _conn, peer = serving()
    open_request(peer, 1)
    stream_error(peer, window_update(1, 0), 1, E.PROTOCOL_ERROR)
    assert peer.send(data(1, b"x") + peer.headers(1, TRAILERS, end_stream=True)) == []
    assert peer.read() == []
    still_works(peer, 3)


def test_5_4_2_late_response_after_client_cancel_is_ignored() -> None:
    conn, peer = dialing()
    sid = open_call(peer)
    conn.reset_stream(sid)
    peer.read()
    late = (
        peer.headers(sid, RESPONSE)
        + data(sid, b"body")
        + peer.headers(sid, TRAILERS, end_stream=True)
    )
    assert peer.send(late) == []
    assert peer.read() == []
    still_works(peer)


def test_6_8_streams_above_our_goaway_are_ignored() -> None:
    """6.8: after GOAWAY, streams the peer opens above the last-stream-id are ignored (with
    their frames); their header blocks still keep HPACK in sync."""
    conn, peer = serving()
    open_request(peer, 1)
    conn.close_connection()
    frames = peer.read()
    assert [f.type for f in frames] == [F.GOAWAY]
    assert struct.unpack(">LL", frames[0].payload[:8]) == (1, E.NO_ERROR)
    late = peer.headers(3, (*REQUEST, ("x-late", "v"))) + data(3, b"ignored", end_stream=True)
    assert peer.send(late) == []
    assert peer.read() == []
    # Stream 1, below the last-stream-id, still completes; its trailers use the new entry.
    events = peer.send(peer.headers(1, (("x-late", "v"),), end_stream=True))
    assert of_type(events, TrailersReceived)[0].headers == (("x-late", "v"),)
    conn.send_headers(1, (*RESPONSE, *TRAILERS), end_stream=True)
    assert [f.headers for f in peer.read()] == [(*RESPONSE, *TRAILERS)]
    assert conn.open_streams == 0
