"""The gRPC transport: one asyncio protocol per HTTP/2 connection, streams as calls see them.

Contract:
* All frames of a connection go through `GrpcConnection`; what the engine queues is written
  once per received batch, and sends made by tasks are coalesced into one write per loop turn.
* A `GrpcStream` delivers the peer's header blocks and whole gRPC messages (the 5-byte framing
  is undone here, with the receive size limit checked on the prefix, before buffering).
* Received DATA is handed back to flow control as the call reads messages, so a reader that
  stops reading stops the peer (bounded by the stream window).
* Failures reach the reader as exceptions: `StreamResetError` (RST_STREAM either way),
  `ConnectionLostError` (socket closed, GOAWAY refusal or protocol error), `MessageTooLargeError`
  / `FramingError` from the framing layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

from puregrpc._http2 import (
    ConnectionTerminated,
    DataReceived,
    ErrorCode,
    Event,
    H2Config,
    H2Connection,
    Headers,
    PingAckReceived,
    PingReceived,
    ProtocolError,
    RemoteSettingsChanged,
    RequestReceived,
    ResponseReceived,
    SendBufferDrained,
    SendBufferFullError,
    StreamReset,
    TrailersReceived,
    UsageError,
)
from puregrpc._transport._keepalive import (
    KEEPALIVE_PING,
    KeepalivePolicy,
    KeepaliveState,
    PingPolicy,
)
from puregrpc._wire import PREFIX_SIZE, FramingError, MessageDecoder, MessageTooLargeError

logger = logging.getLogger("puregrpc.transport")

_TIMER_INTERVAL = 1.0
_unpack_prefix = struct.Struct(">BL").unpack_from  # a message's compressed flag and length
_SHUTDOWN_PING = b"shutdown"
_new_stream: Any = object.__new__


class _FlushAtEndOfBatch:
    """Stands where the scheduled flush's handle would be while a batch is dispatched."""

    def cancel(self) -> None:
        pass


_FLUSH_AT_END_OF_BATCH: Any = _FlushAtEndOfBatch()


class TransportError(Exception):
    """Base of the failures a stream reports."""


class ConnectionLostError(TransportError):
    """The connection ended before the stream did."""


class StreamResetError(TransportError):
    """RST_STREAM ended the stream; `remote` when the peer sent it."""

    def __init__(self, stream_id: int, code: ErrorCode | int, remote: bool) -> None:
        name = code.name if isinstance(code, ErrorCode) else hex(code)
        super().__init__(f"stream {stream_id} reset by {'peer' if remote else 'us'}: {name}")
        self.stream_id = stream_id
        self.code = code
        self.remote = remote


