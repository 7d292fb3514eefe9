"""The gRPC transport over HTTP/2: one asyncio protocol per connection (`GrpcConnection`),
driving the sans-IO engine and the connection's `GrpcStream`s.

Contract:
* All frames of a connection go through it; what the engine queues is written once per received
  batch, and sends made by tasks are coalesced into one write per loop turn.
* Subclasses (the client's and the server's connection) decide what a new stream is and what
  GOAWAY, a lost connection and the timer mean; streams carry the calls.
* Keepalive and ping enforcement (K1-K4) run here, on a one-second timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

from .._http2 import (
    ConnectionTerminated,
    DataReceived,
    ErrorCode,
    Event,
    H2Config,
    H2Connection,
    PingAckReceived,
    PingReceived,
    ProtocolError,
    RemoteSettingsChanged,
    RequestReceived,
    ResponseReceived,
    SendBufferDrained,
    StreamReset,
    TrailersReceived,
    UsageError,
)
from .._vocab.caches import IdentityCache
from .._vocab.errors import ConnectionLostError
from .._wire.request_head import RequestHead
from .keepalive import KEEPALIVE_PING, KeepalivePolicy, KeepaliveState, PingPolicy
from .stream import GrpcStream, reset_error

logger = logging.getLogger("puregrpc.transport")

_TIMER_INTERVAL = 1.0
_new_stream: Any = object.__new__
_HEADS_LIMIT = 64  # parsed request heads remembered per connection


class _FlushAtEndOfBatch:
    """Stands where the scheduled flush's handle would be while a batch is dispatched."""

    def cancel(self) -> None:
        pass


_FLUSH_AT_END_OF_BATCH: Any = _FlushAtEndOfBatch()


def format_peer(address: Any) -> str:
    """A socket address in gRPC's notation: `ipv4:h:p`, `ipv6:[h]:p`, `unix:path`."""
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        if host == "memory":
            return f"memory:{address[1]}"
        return f"ipv6:[{host}]:{address[1]}" if ":" in host else f"ipv4:{host}:{address[1]}"
    return f"unix:{address}" if address else "unknown"


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
        # Parsed request heads (server side), by the headers other than grpc-timeout (clients
        # such as grpc-go send a different remaining time on every call): by identity first
        # (the engine hands out the same tuple for equal lists), then by equality.
        self.heads: IdentityCache[RequestHead] = IdentityCache(_HEADS_LIMIT)
        self._heads_by_fields: dict[Sequence[tuple[str, str]], RequestHead] = {}

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
        self.reset(stream, ErrorCode.REFUSED_STREAM)

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

    def peer(self) -> str:
        return format_peer(self.peer_address)

    def request_head(self, stream: GrpcStream) -> RequestHead:
        """The parsed head of a request, cached by its headers without grpc-timeout."""
        headers = stream.stable_headers
        if headers is None:
            headers = stream.headers or ()
        head = self.heads.lookup(headers)
        if head is not None:
            return head
        head = self._heads_by_fields.get(headers)
        if head is None:
            head = RequestHead.parse(headers)
            if len(self._heads_by_fields) >= _HEADS_LIMIT:
                self._heads_by_fields.clear()
            self._heads_by_fields[headers] = head
        self.heads.remember(headers, head)
        return head

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
            stream._fail(reset_error(event.stream_id, event.error_code, event.remote))

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
        stream._fail(reset_error(stream.stream_id, code, False))

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
