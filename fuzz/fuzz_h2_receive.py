"""Fuzz target: arbitrary bytes into `H2Connection.receive_data`, server and client side.

The contract checked (see `puregrpc._http2._connection`):

* `receive_data` raises nothing but `ProtocolError` subclasses;
* after one, the connection is closed, a GOAWAY carrying the exception's code is queued, and
  further input is ignored;
* every event is one of the exported event types, and what the connection queues is a whole
  number of well-formed frames.

Run it with atheris when installed (coverage-guided), else on random inputs::

    python fuzz/fuzz_h2_receive.py                  # atheris, or 20000 random inputs
    python fuzz/fuzz_h2_receive.py -runs=100000     # atheris options pass through
    python fuzz/fuzz_h2_receive.py --random 50000   # random inputs even with atheris
    python fuzz/fuzz_h2_receive.py --write-corpus DIR   # the built-in corpus as files

The first input octet picks the set-up (preface and SETTINGS supplied or not, small limits or
default ones), the second how the rest is cut into chunks.
"""

from __future__ import annotations

import importlib
import random
import struct
import sys
from pathlib import Path

from puregrpc import _http2 as h2
from puregrpc._http2 import _frames as F
from puregrpc._http2._hpack import Encoder

EVENT_TYPES: tuple[type[h2.Event], ...] = (
    h2.ConnectionTerminated,
    h2.DataReceived,
    h2.InformationalResponseReceived,
    h2.PingAckReceived,
    h2.PingReceived,
    h2.PriorityReceived,
    h2.RemoteSettingsChanged,
    h2.RequestReceived,
    h2.ResponseReceived,
    h2.SendBufferDrained,
    h2.SettingsAcknowledged,
    h2.StreamReset,
    h2.TrailersReceived,
)

_SMALL_LIMITS = {
    "max_concurrent_streams": 4,
    "initial_window_size": 1000,
    "connection_window_size": 65535,
    "max_header_list_size": 2000,
    "max_continuation_frames": 4,
    "max_header_block_size": 4096,
    "max_control_frames_queued": 20,
    "max_empty_data_frames": 4,
    "max_resets_per_window": 4,
    "closed_streams_remembered": 4,
}


def check_frames(wire: bytes) -> list[tuple[int, int, int, bytes]]:
    """Split what a connection queued into frames; it must be whole, well-formed frames."""
    if wire.startswith(F.CLIENT_PREFACE):
        wire = wire[len(F.CLIENT_PREFACE) :]
    frames = []
    pos = 0
    while pos < len(wire):
        assert len(wire) - pos >= 9, "a partial frame header was queued"
        hi, lo, ftype, flags, sid = F.FRAME_HEADER.unpack_from(wire, pos)
        length = (hi << 8) | lo
        assert pos + 9 + length <= len(wire), "a partial frame was queued"
        frames.append((ftype, flags, sid, wire[pos + 9 : pos + 9 + length]))
        pos += 9 + length
    return frames


def feed(conn: h2.H2Connection, chunks: list[bytes]) -> bool:
    """Feed `chunks` checking the contract; whether the connection ended in a protocol error.

    Answers requests and acknowledges data on the way, so the sending side runs too."""
    for chunk in chunks:
        try:
            events = conn.receive_data(chunk)
        except h2.ProtocolError as exc:
            assert conn.closed, "a connection error left the connection open"
            frames = check_frames(conn.data_to_send())
            goaways = [f for f in frames if f[0] == F.GOAWAY]
            assert len(goaways) == 1, "a connection error without exactly one GOAWAY"
            code = struct.unpack(">L", goaways[0][3][4:8])[0]
            assert code == exc.error_code, "the GOAWAY does not carry the error's code"
            assert conn.receive_data(chunk) == [], "a closed connection still took input"
            return True
        for event in events:
            assert isinstance(event, EVENT_TYPES), f"unexpected event {event!r}"
            _react(conn, event)
        check_frames(conn.data_to_send())
    return False


def _react(conn: h2.H2Connection, event: h2.Event) -> None:
    try:
        if isinstance(event, h2.RequestReceived):
            conn.send_headers(event.stream_id, ((":status", "200"),))
            conn.send_data(event.stream_id, b"response")
            conn.send_headers(event.stream_id, (("grpc-status", "0"),), end_stream=True)
        elif isinstance(event, h2.DataReceived):
            conn.acknowledge_received_data(event.stream_id, event.flow_controlled_length)
    except h2.UsageError:
        pass  # the stream can no longer send; fine when the input was hostile