class GrpcStream:
    """One stream of a connection: inbound header blocks and messages, outbound frames."""

    __slots__ = (
        "_decoder",
        "_error",
        "_max_receive",
        "_messages",
        "_queued",
        "_read_error",
        "_unacked",
        "_waiter",
        "_writable",
        "conn",
        "grpc_timeout",
        "headers",
        "on_fail",
        "peer_ended",
        "stable_headers",
        "stream_id",
        "trailers",
    )

    def __init__(
        self,
        conn: GrpcConnection,
        stream_id: int,
        max_receive: int,
        headers: Headers | None = None,
        stable_headers: Headers | None = None,
        grpc_timeout: str | None = None,
        peer_ended: bool = False,
    ) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.headers = headers
        # Of a request (server side): its headers without grpc-timeout (on one connection,
        # equal ones are mostly the same object) and the timeout's value.
        self.stable_headers = stable_headers
        self.grpc_timeout = grpc_timeout
        self.trailers: Headers | None = None
        self.peer_ended = peer_ended
        self._max_receive = max_receive
        # Created when DATA is not exactly whole messages in a row (see `_on_data`).
        self._decoder: MessageDecoder | None = None
        self._messages: deque[tuple[bool, bytes]] = deque()
        self._error: BaseException | None = None  # the stream failed: reading and writing
        self._read_error: Exception | None = None  # inbound framing broke: reading only
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._unacked = 0  # flow-controlled octets received and not yet handed back
        self._queued = 0  # framed octets of complete messages waiting for the reader
        # Called once when the stream fails (reset either way, connection lost).
        self.on_fail: Callable[[BaseException], None] | None = None
        # (GrpcConnection._on_request_received sets these same fields in place.)

    # ------------------------------------------------------------ inbound (from the protocol)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _on_headers(self, headers: Headers, end_stream: bool) -> None:
        if self.headers is None:
            self.headers = headers
        if end_stream:
            self.peer_ended = True
        if self._waiter is not None:
            self._wake()

    def _on_data(self, data: bytes, flow_length: int, end_stream: bool) -> None:
        self._unacked += flow_length
        if self._read_error is None:
            size = len(data)
            if self._decoder is None and size >= PREFIX_SIZE:
                # The common case, a DATA frame holding exactly one whole message: no decoder.
                flag, length = _unpack_prefix(data)
                if length + PREFIX_SIZE == size and flag <= 1 and length <= self._max_receive:
                    self._queued += size
                    self._messages.append((flag == 1, data[PREFIX_SIZE:]))
                    data = b""
            if data:
                decoder = self._decoder
                if decoder is None:
                    decoder = self._decoder = MessageDecoder(self._max_receive)
                try:
                    messages = decoder.feed(data)
                except (MessageTooLargeError, FramingError) as exc:  # for the reader
                    self._read_error = exc
                else:
                    for message in messages:
                        self._queued += 5 + len(message[1])
                    self._messages.extend(messages)
        # Only complete, unread messages hold window back. Bytes of a message still arriving
        # are handed back at once (the size limit bounds them): a message larger than the
        # window could otherwise never complete.
        excess = self._unacked - self._queued
        if excess > 0:
            self._unacked -= excess
            self.conn.acknowledge(self.stream_id, excess)
        if end_stream:
            self.peer_ended = True
        if self._waiter is not None:
            self._wake()

    def _on_trailers(self, headers: Headers) -> None:
        self.trailers = headers
        self.peer_ended = True
        if self._waiter is not None:
            self._wake()

    def _fail(self, error: BaseException) -> None:
        first = self._error is None
        if first:
            self._error = error
        self._release_window()
        self._wake()
        writable = self._writable
        if writable is not None and not writable.done():
            writable.set_result(None)
        if first and self.on_fail is not None:
            self.on_fail(error)

    def _release_window(self) -> None:
        if self._unacked:
            self._hand_back(self._unacked)
            self._unacked = 0

    def _hand_back(self, size: int) -> None:
        """Return `size` received octets to flow control: to the stream's window and the
        connection's while the peer may still send on the stream; once it ended its side,
        only the connection's window is concerned, and the octets are pooled with those of
        other ended streams until the next flush."""
        if self.peer_ended:
            self.conn.acknowledge_connection(size)
        else:
            self.conn.acknowledge(self.stream_id, size)

    # ------------------------------------------------------------ reading (from the call)

    @property
    def error(self) -> BaseException | None:
        return self._error

    async def read_headers(self) -> Headers | None:
        """The peer's first header block; None if the stream ended without one."""
        while self.headers is None:
            if self._error is not None:
                raise self._error
            if self.peer_ended:
                return None
            await self._wait()
        return self.headers

    async def read_message(self) -> tuple[bool, bytes] | None:
        """The next (compressed, payload), or None once the peer ended its side."""
        while True:
            if self._messages:
                message = self._messages.popleft()
                self._consumed(5 + len(message[1]))
                return message
            if self._read_error is not None:
                self._release_window()
                raise self._read_error
            # W19: a reset after the peer ended its side (RST_STREAM(NO_ERROR) after the
            # trailers) does not hide what was received.
            if self._error is not None and not self.peer_ended:
                raise self._error
            if self.peer_ended:
                self._release_window()
                if self._decoder is not None and self._decoder.pending:
                    raise FramingError("stream ended inside a message")
                return None
            await self._wait()

    def take_sole_message(self) -> tuple[bool, bytes] | None:
        """The stream's only message, when the peer ended its side after exactly one whole
        message and nothing failed; otherwise None, and nothing is consumed."""
        if (
            self.peer_ended
            and len(self._messages) == 1
            and self._read_error is None
            and self._error is None
            and (self._decoder is None or not self._decoder.pending)
        ):
            message = self._messages.popleft()
            self._queued = 0
            unacked = self._unacked
            if unacked:  # all of it, to the connection's window (the peer ended the stream)
                self._unacked = 0
                self.conn.acknowledge_connection(unacked)
            return message
        return None

    async def wait_end(self) -> None:
        """Until the peer ended its side (trailers), failed, or was reset."""
        while not self.peer_ended and self._error is None:
            await self._wait()
        self._messages.clear()
        self._release_window()

    # -- for the client's unary fast path: one wait for the whole response, no coroutine layers

    def next_event(self) -> asyncio.Future[None]:
        """A future set at the stream's next inbound event (a header block, DATA, its end, a
        failure); the caller checks the stream's state again when it is set."""
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = self.conn.loop.create_future()
        return waiter

    @property
    def settled(self) -> bool:
        """Whether a reader has something to act on without waiting: the peer ended its side,
        the stream failed, a message is complete, or the inbound framing broke."""
        return (
            self.peer_ended
            or self._error is not None
            or bool(self._messages)
            or self._read_error is not None
        )

    def take_only_message(self) -> bytes | None:
        """If the peer ended its side cleanly after exactly one complete, uncompressed message
        (and nothing was read yet): its payload, with its flow-control credit handed back.
        Otherwise None, and nothing changed: read the stream the ordinary way."""
        if (
            not self.peer_ended
            or self._error is not None
            or self._read_error is not None
            or len(self._messages) != 1
            or self._messages[0][0]
            or (self._decoder is not None and self._decoder.pending)
        ):
            return None
        payload = self._messages.popleft()[1]
        self._queued = 0
        if self._unacked:  # all of it: nothing else is left to read
            self.conn.acknowledge_connection(self._unacked)  # (the peer ended the stream)
            self._unacked = 0
        return payload

    def _consumed(self, size: int) -> None:
        self._queued -= size
        size = min(size, self._unacked)
        if size:
            self._unacked -= size
            self._hand_back(size)

    async def _wait(self) -> None:
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = self.conn.loop.create_future()
        await waiter

    # ------------------------------------------------------------ writing (from the call)

    def send_headers(self, headers: Sequence[tuple[str, str]], end_stream: bool = False) -> None:
        self.conn.send_headers(self, headers, end_stream)

    def send_response(
        self,
        headers: Sequence[tuple[str, str]],
        data: bytes,
        trailers: Sequence[tuple[str, str]],
    ) -> None:
        """Headers, one framed message and the trailers at once (a unary response). The DATA
        may wait in the engine for window; that needs no waiting here, as nothing follows it."""
        self.conn.send_response(self, headers, data, trailers)

    async def send_data(self, data: bytes, end_stream: bool = False) -> None:
        """Queue DATA; waits while the engine's buffer for this stream or the socket is full."""
        conn = self.conn
        while True:
            if self._error is not None:
                raise self._error
            try:
                conn.send_data(self, data, end_stream)
                break
            except SendBufferFullError:
                await self._wait_writable()
        if conn.write_paused or conn.h2.outbound_buffered(self.stream_id):
            await conn.wait_writable(self)

    async def _wait_writable(self) -> None:
        waiter = self._writable = self.conn.loop.create_future()
        await waiter

    def _on_drained(self) -> None:
        writable = self._writable
        if writable is not None:
            self._writable = None
            if not writable.done():
                writable.set_result(None)

    def reset(self, code: ErrorCode = ErrorCode.CANCEL) -> None:
        """Abort the stream (idempotent); the reader sees `StreamResetError(remote=False)`."""
        self.conn.reset(self, code)


