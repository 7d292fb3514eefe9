"""The `h2` library (python-hyper) as a second, independent HTTP/2 peer.

In memory: an h2 client against our sans-IO engine, frame for frame. Over real sockets: an
h2 client against our asyncio server, and our asyncio client against an h2 server written
here. Covered: trailers, large bodies under flow control, SETTINGS changed mid-connection,
RST_STREAM both ways, GOAWAY both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
from h2.settings import SettingCodes
from support.h2_binding import (
    H2ClientConnection,
    H2ConnectionLostError,
    H2Request,
    H2Response,
    H2StreamRefusedError,
    H2StreamResetError,
    serve_h2,
)
from support.h2util import of_type

from puregrpc._http2 import (
    ConnectionTerminated,
    DataReceived,
    ErrorCode,
    Event,
    H2Config,
    H2Connection,
    RequestReceived,
    StreamReset,
    TrailersReceived,
)

pytestmark = pytest.mark.peer

Headers = list[tuple[str, str]]


def h2lib(client_side: bool) -> h2.connection.H2Connection:
    config = h2.config.H2Configuration(client_side=client_side, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config)
    conn.initiate_connection()
    return conn


def text(value: bytes | str) -> str:
    """h2 types header fields as bytes; with `header_encoding` they arrive as str."""
    return value.decode() if isinstance(value, bytes) else value


def request_headers(path: str, method: str = "POST") -> Headers:
    return [(":method", method), (":scheme", "http"), (":path", path), (":authority", "test")]


# --------------------------------------------------------------------------- in memory


class Duo:
    """Our engine and an h2 connection wired together in memory. Each `step` moves bytes both
    ways, acknowledges every DATA at once on both sides and lets `feeders` push more."""

    def __init__(self, ours: H2Connection, theirs: h2.connection.H2Connection) -> None:
        self.ours = ours
        self.theirs = theirs
        self.our_events: list[Event] = []
        self.their_events: list[h2.events.Event] = []
        self.feeders: list[Callable[[], bool]] = []

    def run(self, max_steps: int = 10_000, settle: bool = True) -> None:
        """Exchange until quiet; with `settle=False`, stop after `max_steps` regardless."""
        for _ in range(max_steps):
            moved = False
            for feed in self.feeders:
                moved |= feed()
            out = self.ours.data_to_send()
            if out:
                moved = True
                for event in self._feed_theirs(out):
                    self.their_events.append(event)
                    if isinstance(event, h2.events.DataReceived) and event.stream_id:
                        self.theirs.acknowledge_received_data(
                            event.flow_controlled_length or 0, event.stream_id
                        )
            back = self.theirs.data_to_send()
            if back:
                moved = True
                for ours in self.ours.receive_data(back):
                    self.our_events.append(ours)
                    if isinstance(ours, DataReceived):
                        self.ours.acknowledge_received_data(
                            ours.stream_id, ours.flow_controlled_length
                        )
            if not moved:
                return
        if settle:
            raise AssertionError("the peers never went quiet")

    def _feed_theirs(self, data: bytes) -> list[h2.events.Event]:
        """Hand h2 one frame per call: h2 applies an acknowledged MAX_FRAME_SIZE only from its
        next `receive_data`, so a larger frame right behind the SETTINGS ACK in the same
        buffer would be refused (RFC 9113 allows it; an h2 limitation, not ours)."""
        events: list[h2.events.Event] = []
        pos = 0
        while pos < len(data):
            length = int.from_bytes(data[pos : pos + 3], "big")
            if data.startswith(b"PRI * HTTP/2.0", pos):
                length = 24 - 9
            events += self.theirs.receive_data(data[pos : pos + 9 + length])
            pos += 9 + length
        return events

    def their(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.their_events if isinstance(e, kind)]


def h2_sender(conn: h2.connection.H2Connection, sid: int, payload: bytes) -> Callable[[], bool]:
    """A feeder sending `payload` on an h2 stream as fast as its windows allow, then ending
    the stream with trailers."""
    view = memoryview(payload)
    state = {"offset": 0, "done": False}

    def feed() -> bool:
        if state["done"]:
            return False
        offset = state["offset"]
        window = conn.local_flow_control_window(sid)
        size = min(window, conn.max_outbound_frame_size, len(view) - offset)
        if size > 0:
            conn.send_data(sid, bytes(view[offset : offset + size]))
            state["offset"] = offset + size
            return True
        if offset == len(view):
            conn.send_headers(sid, [("x-upload-trailer", "done")], end_stream=True)
            state["done"] = True
            return True
        return False

    return feed


def test_h2_client_large_bodies_trailers_and_settings_change() -> None:
    """2 MB up (our 16 KiB window), 2 MB down (h2's default 64 KiB window), trailers both
    ways; mid-response h2 raises its window and MAX_FRAME_SIZE, which we must apply."""
    ours = H2Connection(
        H2Config(client_side=False, initial_window_size=16384, connection_window_size=65535)
    )
    ours.initiate_connection()
    theirs = h2lib(client_side=True)
    duo = Duo(ours, theirs)
    upload = os.urandom(2 * 1024 * 1024)
    theirs.send_headers(1, request_headers("/upload"))
    duo.feeders.append(h2_sender(theirs, 1, upload))
    duo.run()
    assert of_type(duo.our_events, RequestReceived)[0].stream_id == 1
    received = b"".join(e.data for e in of_type(duo.our_events, DataReceived))
    assert received == upload
    assert of_type(duo.our_events, TrailersReceived)[0].headers == (("x-upload-trailer", "done"),)

    download = os.urandom(2 * 1024 * 1024)
    ours.send_headers(1, ((":status", "200"),))
    ours.send_data(1, download[: 1024 * 1024])  # far more than h2's window: waits inside
    duo.run(max_steps=3, settle=False)
    assert ours.outbound_buffered(1) > 0  # still waiting for h2's window
    theirs.update_settings(
        {SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20, SettingCodes.MAX_FRAME_SIZE: 65536}
    )
    duo.run()
    ours.send_data(1, download[1024 * 1024 :])
    ours.send_headers(1, (("grpc-status", "0"),), end_stream=True)
    duo.run()
    data_events = duo.their(h2.events.DataReceived)
    assert b"".join(e.data for e in data_events) == download
    assert max(len(e.data) for e in data_events) > 16384  # the new MAX_FRAME_SIZE is in use
    trailers = duo.their(h2.events.TrailersReceived)
    assert trailers[0].headers == [("grpc-status", "0")]
    assert duo.their(h2.events.StreamEnded)[0].stream_id == 1
    assert ours.open_streams == 0


def test_data_in_default_window_before_our_settings_ack_is_accepted() -> None:
    """Regression: with a configured stream window below 65535, DATA the peer sent within the
    default window before it saw our SETTINGS was reset with FLOW_CONTROL_ERROR. RFC 9113
    6.9.2 lets the peer use 65535 until then; the smaller window applies from the ACK."""
    ours = H2Connection(H2Config(client_side=False, initial_window_size=16384))
    ours.initiate_connection()
    theirs = h2lib(client_side=True)
    theirs.send_headers(1, request_headers("/early"))
    theirs.send_data(1, b"x" * 16384)
    theirs.send_data(1, b"y" * 16384)  # 32 KiB: beyond 16 KiB, within the default window
    early = ours.receive_data(theirs.data_to_send())
    assert not of_type(early, StreamReset)
    assert sum(len(e.data) for e in of_type(early, DataReceived)) == 32768
    for event in of_type(early, DataReceived):
        ours.acknowledge_received_data(1, event.flow_controlled_length)
    duo = Duo(ours, theirs)
    rest = os.urandom(200_000)
    duo.feeders.append(h2_sender(theirs, 1, rest))
    duo.run()
    assert not of_type(duo.our_events, StreamReset)
    assert b"".join(e.data for e in of_type(duo.our_events, DataReceived)) == rest
    assert of_type(duo.our_events, TrailersReceived)


def test_rst_stream_both_ways_in_memory() -> None:
    ours = H2Connection(H2Config(client_side=False))
    ours.initiate_connection()
    theirs = h2lib(client_side=True)
    duo = Duo(ours, theirs)
    theirs.send_headers(1, request_headers("/a"))
    theirs.send_data(1, b"partial")
    theirs.send_headers(3, request_headers("/b"))
    duo.run()
    # h2 cancels stream 1 mid-upload.
    theirs.reset_stream(1, error_code=8)
    duo.run()
    reset = of_type(duo.our_events, StreamReset)
    assert [(r.stream_id, r.error_code, r.remote) for r in reset] == [(1, ErrorCode.CANCEL, True)]
    # We refuse stream 3.
    ours.reset_stream(3, ErrorCode.REFUSED_STREAM)
    duo.run()
    their_resets = duo.their(h2.events.StreamReset)
    assert [(r.stream_id, r.error_code) for r in their_resets] == [(3, 7)]
    assert ours.open_streams == 0
    # The connection is still fine.
    theirs.send_headers(5, request_headers("/c", "GET"), end_stream=True)
    duo.run()
    ours.send_headers(5, ((":status", "204"),), end_stream=True)
    duo.run()
    assert duo.their(h2.events.ResponseReceived)[0].stream_id == 5


def test_goaway_both_ways_in_memory() -> None:
    ours = H2Connection(H2Config(client_side=False))
    ours.initiate_connection()
    theirs = h2lib(client_side=True)
    duo = Duo(ours, theirs)
    theirs.send_headers(1, request_headers("/a", "GET"), end_stream=True)
    theirs.send_headers(3, request_headers("/b", "GET"), end_stream=True)
    duo.run()
    # h2 treats any GOAWAY as the end of the connection (a PING after it is a protocol error
    # to h2), so the two-phase graceful shutdown is checked against nghttp instead; here our
    # single GOAWAY and its last stream id.
    ours.close_connection(last_stream_id=1)
    duo.run()
    goaways = duo.their(h2.events.ConnectionTerminated)
    assert [(g.last_stream_id, g.error_code) for g in goaways] == [(1, 0)]
    # Stream 1 may still complete on our side.
    ours.send_headers(1, ((":status", "200"),), end_stream=True)
    assert ours.data_to_send()

    # And the other way: an h2 client's GOAWAY reaches our engine as ConnectionTerminated.
    ours2 = H2Connection(H2Config(client_side=False))
    ours2.initiate_connection()
    theirs2 = h2lib(client_side=True)
    duo2 = Duo(ours2, theirs2)
    duo2.run()
    theirs2.close_connection(error_code=0, additional_data=b"bye")
    duo2.run()
    terminated = of_type(duo2.our_events, ConnectionTerminated)
    assert [(t.error_code, t.additional_data) for t in terminated] == [(ErrorCode.NO_ERROR, b"bye")]


# ------------------------------------------------------------------------ h2 client -> our server


class H2LibClient:
    """An h2 client on a real socket, driven step by step by the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = h2lib(client_side=True)
        self.events: list[h2.events.Event] = []

    @classmethod
    async def connect(cls, port: int, window: int | None = None) -> H2LibClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        if window is not None:
            client.conn.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: window})
        await client.flush()
        return client

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def receive(self) -> bool:
        """Read one batch, acknowledge its DATA; False at EOF."""
        data = await asyncio.wait_for(self.reader.read(65536), 10)
        if not data:
            return False
        for event in self.conn.receive_data(data):
            self.events.append(event)
            if isinstance(event, h2.events.DataReceived) and event.stream_id:
                self.conn.acknowledge_received_data(
                    event.flow_controlled_length or 0, event.stream_id
                )
        await self.flush()
        return True

    async def until(self, done: Callable[[], bool]) -> None:
        for _ in range(10_000):
            if done():
                return
            if not await self.receive():
                break
        assert done(), "the condition never came true"

    async def upload(self, sid: int, payload: bytes) -> None:
        offset = 0
        while offset < len(payload):
            size = min(
                self.conn.local_flow_control_window(sid),
                self.conn.max_outbound_frame_size,
                len(payload) - offset,
            )
            if size <= 0:
                await self.receive()  # wait for WINDOW_UPDATE
                continue
            self.conn.send_data(sid, payload[offset : offset + size])
            offset += size
            await self.flush()
        self.conn.end_stream(sid)
        await self.flush()

    def of(self, kind: type[Any], sid: int | None = None) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (sid is None or getattr(e, "stream_id", None) == sid)
        ]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def test_h2_client_against_our_server() -> None:
    """Echo of 2 MB with small windows on both sides and trailers; a stream reset by the h2
    client cancels its handler; its GOAWAY makes our server close the idle connection."""
    handler_cancelled = asyncio.Event()
    handler_entered = asyncio.Event()

    async def handler(request: H2Request) -> H2Response:
        if request.path == "/hang":
            handler_entered.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                handler_cancelled.set()
                raise
        return H2Response(200, (("x-len", str(len(request.body))),), request.body, [("t", "1")])

    config = H2Config(client_side=False, initial_window_size=16384, connection_window_size=65535)
    server = await serve_h2(handler, config=config)
    client = await H2LibClient.connect(server.port, window=16384)
    try:
        payload = os.urandom(2 * 1024 * 1024)
        client.conn.send_headers(1, request_headers("/echo"))
        await client.upload(1, payload)
        await client.until(lambda: bool(client.of(h2.events.StreamEnded, 1)))
        body = b"".join(e.data for e in client.of(h2.events.DataReceived, 1))
        assert body == payload
        response = client.of(h2.events.ResponseReceived, 1)[0]
        assert ("x-len", str(len(payload))) in response.headers
        assert client.of(h2.events.TrailersReceived, 1)[0].headers == [("t", "1")]

        client.conn.send_headers(3, request_headers("/hang", "GET"), end_stream=True)
        await client.flush()
        await asyncio.wait_for(handler_entered.wait(), 10)
        client.conn.reset_stream(3, error_code=8)
        await client.flush()
        await asyncio.wait_for(handler_cancelled.wait(), 10)

        client.conn.close_connection()
        await client.flush()
        for _ in range(1000):
            if not await client.receive():
                break
    finally:
        await client.close()
        await server.close()
    assert client.reader.at_eof()  # our server closed the connection after the GOAWAY
    assert not client.of(h2.events.StreamReset)