def _chunks(body: bytes, selector: int) -> list[bytes]:
    """Cut `body` whole (0), in equal pieces, or at pseudo-random points."""
    if selector == 0:
        return [body]
    if selector < 128:
        size = selector
        return [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    rng = random.Random(selector)
    out = []
    pos = 0
    while pos < len(body):
        step = rng.randint(1, 64)
        out.append(body[pos : pos + step])
        pos += step
    return out or [b""]


def _preamble(client_side: bool) -> bytes:
    settings = F.build_settings({})
    return settings if client_side else F.CLIENT_PREFACE + settings


def test_one_input(data: bytes) -> None:
    """The fuzz target: never raises but for a broken contract (AssertionError)."""
    if len(data) < 2:
        return
    setup, selector, body = data[0], data[1], data[2:]
    for client_side in (False, True):
        config = h2.H2Config(client_side=client_side)
        if setup & 2:
            config = h2.H2Config(client_side=client_side, **_SMALL_LIMITS)
        conn = h2.H2Connection(config)
        conn.initiate_connection()
        if setup & 4 and client_side:
            conn.send_headers(1, REQUEST, end_stream=bool(setup & 8))
        check_frames(conn.data_to_send())
        wire = (_preamble(client_side) if setup & 1 else b"") + body
        feed(conn, _chunks(wire, selector))


REQUEST = (
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/pkg.Service/Method"),
    (":authority", "localhost"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
)


def corpus() -> list[bytes]:
    """Seeds: well-formed exchanges and a few classic attacks, for both sides."""
    encoder = Encoder()
    request = encoder.encode(REQUEST)
    response = Encoder().encode(((":status", "200"), ("content-type", "application/grpc")))
    end_headers = F.FLAG_END_HEADERS
    seeds = [
        F.build_frame(F.HEADERS, end_headers, 1, request)
        + F.build_frame(F.DATA, F.FLAG_END_STREAM, 1, b"\0\0\0\0\5hello"),
        F.build_frame(F.HEADERS, 0, 1, request[:3])
        + F.build_frame(F.CONTINUATION, end_headers, 1, request[3:]),
        F.build_frame(F.HEADERS, end_headers, 1, response)
        + F.build_frame(F.DATA, 0, 1, b"\0\0\0\0\2hi")
        + F.build_frame(F.HEADERS, end_headers | F.FLAG_END_STREAM, 1, b"\x40\x0bgrpc-status\x010"),
        F.build_ping(b"12345678") * 30,
        F.build_settings({4: 2**31 - 1, 5: 16384, 1: 0}) + F.SETTINGS_ACK,
        F.build_window_update(0, 2**31 - 1) + F.build_window_update(1, 1000),
        F.build_frame(F.HEADERS, end_headers, 1, request) + F.build_rst_stream(1, 8),
        F.build_frame(F.HEADERS, end_headers, 3, request) + F.build_frame(F.DATA, 0, 3, b"") * 9,
        F.build_frame(F.PRIORITY, 0, 1, b"\0\0\0\1\7") + F.build_frame(0xFA, 0xFF, 5, b"ext"),
        F.build_goaway(0, 0, b"bye") + F.build_frame(F.PUSH_PROMISE, 4, 1, b"\0\0\0\2\x82"),
        F.build_frame(F.DATA, F.FLAG_PADDED, 1, b"\x05abc"),
    ]
    out = []
    for seed in seeds:
        for setup in (1, 3, 5, 15):
            out.append(bytes((setup, 0)) + seed)
        out.append(bytes((3, 7)) + seed)
        out.append(bytes((1, 200)) + seed)
    return out


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    """A random input: a seed with octets flipped, cut, duplicated or spliced, or noise."""
    choice = rng.random()
    if choice < 0.1:
        return rng.randbytes(rng.randint(0, 300))
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and pos < len(data):
            data[pos] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 2:
            del data[pos : pos + rng.randint(1, 16)]
        elif op == 3:
            other = rng.choice(seeds)[2:]
            start = rng.randrange(len(other) + 1)
            data[pos:pos] = other[start : start + rng.randint(1, 64)]
        else:
            data[pos:pos] = data[pos : pos + rng.randint(1, 32)]
    return bytes(data)


def run_random(count: int, seed: int = 0) -> None:
    """The built-in corpus, then `count` mutated or random inputs."""
    seeds = corpus()
    for data in seeds:
        test_one_input(data)
    rng = random.Random(seed)
    for _ in range(count):
        test_one_input(mutate(rng, seeds))


def write_corpus(directory: str) -> None:
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for index, data in enumerate(corpus()):
        (path / f"seed-{index:03d}").write_bytes(data)


def main(argv: list[str]) -> None:
    if "--write-corpus" in argv:
        write_corpus(argv[argv.index("--write-corpus") + 1])
        return
    if "--random" in argv:
        index = argv.index("--random")
        count = int(argv[index + 1]) if len(argv) > index + 1 else 20000
        run_random(count)
        print(f"ok: {len(corpus())} corpus inputs and {count} random inputs")
        return
    try:
        atheris = importlib.import_module("atheris")
    except ImportError:
        run_random(20000)
        print("atheris not installed; ok: corpus and 20000 random inputs")
        return
    atheris.instrument_all()
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