class GrpcConnection(asyncio.Protocol):
    """The protocol of one connection. Subclasses decide what to do with new streams."""

    def __init__(
        self,
        config: H2Config,
        max_receive: int,
        keepalive: KeepalivePolicy | None = None,
        ping_policy: PingPolicy | None = None,
    ) -> None:
        self.h2 = H2Connection(config)
        self.max_receive = max_receive
        self.loop = asyncio.get_running_loop()
        self.keepalive = KeepaliveState(keepalive, self.loop.time())
        self.ping_policy = ping_policy
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, GrpcStream] = {}
        self.write_paused = False
        self._flush_handle: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = self.loop.create_future()
        self._gone = False  # `_closed` is done (a plain flag for the send paths)
        self._ready = self.loop.create_future()  # set on the peer's first SETTINGS
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._credit = 0  # see `acknowledge_connection`
        self.lost_reason = ""
        self.goaway_received = False
        self.peer_address: Any = None
        self.ssl_object: ssl.SSLObject | None = None
        self._handlers = self._event_handlers()

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.peer_address = transport.get_extra_info("peername")
        self.ssl_object = transport.get_extra_info("ssl_object")
        self.h2.initiate_connection()
        self.flush()
        self._timer = self.loop.call_later(_TIMER_INTERVAL, self._on_timer)

    def data_received(self, data: bytes) -> None:
        self.keepalive.on_read(self.loop.time())
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as exc:
            logger.warning("closing connection: peer broke HTTP/2: %s", exc)
            self.lost_reason = f"protocol error: {exc}"
            self.flush()
            self._close_transport()
            return
        # What the batch makes us send goes out in the flush below: no flush is scheduled.
        if self._flush_handle is None:
            self._flush_handle = _FLUSH_AT_END_OF_BATCH
        try:
            handlers = self._handlers
            for event in events:
                handler = handlers.get(type(event))
                if handler is not None:  # (InformationalResponseReceived, ... are ignored)
                    handler(event)
            self.after_events()
        finally:
            self.flush()

    def eof_received(self) -> bool | None:
        return False

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drain_waiters()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        reason = self.lost_reason or (f"connection lost: {exc}" if exc else "connection closed")
        error = ConnectionLostError(reason)
        for stream in list(self.streams.values()):
            stream._fail(error)
        self.streams.clear()
        if not self._ready.done():
            self._ready.set_exception(error)
            self._ready.exception()  # retrieved: nobody may be waiting
        self._wake_drain_waiters()
        if not self._closed.done():
            self._closed.set_result(None)
        self._gone = True
        self.on_lost()

    # ------------------------------------------------------------ hooks

    def on_request(self, stream: GrpcStream, end_stream: bool) -> None:
        """A peer opened a stream (server side)."""
        stream.reset(ErrorCode.REFUSED_STREAM)

    def after_events(self) -> None:
        """Every event of a received batch was dispatched; its output is not yet written."""

    def on_lost(self) -> None:
        """The connection is gone."""

    def on_goaway(self, event: ConnectionTerminated) -> None:
        """The peer sent GOAWAY."""

    def on_ping_ack(self, data: bytes) -> None:
        """A PING of ours was acknowledged."""

    def on_settings(self) -> None:
        """The peer's SETTINGS were applied (limits such as concurrency may have changed)."""

    # ------------------------------------------------------------ state

    @property
    def is_closed(self) -> bool:
        return self._closed.done()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    async def wait_ready(self) -> None:
        await asyncio.shield(self._ready)

    @property
    def is_usable(self) -> bool:
        return not self.is_closed and not self.goaway_received and not self.h2.closed

    # ------------------------------------------------------------ events

    def _dispatch(self, event: Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _event_handlers(self) -> dict[type[Event], Callable[[Any], None]]:
        """The handler of each event type (bound methods: one lookup and one call an event)."""
        return {
            DataReceived: self._on_data_received,
            RequestReceived: self._on_request_received,
            ResponseReceived: self._on_response_received,
            TrailersReceived: self._on_trailers_received,
            StreamReset: self._on_stream_reset,
            SendBufferDrained: self._on_send_buffer_drained,
            ConnectionTerminated: self._on_connection_terminated,
            PingReceived: self._on_ping_received,
            PingAckReceived: self._on_ping_ack_received,
            RemoteSettingsChanged: self._on_remote_settings_changed,
        }

    def _on_data_received(self, event: DataReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is None:
            self.h2.acknowledge_received_data(event.stream_id, event.flow_controlled_length)
        else:
            stream._on_data(event.data, event.flow_controlled_length, event.end_stream)

    def _on_request_received(self, event: RequestReceived) -> None:
        # `GrpcStream(...)` with its __init__ inlined: a class called from C runs __init__ in
        # a frame of its own, once per request (keep the two in step).
        end_stream = event.end_stream
        stream_id = event.stream_id
        stream = _new_stream(GrpcStream)
        stream.conn = self
        stream.stream_id = stream_id
        stream.headers = event.headers
        stream.stable_headers = event.stable_headers
        stream.grpc_timeout = event.grpc_timeout
        stream.trailers = None
        stream.peer_ended = end_stream
        stream._max_receive = self.max_receive
        stream._decoder = None
        stream._messages = deque()
        stream._error = None
        stream._read_error = None
        stream._waiter = None
        stream._writable = None
        stream._unacked = 0
        stream._queued = 0
        stream.on_fail = None
        self.streams[stream_id] = stream
        self.on_request(stream, end_stream)

    def _on_response_received(self, event: ResponseReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream._on_headers(event.headers, event.end_stream)
            if event.end_stream:
                self._forget(stream)

    def _on_trailers_received(self, event: TrailersReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream._on_trailers(event.headers)
            if not self.h2.is_stream_open(event.stream_id):
                self._forget(stream)

    def _on_stream_reset(self, event: StreamReset) -> None:
        stream = self.streams.pop(event.stream_id, None)
        if stream is not None:
            stream._fail(StreamResetError(event.stream_id, event.error_code, event.remote))

    def _on_send_buffer_drained(self, event: SendBufferDrained) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream._on_drained()
        self._wake_drain_waiters()

    def _on_connection_terminated(self, event: ConnectionTerminated) -> None:
        self.goaway_received = True
        self.on_goaway(event)

    def _on_ping_received(self, event: PingReceived) -> None:
        policy = self.ping_policy
        if policy is not None and self.keepalive.ping_is_abusive(
            policy, self.loop.time(), bool(self.streams)
        ):
            logger.warning("closing connection: peer sends too many pings")
            self.lost_reason = "too many pings"
            self.h2.close_connection(ErrorCode.ENHANCE_YOUR_CALM, b"too_many_pings")
            self.flush()
            self._close_transport()

    def _on_ping_ack_received(self, event: PingAckReceived) -> None:
        self.on_ping_ack(event.data)

    def _on_remote_settings_changed(self, event: RemoteSettingsChanged) -> None:
        if not self._ready.done():
            self._ready.set_result(None)
        self.on_settings()

    def _forget_if_done(self, stream: GrpcStream) -> None:
        """Drop a stream once the engine has closed it both ways."""
        if not self.h2.is_stream_open(stream.stream_id):
            self._forget(stream)

    def _forget(self, stream: GrpcStream) -> None:
        self.streams.pop(stream.stream_id, None)

    # ------------------------------------------------------------ output

    def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        credit = self._credit
        if credit:
            self._credit = 0
            if not self.is_closed:
                self.h2.acknowledge_received_data(0, credit)
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def schedule_flush(self) -> None:
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.flush)

    def _check_open(self, stream: GrpcStream) -> None:
        if stream._error is not None:
            raise stream._error
        if self._closed.done():
            raise ConnectionLostError(self.lost_reason or "connection closed")

    def send_headers(
        self, stream: GrpcStream, headers: Sequence[tuple[str, str]], end_stream: bool
    ) -> None:
        if stream._error is not None or self._gone:
            self._check_open(stream)
        self.keepalive.strikes = 0  # K2: sending resets the peer's ping strikes
        h2 = self.h2
        sid = stream.stream_id
        h2.send_headers(sid, headers, end_stream)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.flush)
        if not h2.is_stream_open(sid):
            self._forget(stream)

    def send_data(self, stream: GrpcStream, data: bytes, end_stream: bool) -> None:
        if stream._error is not None or self._gone:
            self._check_open(stream)
        self.keepalive.strikes = 0  # K2: sending DATA resets them too (grpc-go does)
        h2 = self.h2
        sid = stream.stream_id
        h2.send_data(sid, data, end_stream)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.flush)
        if not h2.is_stream_open(sid):
            self._forget(stream)

    def send_response(
        self,
        stream: GrpcStream,
        headers: Sequence[tuple[str, str]],
        data: bytes,
        trailers: Sequence[tuple[str, str]],
    ) -> None:
        if stream._error is not None or self._gone:
            self._check_open(stream)
        self.keepalive.strikes = 0  # K2
        h2 = self.h2
        sid = stream.stream_id
        h2.send_response(sid, headers, data, trailers)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.flush)
        if not h2.is_stream_open(sid):
            self._forget(stream)

    def reset(self, stream: GrpcStream, code: ErrorCode) -> None:
        if self.streams.pop(stream.stream_id, None) is None and stream.error is not None:
            return
        if not self.is_closed and not self.h2.closed:
            with contextlib.suppress(UsageError):
                self.h2.reset_stream(stream.stream_id, code)
            self.schedule_flush()
        stream._fail(StreamResetError(stream.stream_id, code, remote=False))

    def acknowledge(self, stream_id: int, length: int) -> None:
        """Hand `length` received octets of a stream back to flow control now."""
        if not self.is_closed:
            self.h2.acknowledge_received_data(stream_id, length)
            self.schedule_flush()

    def acknowledge_connection(self, length: int) -> None:
        """Hand `length` received octets back to the connection's window only (those of a
        stream the peer has ended): pooled, and given to the engine at the next flush."""
        self._credit += length
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.flush)

    async def wait_writable(self, stream: GrpcStream) -> None:
        """Until the socket accepts writes and the stream's queued DATA has gone out."""
        while (
            not self.is_closed
            and stream.error is None
            and (self.write_paused or self.h2.outbound_buffered(stream.stream_id))
        ):
            waiter = self.loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def _wake_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------ lifecycle

    def _on_timer(self) -> None:
        try:
            self.h2.check_timers(self.loop.time())
        except ProtocolError as exc:
            self.lost_reason = f"protocol error: {exc}"
            self.flush()
            self._close_transport()
            return
        due = self.keepalive.due(self.loop.time(), bool(self.streams))
        if due == "ping":
            self.h2.ping(KEEPALIVE_PING)
        elif due == "dead":
            logger.warning("closing connection: keepalive ping not acknowledged in time")
            self.lost_reason = "keepalive ping not acknowledged"
            self.flush()
            self._close_transport()
            return
        self.flush()
        self.on_timer()
        if not self.is_closed:
            self._timer = self.loop.call_later(_TIMER_INTERVAL, self._on_timer)

    def on_timer(self) -> None:
        """Called once a second while open."""

    def _close_transport(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def close(self, error_code: ErrorCode = ErrorCode.NO_ERROR) -> None:
        """Send GOAWAY and close the socket now; open streams fail."""
        if not self.is_closed and not self.h2.closed:
            self.h2.close_connection(error_code)
        self.flush()
        self._close_transport()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


Factory = Callable[[], GrpcConnection]
