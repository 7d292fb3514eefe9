"""Property tests of the HTTP/2 engine.

* Hostile input: random frame sequences (garbage mixed with well-formed HEADERS and DATA),
  whole or cut anywhere, never make `receive_data` raise anything but `ProtocolError`, which
  always leaves the connection closed with a GOAWAY queued.
* Honest peers: a random walk of legal API calls on a connected pair keeps the invariants
  (only `UsageError` from misuse, flow-control windows, in-order data, streams all finish).
* The stream state table against RFC 9113 section 5.1.
* The fuzz target of `fuzz/` on its corpus and random inputs.

`PUREGRPC_PROPERTY_SCALE=20` multiplies the number of examples, for a longer hunt.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import struct
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.h2util import REQUEST, RESPONSE, TRAILERS, goaway_of, parse_frames

from puregrpc import _http2 as h2
from puregrpc._http2 import _frames as F
from puregrpc._http2._hpack import Encoder, Headers
from puregrpc._http2._stream import TABLE, TRANSITIONS, StreamInput, StreamState

SCALE = int(os.environ.get("PUREGRPC_PROPERTY_SCALE", "1"))

EVENT_TYPES = tuple(
    getattr(h2, name)
    for name in h2.__all__
    if isinstance(getattr(h2, name), type)
    and issubclass(getattr(h2, name), h2.Event)
    and getattr(h2, name) is not h2.Event
)

# ------------------------------------------------------------------------------ hostile input

STREAM_IDS = st.one_of(
    st.sampled_from([0, 1, 2, 3, 5, 7]), st.integers(0, 2**31 - 1), st.just(2**32 - 1)
)
CODES = st.integers(0, 15) | st.integers(0, 2**32 - 1)


def _frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    return F.frame_header(len(payload), ftype, flags, sid) + payload


garbage_frames = st.builds(
    _frame,
    st.integers(0, 12) | st.integers(0, 255),
    st.integers(0, 255),
    STREAM_IDS,
    st.binary(max_size=48),
)
control_frames = st.one_of(
    st.builds(
        lambda pairs: F.build_settings(dict(pairs)),
        st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2**32 - 1)), max_size=4),
    ),
    st.just(F.SETTINGS_ACK),
    st.builds(F.build_ping, st.binary(min_size=8, max_size=8), st.booleans()),
    st.builds(
        lambda sid, inc: F.build_frame(F.WINDOW_UPDATE, 0, sid, struct.pack(">L", inc)),
        STREAM_IDS,
        st.integers(0, 2**31 - 1) | st.integers(0, 2**32 - 1),
    ),
    st.builds(
        lambda sid, code: F.build_frame(F.RST_STREAM, 0, sid, struct.pack(">L", code)),
        STREAM_IDS,
        CODES,
    ),
    st.builds(
        lambda sid, dep, weight: F.build_frame(F.PRIORITY, 0, sid, struct.pack(">LB", dep, weight)),
        STREAM_IDS,
        STREAM_IDS,
        st.integers(0, 255),
    ),
    st.builds(F.build_goaway, st.integers(0, 2**31 - 1), CODES, st.binary(max_size=8)),
)


@st.composite
def header_frames(draw: st.DrawFn, encoder: Encoder, client_side: bool) -> bytes:
    """HEADERS (maybe split into CONTINUATIONs) with a valid or slightly broken header list."""
    base: Headers = RESPONSE if client_side else REQUEST
    headers: Headers
    choice = draw(st.integers(0, 5))
    if choice == 0:
        headers = TRAILERS
    elif choice == 1:
        headers = ((":status", draw(st.sampled_from(["100", "101", "204", "2x"]))),)
    elif choice == 2:
        headers = (*base, ("content-length", str(draw(st.integers(0, 20)))))
    elif choice == 3:
        extra = draw(st.text("abcXYZ:- \r\x00", min_size=0, max_size=6))
        headers = (*base, (extra, extra))
    else:
        headers = base
    block = encoder.encode(headers)
    sid = draw(STREAM_IDS)
    flags = draw(st.sampled_from([0, F.FLAG_END_STREAM])) | draw(
        st.sampled_from([0, F.FLAG_PADDED, F.FLAG_PRIORITY])
    )
    prefix = b""
    if flags & F.FLAG_PADDED:
        prefix = b"\x02"
    if flags & F.FLAG_PRIORITY:
        prefix += struct.pack(">LB", draw(STREAM_IDS), 16)
    suffix = b"\0\0" if flags & F.FLAG_PADDED else b""
    cut = draw(st.integers(0, len(block)))
    if cut == len(block) or draw(st.booleans()):
        return _frame(F.HEADERS, flags | F.FLAG_END_HEADERS, sid, prefix + block + suffix)
    first = _frame(F.HEADERS, flags, sid, prefix + block[:cut] + suffix)
    return first + _frame(F.CONTINUATION, F.FLAG_END_HEADERS, sid, block[cut:])


@st.composite
def data_frames(draw: st.DrawFn) -> bytes:
    flags = draw(st.sampled_from([0, F.FLAG_END_STREAM, F.FLAG_PADDED]))
    payload = draw(st.binary(max_size=64))
    if flags & F.FLAG_PADDED:
        payload = bytes((draw(st.integers(0, 70)),)) + payload
    return _frame(F.DATA, flags, draw(STREAM_IDS), payload)


@st.composite
def hostile_wire(draw: st.DrawFn, client_side: bool) -> list[bytes]:
    """The bytes a hostile peer sends, already cut into the reads that deliver them."""
    encoder = Encoder()
    frames = st.one_of(
        garbage_frames,
        control_frames,
        data_frames(),
        header_frames(encoder, client_side),
        st.binary(max_size=20),  # noise, which desynchronises the framing
    )
    parts = draw(st.lists(frames, max_size=25))
    if draw(st.integers(0, 9)):  # mostly: a proper start
        preamble = F.build_settings({}) + F.SETTINGS_ACK
        parts.insert(0, preamble if client_side else F.CLIENT_PREFACE + preamble)
    wire = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    chunks = []
    start = 0
    for cut in cuts:
        chunks.append(wire[start:cut])
        start = cut
    chunks.append(wire[start:])
    return chunks


def _check_hostile(client_side: bool, chunks: list[bytes]) -> None:
    conn = h2.H2Connection(h2.H2Config(client_side=client_side, max_continuation_frames=3))
    conn.initiate_connection()
    if client_side:
        conn.send_headers(1, REQUEST)
    conn.data_to_send()
    for chunk in chunks:
        try:
            events = conn.receive_data(chunk)
        except h2.ProtocolError as exc:  # anything else fails the test
            assert conn.closed
            goaway = goaway_of(conn.data_to_send())
            assert goaway is not None
            assert goaway[1] == exc.error_code
            assert goaway[0] == conn.highest_inbound_stream_id
            assert conn.receive_data(chunk) == []
            return
        for event in events:
            assert isinstance(event, EVENT_TYPES), event
        out = conn.data_to_send()
        assert goaway_of(out) is None
        frames = parse_frames(out)
        assert sum(9 + len(f[3]) for f in frames) == len(out.removeprefix(F.CLIENT_PREFACE))
    assert not conn.closed


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hostile_frames_raise_only_protocol_errors_server(data: st.DataObject) -> None:
    _check_hostile(False, data.draw(hostile_wire(False)))


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hostile_frames_raise_only_protocol_errors_client(data: st.DataObject) -> None:
    _check_hostile(True, data.draw(hostile_wire(True)))


# ------------------------------------------------------------------------------ honest walk

Side = str  # "client" or "server"


class Walk:
    """A connected pair driven by random legal API calls, and what the test expects."""

    def __init__(self) -> None:
        self.client, self.server = _pair()
        self.conns = {"client": self.client, "server": self.server}
        self.sent: dict[tuple[Side, int], bytearray] = {}  # (sender, stream) -> octets
        self.received: dict[tuple[Side, int], bytearray] = {}
        self.finished: set[tuple[Side, int]] = set()  # the receiver saw END_STREAM
        self.reset: set[int] = set()
        self.opened: list[int] = []  # streams the client opened
        self.requests: set[int] = set()  # streams the server saw open
        self.responded: set[int] = set()
        self.ended: set[tuple[Side, int]] = set()  # the sender ended its side
        self.unacked: dict[Side, list[tuple[int, int]]] = {"client": [], "server": []}
        # INITIAL_WINDOW_SIZE values each side has received from its peer, in order.
        self.peer_initial: dict[Side, list[int]] = {"client": [65535], "server": [65535]}
        self.counter = 0

    # -- delivery

    def deliver(self, sender: Side, ack_all: bool = False) -> bool:
        receiver = "server" if sender == "client" else "client"
        wire = self.conns[sender].data_to_send()
        if not wire:
            return False
        events = self.conns[receiver].receive_data(wire)  # honest peers: must not raise
        for event in events:
            assert isinstance(event, EVENT_TYPES), event
            self.on_event(receiver, event, ack_all)
        return True

    def pump(self, ack_all: bool = False) -> None:
        for _ in range(1000):
            moved = self.deliver("client", ack_all)
            moved = self.deliver("server", ack_all) or moved
            if not moved:
                return
        raise AssertionError("the pair never went quiet")

    def on_event(self, side: Side, event: h2.Event, ack_all: bool) -> None:
        sender = "server" if side == "client" else "client"
        if isinstance(event, h2.RequestReceived):
            self.requests.add(event.stream_id)
            if event.end_stream:
                self.finished.add((sender, event.stream_id))
        elif isinstance(event, h2.TrailersReceived) or (
            isinstance(event, h2.ResponseReceived) and event.end_stream
        ):
            self.finished.add((sender, event.stream_id))
        elif isinstance(event, h2.DataReceived):
            key = (sender, event.stream_id)
            assert key not in self.finished
            self.received.setdefault(key, bytearray()).extend(event.data)
            if event.end_stream:
                self.finished.add(key)
            if ack_all:
                self.conns[side].acknowledge_received_data(
                    event.stream_id, event.flow_controlled_length
                )
            else:
                self.unacked[side].append((event.stream_id, event.flow_controlled_length))
        elif isinstance(event, h2.StreamReset):
            self.reset.add(event.stream_id)
        elif isinstance(event, h2.RemoteSettingsChanged):
            value = event.changed.get(h2.SettingCode.INITIAL_WINDOW_SIZE)
            if value is not None:
                self.peer_initial[side].append(value)

    # -- invariants

    def check(self) -> None:
        for key, got in self.received.items():
            sent = self.sent.get(key, bytearray())
            assert sent.startswith(got), f"stream {key}: data out of order or invented"
        for key in self.finished:
            if key[1] not in self.reset:
                assert self.received.get(key, bytearray()) == self.sent.get(key, bytearray())
        for side, conn in self.conns.items():
            assert conn._send_window >= 0
            assert conn._recv_window >= 0
            # A stream window goes negative only by a retroactive INITIAL_WINDOW_SIZE cut.
            now = conn._peer_initial_window
            assert now == self.peer_initial[side][-1]
            floor = min(0, now - max(self.peer_initial[side]))
            for stream in conn._streams.values():
                assert stream.send_window >= floor, (side, stream.stream_id)

    def data_for(self, size: int) -> bytes:
        self.counter += 1
        return bytes((self.counter % 251,)) * size

    # -- finishing

    def finish(self) -> None:
        """End every stream properly and check that both sides forget them all."""
        for conn in self.conns.values():
            conn.update_settings({h2.SettingCode.INITIAL_WINDOW_SIZE: 65535})
        for side, pending in self.unacked.items():
            for sid, length in pending:
                self.conns[side].acknowledge_received_data(sid, length)
            pending.clear()
        for _ in range(50):
            self.pump(ack_all=True)
            self.check()
            if not self.client.open_streams and not self.server.open_streams:
                break
            for sid in range(1, self.client.get_next_available_stream_id(), 2):
                self.end_client(sid)
                self.end_server(sid)
        self.check()
        assert self.client.open_streams == 0
        assert self.server.open_streams == 0
        for key in self.sent:
            if key[1] not in self.reset:
                assert key in self.finished, key
        hypothesis.event(f"streams finished: {min(len(self.finished), 4)}+")
        digits = len(str(sum(map(len, self.received.values()))))
        hypothesis.event(f"octets received: {digits} digit(s)")
        hypothesis.event(f"streams reset: {min(len(self.reset), 2)}+")

    def end_client(self, sid: int) -> None:
        if ("client", sid) in self.ended or sid in self.reset:
            return
        if self.client.stream_state(sid) in (
            h2.StreamState.OPEN,
            h2.StreamState.HALF_CLOSED_REMOTE,
        ):
            try:
                self.client.end_stream(sid)
            except h2.SendBufferFullError:
                return  # once the window lets the buffer drain
            self.ended.add(("client", sid))

    def end_server(self, sid: int) -> None:
        if sid not in self.requests or ("server", sid) in self.ended or sid in self.reset:
            return
        if self.server.stream_state(sid) == h2.StreamState.CLOSED:
            return
        if sid not in self.responded:
            self.server.send_headers(sid, RESPONSE)
            self.responded.add(sid)
        self.server.send_headers(sid, TRAILERS, end_stream=True)
        self.ended.add(("server", sid))


def _pair() -> tuple[h2.H2Connection, h2.H2Connection]:
    client = h2.H2Connection(
        h2.H2Config(client_side=True, initial_window_size=65535, max_send_buffer=1 << 18)
    )
    server = h2.H2Connection(
        h2.H2Config(
            client_side=False,
            initial_window_size=65535,
            connection_window_size=1 << 17,
            max_concurrent_streams=8,
            max_send_buffer=1 << 18,
        )
    )
    client.initiate_connection()
    server.initiate_connection()
    for _ in range(5):
        server.receive_data(client.data_to_send())
        client.receive_data(server.data_to_send())
    return client, server


def _any_stream(walk: Walk, data: st.DataObject, side: Side = "client") -> int:
    """Mostly a stream `side` may still send on; sometimes any id, legal or not."""
    if side == "client":
        likely = [sid for sid in walk.opened if ("client", sid) not in walk.ended]
    else:
        likely = [sid for sid in sorted(walk.responded) if ("server", sid) not in walk.ended]
    likely = [sid for sid in likely if sid not in walk.reset]
    if likely and data.draw(st.integers(0, 4), label="pick") > 0:
        return data.draw(st.sampled_from(likely), label="stream")
    top = max(1, walk.client.get_next_available_stream_id() - 2)
    return data.draw(st.integers(1, top).map(lambda n: n | 1), label="stream")


def act_open(walk: Walk, data: st.DataObject) -> None:
    sid = walk.client.get_next_available_stream_id()
    end = data.draw(st.booleans(), label="end")
    walk.client.send_headers(sid, REQUEST, end_stream=end)
    walk.opened.append(sid)
    if end:
        walk.ended.add(("client", sid))


def act_send(walk: Walk, data: st.DataObject) -> None:
    side = data.draw(st.sampled_from(["client", "server"]), label="side")
    sid = _any_stream(walk, data, side)
    size = data.draw(st.sampled_from([0, 1, 100, 16384, 16385, 70000, 200000]), label="size")
    end = data.draw(st.booleans(), label="end")
    payload = walk.data_for(size)
    walk.conns[side].send_data(sid, payload, end_stream=end)  # may raise UsageError
    walk.sent.setdefault((side, sid), bytearray()).extend(payload)
    if end:
        walk.ended.add((side, sid))


def act_respond(walk: Walk, data: st.DataObject) -> None:
    candidates = sorted(walk.requests - walk.responded - walk.reset)
    if candidates:
        sid = data.draw(st.sampled_from(candidates), label="stream")
        walk.server.send_headers(sid, RESPONSE)
        walk.responded.add(sid)


def act_end(walk: Walk, data: st.DataObject) -> None:
    client = data.draw(st.booleans(), label="client")
    sid = _any_stream(walk, data, "client" if client else "server")
    if client:
        walk.end_client(sid)
    else:
        walk.end_server(sid)


def act_reset(walk: Walk, data: st.DataObject) -> None:
    side = data.draw(st.sampled_from(["client", "server"]), label="side")
    sid = _any_stream(walk, data, side)
    code = data.draw(st.sampled_from(list(h2.ErrorCode)), label="code")
    conn = walk.conns[side]
    live = conn.stream_state(sid) != h2.StreamState.CLOSED
    conn.reset_stream(sid, code)
    if live:
        walk.reset.add(sid)


def act_ack(walk: Walk, data: st.DataObject) -> None:
    side = data.draw(st.sampled_from(["client", "server"]), label="side")
    pending = walk.unacked[side]
    count = data.draw(st.integers(0, len(pending)), label="count")
    for sid, length in pending[:count]:
        walk.conns[side].acknowledge_received_data(sid, length)
    del pending[:count]


def act_ping(walk: Walk, data: st.DataObject) -> None:
    side = data.draw(st.sampled_from(["client", "server"]), label="side")
    walk.conns[side].ping(data.draw(st.binary(min_size=8, max_size=8), label="ping"))


def act_settings(walk: Walk, data: st.DataObject) -> None:
    side = data.draw(st.sampled_from(["client", "server"]), label="side")
    code = h2.SettingCode
    changes = data.draw(
        st.dictionaries(
            st.sampled_from(
                [
                    code.INITIAL_WINDOW_SIZE,
                    code.MAX_FRAME_SIZE,
                    code.HEADER_TABLE_SIZE,
                    code.MAX_CONCURRENT_STREAMS,
                ]
            ),
            st.sampled_from([0, 1, 100, 16384, 65535, 70000, 1 << 20]),
            min_size=1,
        ),
        label="settings",
    )
    if code.MAX_FRAME_SIZE in changes:
        changes[code.MAX_FRAME_SIZE] = max(16384, changes[code.MAX_FRAME_SIZE])
    walk.conns[side].update_settings({int(key): value for key, value in changes.items()})


def act_deliver(walk: Walk, data: st.DataObject) -> None:
    walk.deliver(data.draw(st.sampled_from(["client", "server"]), label="from"))


def act_pump(walk: Walk, data: st.DataObject) -> None:
    walk.pump()


ACTIONS: list[Callable[[Walk, st.DataObject], None]] = [
    act_open,
    act_open,
    act_send,
    act_send,
    act_send,
    act_respond,
    act_end,
    act_reset,
    act_ack,
    act_ping,
    act_settings,
    act_deliver,
    act_pump,
    act_pump,
]


@settings(max_examples=150 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_walk_of_honest_peers_keeps_invariants(data: st.DataObject) -> None:
    walk = Walk()
    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        action = data.draw(st.sampled_from(ACTIONS), label="action")
        # Misuse the walk may commit (a closed stream, a full buffer) is reported, and fine.
        with contextlib.suppress(h2.UsageError):
            action(walk, data)
        walk.check()
    walk.finish()


# ------------------------------------------------------------------------------ state table

_S = StreamState
_I = StreamInput
# RFC 9113 section 5.1, the figure without the reserved states (push is never enabled here).
# H: HEADERS, ES: END_STREAM, R: RST_STREAM; DATA keeps the state where the figure allows it
# to be sent or received.
RFC_9113_FIGURE_2 = {
    (_S.IDLE, _I.SEND_HEADERS): _S.OPEN,  # send H
    (_S.IDLE, _I.RECV_HEADERS): _S.OPEN,  # recv H
    (_S.OPEN, _I.SEND_END_STREAM): _S.HALF_CLOSED_LOCAL,  # send ES
    (_S.OPEN, _I.RECV_END_STREAM): _S.HALF_CLOSED_REMOTE,  # recv ES
    (_S.OPEN, _I.SEND_RST_STREAM): _S.CLOSED,  # send R
    (_S.OPEN, _I.RECV_RST_STREAM): _S.CLOSED,  # recv R
    (_S.HALF_CLOSED_LOCAL, _I.RECV_END_STREAM): _S.CLOSED,  # recv ES
    (_S.HALF_CLOSED_LOCAL, _I.SEND_RST_STREAM): _S.CLOSED,  # send R
    (_S.HALF_CLOSED_LOCAL, _I.RECV_RST_STREAM): _S.CLOSED,  # recv R
    (_S.HALF_CLOSED_REMOTE, _I.SEND_END_STREAM): _S.CLOSED,  # send ES
    (_S.HALF_CLOSED_REMOTE, _I.SEND_RST_STREAM): _S.CLOSED,  # send R
    (_S.HALF_CLOSED_REMOTE, _I.RECV_RST_STREAM): _S.CLOSED,  # recv R
}
# Frames that leave the state as it is (section 5.1 text): an open stream carries frames of
# any type both ways; half-closed (local) still receives, half-closed (remote) still sends.
RFC_9113_STAYS = {
    (_S.OPEN, _I.SEND_HEADERS),
    (_S.OPEN, _I.SEND_DATA),
    (_S.OPEN, _I.RECV_HEADERS),
    (_S.OPEN, _I.RECV_DATA),
    (_S.HALF_CLOSED_LOCAL, _I.RECV_HEADERS),
    (_S.HALF_CLOSED_LOCAL, _I.RECV_DATA),
    (_S.HALF_CLOSED_REMOTE, _I.SEND_HEADERS),
    (_S.HALF_CLOSED_REMOTE, _I.SEND_DATA),
}


def test_stream_transitions_match_rfc_9113_figure_2() -> None:
    expected = dict(RFC_9113_FIGURE_2)
    expected.update({pair: pair[0] for pair in RFC_9113_STAYS})
    assert expected == TRANSITIONS
    for state in StreamState:
        for event in StreamInput:
            # Absent pairs are illegal: a stream error STREAM_CLOSED for a received frame
            # (5.1), a StreamClosedError for a local send.
            assert TABLE[state][event] == expected.get((state, event), -1)
    # Nothing leaves "closed", and nothing but HEADERS leaves "idle".
    assert not [pair for pair in TRANSITIONS if pair[0] == _S.CLOSED]
    assert {pair[1] for pair in TRANSITIONS if pair[0] == _S.IDLE} == {
        _I.SEND_HEADERS,
        _I.RECV_HEADERS,
    }


# ------------------------------------------------------------------------------ fuzz target


def _load_fuzz_target() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "fuzz" / "fuzz_h2_receive.py"
    spec = importlib.util.spec_from_file_location("fuzz_h2_receive", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FUZZ = _load_fuzz_target()


def test_fuzz_target_on_corpus_and_random_inputs() -> None:
    FUZZ.run_random(2000 * SCALE, seed=1)


@settings(max_examples=200 * SCALE, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_target_on_hypothesis_inputs(data: bytes) -> None:
    FUZZ.test_one_input(data)