# ------------------------------------------------------------------------ our client -> h2 server


class H2LibServer:
    """An h2 server on a real socket. Routes: /big (2 MB and trailers, honouring our window),
    /reset (RST_STREAM), /hold (answered when the test says), anything else: the path."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.conn: h2.connection.H2Connection | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.held: list[int] = []
        self.pending: dict[int, tuple[memoryview, Headers]] = {}
        self.active = 0
        self.max_active = 0
        self.big = os.urandom(2 * 1024 * 1024)

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        if self.writer is not None:
            self.writer.close()
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 10)
        await self.server.wait_closed()

    def write(self) -> None:
        assert self.conn is not None and self.writer is not None
        data = self.conn.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    def respond(self, sid: int, body: bytes, trailers: Headers | None = None) -> None:
        assert self.conn is not None
        self.conn.send_headers(sid, [(":status", "200")])
        self.pending[sid] = (memoryview(body), trailers or [])
        self._push()

    def _push(self) -> None:
        conn = self.conn
        assert conn is not None
        for sid, (view, trailers) in list(self.pending.items()):
            while view:
                size = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if size <= 0:
                    break
                conn.send_data(sid, bytes(view[:size]))
                view = view[size:]
            if view:
                self.pending[sid] = (view, trailers)
                continue
            del self.pending[sid]
            if trailers:
                conn.send_headers(sid, trailers, end_stream=True)
            else:
                conn.end_stream(sid)
            self.active -= 1
        self.write()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.conn = conn = h2lib(client_side=False)
        self.writer = writer
        self.write()
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    self._on_event(event)
                self._push()
                await writer.drain()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _on_event(self, event: h2.events.Event) -> None:
        conn = self.conn
        assert conn is not None
        if isinstance(event, h2.events.DataReceived) and event.stream_id:
            conn.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
        elif isinstance(event, h2.events.RequestReceived):
            sid = event.stream_id
            assert sid is not None and event.headers is not None
            path = {text(k): text(v) for k, v in event.headers}[":path"]
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            if path == "/big":
                self.respond(sid, self.big, [("grpc-status", "0"), ("x-sum", str(len(self.big)))])
            elif path == "/reset":
                conn.reset_stream(sid, error_code=2)
                self.active -= 1
            elif path == "/hold":
                self.held.append(sid)
            else:
                self.respond(sid, path.encode())


async def with_h2_server(
    body: Callable[[H2LibServer, int], Any],
) -> None:
    server = H2LibServer()
    port = await server.start()
    try:
        await body(server, port)
    finally:
        await server.stop()


async def test_our_client_large_response_with_trailers_and_flow_control() -> None:
    async def body(server: H2LibServer, port: int) -> None:
        config = H2Config(client_side=True, initial_window_size=16384, connection_window_size=32768)
        client = await H2ClientConnection.connect("127.0.0.1", port, config)
        try:
            response = await asyncio.wait_for(client.request("GET", "/big"), 20)
        finally:
            await client.close()
        assert response.status == 200
        assert response.body == server.big
        assert response.trailers == (("grpc-status", "0"), ("x-sum", str(len(server.big))))

    await with_h2_server(body)


async def test_our_client_sees_rst_stream_and_settings_change() -> None:
    async def body(server: H2LibServer, port: int) -> None:
        client = await H2ClientConnection.connect("127.0.0.1", port)
        try:
            with pytest.raises(H2StreamResetError) as caught:
                await asyncio.wait_for(client.request("GET", "/reset"), 10)
            assert caught.value.error_code == ErrorCode.INTERNAL_ERROR
            assert caught.value.remote
            # Mid-connection, the h2 server allows one stream at a time.
            assert server.conn is not None
            server.conn.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: 1})
            server.write()
            first = await asyncio.wait_for(client.request("GET", "/after"), 10)
            assert first.body == b"/after"
            assert client.remote_settings[SettingCodes.MAX_CONCURRENT_STREAMS] == 1
            server.max_active = 0
            responses = await asyncio.wait_for(
                asyncio.gather(*(client.request("GET", f"/n{i}") for i in range(10))), 10
            )
            assert [r.body for r in responses] == [f"/n{i}".encode() for i in range(10)]
            assert server.max_active == 1
            # And we reset a stream of ours: cancelling a request sends RST_STREAM(CANCEL).
            held = asyncio.create_task(client.request("GET", "/hold"))
            for _ in range(200):
                if server.held:
                    break
                await asyncio.sleep(0.01)
            held.cancel()
            with pytest.raises(asyncio.CancelledError):
                await held
            await asyncio.sleep(0.1)
            assert server.conn.open_inbound_streams == 0
            assert (await client.request("GET", "/still-fine")).body == b"/still-fine"
        finally:
            await client.close()

    await with_h2_server(body)


async def test_our_client_sees_goaway() -> None:
    """The h2 server's GOAWAY with last_stream_id below one of our streams: that one fails
    with H2StreamRefusedError (safe to retry), the earlier one completes, new ones are refused."""

    async def body(server: H2LibServer, port: int) -> None:
        client = await H2ClientConnection.connect("127.0.0.1", port)
        try:
            first = asyncio.create_task(client.request("GET", "/hold"))
            second = asyncio.create_task(client.request("GET", "/hold"))
            for _ in range(200):
                if len(server.held) == 2:
                    break
                await asyncio.sleep(0.01)
            assert server.held == [1, 3]
            # Raw GOAWAY(last_stream_id=1, NO_ERROR): h2 itself would refuse to send anything
            # after its own GOAWAY, and stream 1 is still to be answered.
            assert server.writer is not None
            server.writer.write(bytes([0, 0, 8, 7, 0, 0, 0, 0, 0]) + struct.pack(">LL", 1, 0))
            with pytest.raises(H2StreamRefusedError):
                await asyncio.wait_for(second, 10)
            with pytest.raises((H2StreamRefusedError, H2ConnectionLostError)):
                await client.request("GET", "/new")
            server.respond(1, b"finished after GOAWAY")
            assert (await asyncio.wait_for(first, 10)).body == b"finished after GOAWAY"
        finally:
            await client.close()

    await with_h2_server(body)
