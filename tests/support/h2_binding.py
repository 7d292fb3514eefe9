"""A minimal asyncio binding of the sans-IO HTTP/2 engine (plain HTTP/2 requests and responses,
no gRPC), for the engine's peer tests and the HTTP/2 demo: one `asyncio.Protocol` per
connection. Its exceptions are its own (`H2TransportError` and below), not the runtime's.

Contract:
* Each connection owns one `H2Connection`. Every batch of received bytes is fed to
  `receive_data`, the events are dispatched, and what the engine queued goes out in a single
  `transport.write`. Sends made by application tasks schedule one coalesced flush on the next
  loop iteration, so concurrent streams share writes.
* A `ProtocolError` from the peer writes the GOAWAY the engine queued and closes the socket.
* `check_timers(loop.time())` runs once a second while the connection is open.
* Back-pressure: senders wait while the transport is paused (`pause_writing`) and while the
  engine refuses DATA (`SendBufferFullError`, until `SendBufferDrained`).
* Flow control: received DATA is acknowledged to the engine only when the application takes
  it out of the stream's inbound buffer; data nobody will read is acknowledged when dropped.
* Every task a connection starts is owned by it: cancelled when the connection is lost and
  awaited by `wait_closed()`. Timers and flush callbacks are cancelled on loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Sequence
from typing import Any, cast

from puregrpc._http2 import (
    ConnectionClosedError,
    ConnectionTerminated,
    DataReceived,
    ErrorCode,
    Event,
    H2Config,
    H2Connection,
    Headers,
    PingAckReceived,
    ProtocolError,
    RemoteSettingsChanged,
    RequestReceived,
    ResponseReceived,
    SendBufferDrained,
    SendBufferFullError,
    StreamClosedError,
    StreamReset,
    StreamState,
    TrailersReceived,
    UsageError,
)

__all__ = [
    "H2ClientConnection",
    "H2ConnectionLostError",
    "H2Request",
    "H2Response",
    "H2Server",
    "H2StreamRefusedError",
    "H2StreamResetError",
    "H2TransportError",
    "Handler",
    "serve_h2",
]

logger = logging.getLogger("puregrpc.transport")

_TIMER_INTERVAL = 1.0
_SEND_CHUNK = 64 * 1024
_SHUTDOWN_PING = b"shutdown"

HeaderList = Sequence[tuple[str, str]]
Body = bytes | AsyncIterable[bytes]


# --------------------------------------------------------------------------- errors


class H2TransportError(Exception):
    """Base of the errors a request or a stream fails with."""


class H2ConnectionLostError(H2TransportError):
    """The connection closed (or the peer broke the protocol) before the stream finished."""


class H2StreamResetError(H2TransportError):
    """The stream was reset: by the peer (`remote`) or by us."""

    def __init__(self, stream_id: int, error_code: ErrorCode | int, remote: bool) -> None:
        name = error_code.name if isinstance(error_code, ErrorCode) else hex(error_code)
        who = "the peer" if remote else "us"
        super().__init__(f"stream {stream_id} reset by {who} ({name})")
        self.stream_id = stream_id
        self.error_code = error_code
        self.remote = remote


class H2StreamRefusedError(H2StreamResetError):
    """REFUSED_STREAM, from RST_STREAM or GOAWAY: the peer never processed the request, so it
    is safe to retry on a new connection."""

    def __init__(self, stream_id: int, reason: str = "") -> None:
        super().__init__(stream_id, ErrorCode.REFUSED_STREAM, True)
        if reason:
            self.args = (f"stream {stream_id} refused: {reason}",)


# --------------------------------------------------------------------------- messages


@dataclasses.dataclass(slots=True, frozen=True)
class H2Request:
    """A request as the server handler sees it; `headers` holds no pseudo-headers and
    `body` has been read in full."""

    method: str
    path: str
    headers: Headers = ()
    body: bytes = b""
    authority: str = ""
    scheme: str = "http"
    stream_id: int = 0


@dataclasses.dataclass(slots=True, frozen=True)
class H2Response:
    """A response: what a handler returns and what `H2ClientConnection.request` yields.
    `headers` holds no pseudo-headers; `trailers` is None when there were none."""

    status: int = 200
    headers: HeaderList = ()
    body: bytes = b""
    trailers: HeaderList | None = None


Handler = Callable[[H2Request], Awaitable[H2Response]]


# --------------------------------------------------------------------------- streams


class _Inbound:
    """DATA received on one stream, waiting for the application.

    Taking a chunk out with `read` hands its flow-controlled length back through `ack`;
    chunks dropped by `fail` are handed back at once, so the connection window never leaks.
    """

    __slots__ = ("_ack", "_chunks", "_ended", "_error", "_waiter")

    def __init__(self, ack: Callable[[int], None]) -> None:
        self._ack = ack
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._ended = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def ended(self) -> bool:
        return self._ended

    def feed(self, data: bytes, flow_length: int, end_stream: bool) -> None:
        if self._ended or self._error is not None:
            self._ack(flow_length)
            return
        if data or flow_length:
            self._chunks.append((data, flow_length))
        if end_stream:
            self._ended = True
        self._wake()

    def end(self) -> None:
        self._ended = True
        self._wake()

    def fail(self, error: Exception) -> None:
        """Fail pending and future reads, unless the stream had already ended."""
        if self._ended or self._error is not None:
            return
        self._error = error
        dropped = sum(length for _, length in self._chunks)
        self._chunks.clear()
        if dropped:
            self._ack(dropped)
        self._wake()

    def discard(self) -> None:
        """Drop what is buffered and whatever arrives later (the reader went away)."""
        dropped = sum(length for _, length in self._chunks)
        self._chunks.clear()
        self._ended = True
        if dropped:
            self._ack(dropped)
        self._wake()

    async def read(self) -> bytes | None:
        """The next chunk, or None at the end of the stream; raises the stream's error."""
        while True:
            if self._chunks:
                data, length = self._chunks.popleft()
                if length:
                    self._ack(length)
                return data
            if self._error is not None:
                raise self._error
            if self._ended:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def read_all(self) -> bytes:
        parts: list[bytes] = []
        while (chunk := await self.read()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Stream:
    """The binding's side of one stream: received head and trailers, inbound DATA, the
    send-side wake-up, and the error that ended it early."""

    __slots__ = ("error", "head", "head_ready", "id", "inbound", "send_ready", "task", "trailers")

    def __init__(self, stream_id: int, ack: Callable[[int], None]) -> None:
        self.id = stream_id
        self.inbound = _Inbound(ack)
        self.head: Headers | None = None
        self.head_ready = asyncio.Event()
        self.trailers: Headers | None = None
        self.send_ready = asyncio.Event()
        self.error: Exception | None = None
        self.task: asyncio.Task[None] | None = None

    def fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        self.inbound.fail(error)
        self.head_ready.set()
        self.send_ready.set()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    async def wait_head(self) -> Headers:
        await self.head_ready.wait()
        if self.head is None:
            assert self.error is not None
            raise self.error
        return self.head


# --------------------------------------------------------------------------- the protocol


class _H2Protocol(asyncio.Protocol):
    """What both roles share: engine I/O, event dispatch, back-pressure, timers, tasks."""

    def __init__(self, config: H2Config) -> None:
        self._loop = asyncio.get_running_loop()
        self._h2 = H2Connection(config)
        self._transport: asyncio.Transport | None = None
        self._streams: dict[int, _Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._flush_handle: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._lost_reason: str | None = None
        self._settings_seen = asyncio.Event()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._h2.initiate_connection()
        self._flush()
        self._timer = self._loop.call_later(_TIMER_INTERVAL, self._on_timer)

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except ProtocolError as exc:
            self._fail_connection(f"protocol error: {exc}")
            return
        for event in events:
            self._dispatch(event)
        self._flush()
        self._after_batch()

    def eof_received(self) -> bool | None:
        self._lost_reason = self._lost_reason or "the peer closed the connection"
        return None  # close our side too

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        reason = self._lost_reason or "connection lost"
        if exc is not None:
            reason = f"{reason}: {exc}"
        self._lost_reason = reason
        self._transport = None
        for stream in list(self._streams.values()):
            stream.fail(H2ConnectionLostError(reason))
        self._can_write.set()
        self._settings_seen.set()
        for task in self._tasks:
            task.cancel()
        if not self._lost.done():
            self._lost.set_result(None)
        self._on_lost()

    # -- lifecycle

    @property
    def is_closed(self) -> bool:
        return self._lost.done()

    async def wait_closed(self) -> None:
        """Wait until the socket is closed and every task of this connection has finished."""
        await asyncio.shield(self._lost)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def abort(self) -> None:
        """Drop the connection at once (no GOAWAY)."""
        if self._transport is not None:
            self._transport.abort()

    def _fail_connection(self, reason: str) -> None:
        """A connection error: write the queued GOAWAY and close; streams fail with `reason`."""
        self._lost_reason = reason
        for stream in list(self._streams.values()):
            stream.fail(H2ConnectionLostError(reason))
        self._flush()
        if self._transport is not None:
            self._transport.close()

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self._h2.check_timers(self._loop.time())
        except ProtocolError as exc:
            self._fail_connection(f"{exc}")
            return
        if self._transport is not None:
            self._timer = self._loop.call_later(_TIMER_INTERVAL, self._on_timer)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Start a task owned by this connection."""
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- output

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _schedule_flush(self) -> None:
        if self._flush_handle is None and self._transport is not None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _ack(self, stream_id: int, length: int) -> None:
        self._h2.acknowledge_received_data(stream_id, length)
        self._schedule_flush()

    def _new_stream(self, stream_id: int) -> _Stream:
        stream = _Stream(stream_id, lambda length: self._ack(stream_id, length))
        self._streams[stream_id] = stream
        return stream

    def _send_failure(self, stream: _Stream, exc: UsageError) -> Exception:
        """What a failed engine send means for the caller."""
        if stream.error is not None:
            return stream.error
        if isinstance(exc, ConnectionClosedError) or self.is_closed:
            return H2ConnectionLostError(self._lost_reason or f"connection closed: {exc}")
        if isinstance(exc, StreamClosedError):
            return H2StreamResetError(stream.id, ErrorCode.STREAM_CLOSED, False)
        return exc

    def _send_headers(self, stream: _Stream, headers: HeaderList, end_stream: bool) -> None:
        stream.check()
        try:
            self._h2.send_headers(stream.id, headers, end_stream)
        except UsageError as exc:
            raise self._send_failure(stream, exc) from exc
        self._schedule_flush()

    async def _send_data(self, stream: _Stream, data: bytes, end_stream: bool) -> None:
        """Queue `data` on the stream, waiting out back-pressure; returns once the engine
        holds all of it (it may still wait there for flow-control window)."""
        view = memoryview(data)
        total = len(view)
        offset = 0
        while True:
            if not self._can_write.is_set():
                await self._can_write.wait()
            stream.check()
            if self.is_closed:
                raise H2ConnectionLostError(self._lost_reason or "connection lost")
            piece = bytes(view[offset : offset + _SEND_CHUNK])
            last = offset + len(piece) >= total
            stream.send_ready.clear()
            try:
                self._h2.send_data(stream.id, piece, end_stream=end_stream and last)
            except SendBufferFullError:
                await stream.send_ready.wait()
                continue
            except UsageError as exc:
                raise self._send_failure(stream, exc) from exc
            self._schedule_flush()
            offset += len(piece)
            if last:
                return

    def _reset(self, stream: _Stream, code: ErrorCode) -> None:
        """Reset the stream if the engine still holds it; drop its inbound data."""
        if not self.is_closed and self._h2.stream_state(stream.id) != StreamState.CLOSED:
            with contextlib.suppress(UsageError):
                self._h2.reset_stream(stream.id, code)
                self._schedule_flush()
        stream.inbound.discard()

    def _forget(self, stream: _Stream) -> None:
        """The application is done with the stream."""
        if self._streams.get(stream.id) is stream:
            del self._streams[stream.id]
        stream.inbound.discard()
        self._after_batch()

    # -- events

    def _dispatch(self, event: Event) -> None:
        match event:
            case DataReceived():
                stream = self._streams.get(event.stream_id)
                if stream is None:
                    self._h2.acknowledge_received_data(
                        event.stream_id, event.flow_controlled_length
                    )
                else:
                    stream.inbound.feed(event.data, event.flow_controlled_length, event.end_stream)
            case TrailersReceived():
                stream = self._streams.get(event.stream_id)
                if stream is not None:
                    stream.trailers = event.headers
                    stream.inbound.end()
            case StreamReset():
                stream = self._streams.get(event.stream_id)
                if stream is not None:
                    self._on_stream_reset(stream, event)
            case SendBufferDrained():
                stream = self._streams.get(event.stream_id)
                if stream is not None:
                    stream.send_ready.set()
            case RemoteSettingsChanged():
                self._settings_seen.set()
            case ConnectionTerminated():
                self._on_goaway(event)
            case PingAckReceived():
                self._on_ping_ack(event.data)
            case _:
                self._on_event(event)

    def _on_stream_reset(self, stream: _Stream, event: StreamReset) -> None:
        if event.error_code == ErrorCode.REFUSED_STREAM and event.remote:
            error: H2StreamResetError = H2StreamRefusedError(event.stream_id)
        else:
            error = H2StreamResetError(event.stream_id, event.error_code, event.remote)
        stream.fail(error)

    # -- role hooks

    def _on_event(self, event: Event) -> None:
        """Role-specific events (requests, responses)."""

    def _on_goaway(self, event: ConnectionTerminated) -> None:
        """The peer sent GOAWAY; an error code there explains the coming connection loss."""
        if event.error_code != ErrorCode.NO_ERROR:
            code = event.error_code
            name = code.name if isinstance(code, ErrorCode) else hex(code)
            detail = event.additional_data.decode("utf-8", "replace")
            self._lost_reason = f"the peer sent GOAWAY ({name}){': ' + detail if detail else ''}"

    def _on_ping_ack(self, data: bytes) -> None:
        """One of our PINGs was acknowledged."""

    def _after_batch(self) -> None:
        """Runs after each received batch and whenever a stream is forgotten."""

    def _on_lost(self) -> None:
        """The connection is gone; everything has been failed."""


# --------------------------------------------------------------------------- server


class _ServerProtocol(_H2Protocol):
    """Server role: each request runs `handler` in a task owned by the connection."""

    def __init__(
        self, handler: Handler, config: H2Config, on_lost: Callable[[_ServerProtocol], None]
    ) -> None:
        super().__init__(config)
        self._handler = handler
        self._on_lost_callback = on_lost
        self._shutting_down = False
        self._final_goaway_sent = False

    def shutdown(self) -> None:
        """Graceful shutdown: GOAWAY(2^31-1) and a PING now; the final GOAWAY when the PING is
        acknowledged; the socket closes once every accepted stream has finished."""
        if self._shutting_down or self.is_closed:
            return
        self._shutting_down = True
        self._h2.start_graceful_shutdown(_SHUTDOWN_PING)
        self._flush()

    def _on_ping_ack(self, data: bytes) -> None:
        if data == _SHUTDOWN_PING and self._shutting_down and not self._final_goaway_sent:
            self._final_goaway_sent = True
            self._h2.close_connection()

    def _after_batch(self) -> None:
        done = self._final_goaway_sent or self._h2.goaway_received
        if done and not self._streams and self._h2.open_streams == 0:
            self._flush()
            if self._transport is not None and not self._transport.is_closing():
                self._transport.close()

    def _on_lost(self) -> None:
        self._on_lost_callback(self)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RequestReceived):
            stream = self._new_stream(event.stream_id)
            stream.head = event.headers
            if event.end_stream:
                stream.inbound.end()
            stream.task = self._spawn(self._serve(stream, event.headers))

    def _on_stream_reset(self, stream: _Stream, event: StreamReset) -> None:
        super()._on_stream_reset(stream, event)
        if stream.task is not None and stream.task is not asyncio.current_task():
            stream.task.cancel()

    async def _serve(self, stream: _Stream, head: Headers) -> None:
        headers_sent = False
        try:
            body = await stream.inbound.read_all()
            request = _make_request(stream.id, head, body)
            response = await self._handler(request)
            has_body = bool(response.body)
            trailers = response.trailers
            status = ((":status", str(response.status)), *response.headers)
            self._send_headers(stream, status, end_stream=not has_body and not trailers)
            headers_sent = True
            if has_body:
                await self._send_data(stream, response.body, end_stream=not trailers)
            if trailers:
                self._send_headers(stream, trailers, end_stream=True)
        except H2TransportError:
            pass  # the stream or the connection is gone: nobody to answer
        except Exception:
            logger.exception("handler failed on stream %d", stream.id)
            if not headers_sent and stream.error is None and not self.is_closed:
                with contextlib.suppress(H2TransportError, UsageError):
                    self._send_headers(stream, ((":status", "500"),), end_stream=True)
            else:
                self._reset(stream, ErrorCode.INTERNAL_ERROR)
        finally:
            self._forget(stream)


def _make_request(stream_id: int, head: Headers, body: bytes) -> H2Request:
    pseudo: dict[str, str] = {}
    regular: list[tuple[str, str]] = []
    for name, value in head:
        if name.startswith(":"):
            pseudo[name] = value
        else:
            regular.append((name, value))
    return H2Request(
        method=pseudo.get(":method", ""),
        path=pseudo.get(":path", ""),
        headers=tuple(regular),
        body=body,
        authority=pseudo.get(":authority", ""),
        scheme=pseudo.get(":scheme", "http"),
        stream_id=stream_id,
    )


class H2Server:
    """A listening HTTP/2 server (cleartext, prior knowledge). Create with `serve_h2`."""

    def __init__(self, handler: Handler, config: H2Config) -> None:
        self._handler = handler
        self._config = config
        self._server: asyncio.Server | None = None
        self._connections: set[_ServerProtocol] = set()

    def _make_protocol(self) -> _ServerProtocol:
        protocol = _ServerProtocol(self._handler, self._config, self._connections.discard)
        self._connections.add(protocol)
        return protocol

    async def _start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._make_protocol, host, port)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def close(self, grace: float | None = 5.0) -> None:
        """Stop listening and shut every connection down gracefully (GOAWAY(2^31-1)+PING, then
        the final GOAWAY); in-flight streams may finish for `grace` seconds (None: no limit),
        after which remaining connections are aborted. Returns when every socket is closed."""
        if self._server is not None:
            self._server.close()
        connections = list(self._connections)
        for protocol in connections:
            protocol.shutdown()
        waiting = asyncio.gather(*(p.wait_closed() for p in connections))
        try:
            await asyncio.wait_for(waiting, grace)
        except TimeoutError:
            for protocol in connections:
                protocol.abort()
            await asyncio.gather(*(p.wait_closed() for p in connections))
        if self._server is not None:
            await self._server.wait_closed()


async def serve_h2(
    handler: Handler, host: str = "127.0.0.1", port: int = 0, config: H2Config | None = None
) -> H2Server:
    """Listen on `host:port` and answer every request with `await handler(request)`."""
    if config is None:
        config = H2Config(client_side=False)
    if config.client_side:
        raise ValueError("a server needs H2Config(client_side=False)")
    server = H2Server(handler, config)
    await server._start(host, port)
    return server


# --------------------------------------------------------------------------- client


class _ClientProtocol(_H2Protocol):
    """Client role: streams are opened by `H2ClientConnection.request`."""

    def __init__(self, config: H2Config) -> None:
        super().__init__(config)
        self._slot_freed = asyncio.Event()
        self._goaway: ConnectionTerminated | None = None

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ResponseReceived):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.head = event.headers
                stream.head_ready.set()
                if event.end_stream:
                    stream.inbound.end()

    def _on_goaway(self, event: ConnectionTerminated) -> None:
        super()._on_goaway(event)
        self._goaway = event
        self._slot_freed.set()

    def _after_batch(self) -> None:
        h2 = self._h2
        if h2.open_outbound_streams < h2.max_outbound_streams():
            self._slot_freed.set()
        if self._goaway is not None and not self._streams and h2.open_streams == 0:
            self._flush()
            if self._transport is not None and not self._transport.is_closing():
                self._transport.close()

    def _on_lost(self) -> None:
        self._slot_freed.set()

    def _check_usable(self) -> None:
        if self.is_closed or self._h2.closed:
            raise H2ConnectionLostError(self._lost_reason or "connection closed")
        if self._goaway is not None:
            raise H2StreamRefusedError(
                self._h2.get_next_available_stream_id(),
                "the server sent GOAWAY; retry on a new connection",
            )

    async def wait_ready(self) -> None:
        await self._settings_seen.wait()
        if self.is_closed:
            raise H2ConnectionLostError(self._lost_reason or "connection lost before SETTINGS")

    async def open_stream(self, headers: HeaderList, end_stream: bool) -> _Stream:
        """Send request headers on a new stream, waiting for a slot under the peer's
        MAX_CONCURRENT_STREAMS."""
        h2 = self._h2
        while True:
            self._check_usable()
            if h2.open_outbound_streams < h2.max_outbound_streams():
                break
            self._slot_freed.clear()
            await self._slot_freed.wait()
        stream = self._new_stream(h2.get_next_available_stream_id())
        try:
            self._send_headers(stream, headers, end_stream)
        except BaseException:
            self._forget(stream)
            raise
        return stream

    async def send_body(self, stream: _Stream, body: Body) -> None:
        """Send the request body and end the stream; a failure resets the stream and is
        reported to whoever waits on it."""
        try:
            if isinstance(body, bytes):
                await self._send_data(stream, body, end_stream=True)
            else:
                async for chunk in body:
                    await self._send_data(stream, chunk, end_stream=False)
                await self._send_data(stream, b"", end_stream=True)
        except H2TransportError:
            pass  # the stream already failed; the reader reports it
        except Exception as exc:
            self._reset(stream, ErrorCode.CANCEL)
            stream.fail(exc)

    def close(self) -> None:
        """Send GOAWAY and close the socket."""
        if self._transport is None:
            return
        self._lost_reason = self._lost_reason or "connection closed by the client"
        if not self._h2.closed:
            self._h2.close_connection()
        self._flush()
        self._transport.close()


class H2ClientConnection:
    """One client connection (cleartext, prior knowledge) multiplexing concurrent requests."""

    def __init__(self, protocol: _ClientProtocol, authority: str) -> None:
        self._protocol = protocol
        self._authority = authority

    @classmethod
    async def connect(
        cls, host: str, port: int, config: H2Config | None = None, timeout: float = 10.0
    ) -> H2ClientConnection:
        """Connect and wait for the server's SETTINGS."""
        if config is None:
            config = H2Config(client_side=True)
        if not config.client_side:
            raise ValueError("a client needs H2Config(client_side=True)")
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: _ClientProtocol(config), host, port), timeout
        )
        try:
            await asyncio.wait_for(protocol.wait_ready(), timeout)
        except BaseException:
            protocol.abort()
            await protocol.wait_closed()
            raise
        return cls(protocol, f"{host}:{port}")

    @property
    def closed(self) -> bool:
        return self._protocol.is_closed

    @property
    def remote_settings(self) -> dict[int, int]:
        return self._protocol._h2.remote_settings

    async def request(
        self,
        method: str,
        path: str,
        headers: HeaderList = (),
        body: Body = b"",
        authority: str | None = None,
        scheme: str = "http",
    ) -> H2Response:
        """Send a request and read its whole response.

        `body` is bytes or an async iterable of chunks (streamed while the response may
        already arrive). Raises `H2StreamResetError` (`H2StreamRefusedError` for REFUSED_STREAM or
        a GOAWAY that excluded the stream: safe to retry) or `H2ConnectionLostError`.
        Cancelling the call resets the stream.
        """
        protocol = self._protocol
        head: list[tuple[str, str]] = [
            (":method", method),
            (":scheme", scheme),
            (":path", path),
            (":authority", authority if authority is not None else self._authority),
        ]
        head.extend(headers)
        empty = isinstance(body, bytes) and not body
        stream = await protocol.open_stream(head, end_stream=empty)
        sender = None if empty else protocol._spawn(protocol.send_body(stream, body))
        finished = False
        try:
            response_head = await stream.wait_head()
            data = await stream.inbound.read_all()
            finished = True
        finally:
            if sender is not None and not sender.done():
                # We failed, or the peer answered in full before taking all of our body.
                protocol._reset(stream, ErrorCode.CANCEL)
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
            elif not finished:
                protocol._reset(stream, ErrorCode.CANCEL)
            protocol._forget(stream)
        status = 0
        regular: list[tuple[str, str]] = []
        for name, value in response_head:
            if name == ":status":
                status = int(value)
            elif not name.startswith(":"):
                regular.append((name, value))
        return H2Response(status, tuple(regular), data, stream.trailers)

    async def close(self) -> None:
        """Send GOAWAY, close the socket and wait until it and every task of the connection
        are gone; requests still in flight fail with `H2ConnectionLostError`."""
        self._protocol.close()
        await self._protocol.wait_closed()
