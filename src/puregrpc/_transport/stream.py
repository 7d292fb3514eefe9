"""One HTTP/2 stream of a gRPC connection, as the call layers see it: it implements both
`ServerStream` and `ClientStream` (`puregrpc._transport.streams`), so nothing above the transport
sees a frame, a header list or an HTTP/2 error code.

Inbound: the peer's header blocks and whole gRPC messages (the 5-byte framing undone here, the
receive limit checked on the prefix before buffering); received DATA is handed back to flow
control as the call reads messages, so a reader that stops reading stops its peer after one
window. Failures reach the reader as `TransportError`s (`StreamResetError`, `ConnectionLostError`)
and `WireError`s (`MessageTooLargeError`, `FramingError`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .._http2 import ErrorCode, Headers, SendBufferFullError, UsageError
from .._vocab.errors import (
    ConnectionLostError,
    FramingError,
    MessageTooLargeError,
    StreamResetError,
)
from .._vocab.metadata import Metadata
from .._vocab.status import Status
from .._wire.framing import PREFIX_SIZE, MessageDecoder, unpack_prefix
from .._wire.request_head import RequestHead
from .._wire.response_head import PLAIN_RESPONSE_HEADERS, http_error_headers, response_headers
from .._wire.trailers import OK_TRAILERS, trailers_for

if TYPE_CHECKING:
    import ssl

    from .connection import GrpcConnection

Fields = Sequence[tuple[str, str]]


def reset_error(stream_id: int, code: int, remote: bool) -> StreamResetError:
    """The error a stream reports once reset with `code` (by the peer when `remote`)."""
    try:
        name = ErrorCode(code).name
    except ValueError:
        name = hex(code)
    return StreamResetError(stream_id, code, name, remote)


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
                flag, length = unpack_prefix(data)
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

    # ------------------------------------------------------------ ServerStream

    @property
    def head(self) -> RequestHead:
        """The request's parsed fields (cached by the connection for repeated header blocks)."""
        headers = self.stable_headers
        hit = self.conn.heads.get(id(headers)) if headers is not None else None
        return hit[1] if hit is not None and hit[0] is headers else self.conn.request_head(self)

    def peer(self) -> str:
        """The client's address in gRPC's notation (`ipv4:h:p`, `ipv6:[h]:p`, `unix:path`)."""
        return self.conn.peer()

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        return self.conn.ssl_object

    def send_initial_metadata(self, encoding: str, metadata: Metadata) -> None:
        """The response head: status 200, gRPC content-type, `encoding`, `metadata`."""
        self.conn.send_headers(self, response_headers(encoding, metadata.to_headers()), False)

    def write_status(
        self, status: Status, encoding: str, headers_sent: bool, response: bytes | None = None
    ) -> None:
        """End the response with `status`: after the head and messages sent, the trailers;
        with `response` (one framed message, head not sent), head, message and trailers at once;
        with neither, a Trailers-Only response (W17). Then, if the client has not finished
        sending, RST_STREAM(NO_ERROR) (W19). A stream already gone is not an error here; trailers
        beyond the client's header list limit reset the stream (W11, as grpc-go)."""
        trailers = trailers_for(status)
        conn = self.conn
        try:
            if response is not None:
                conn.send_response(self, response_headers(encoding), response, trailers)
            elif headers_sent:
                conn.send_headers(self, trailers, True)
            else:
                conn.send_headers(self, response_headers(encoding, trailers), True)
            if not self.peer_ended:
                conn.reset(self, ErrorCode.NO_ERROR)
        except (StreamResetError, ConnectionLostError):
            pass
        except UsageError:
            conn.reset(self, ErrorCode.INTERNAL_ERROR)

    def write_ok(self, response: bytes) -> None:
        """`write_status(OK, identity, False, response)`: the plain unary response."""
        conn = self.conn
        try:
            conn.send_response(self, PLAIN_RESPONSE_HEADERS, response, OK_TRAILERS)
            if not self.peer_ended:
                conn.reset(self, ErrorCode.NO_ERROR)  # W19
        except (StreamResetError, ConnectionLostError):
            pass
        except UsageError:  # W11
            conn.reset(self, ErrorCode.INTERNAL_ERROR)

    def write_http_error(self, http_status: int, message: str) -> None:
        """Answer a request that is not gRPC with `http_status` (W6) and end the stream."""
        conn = self.conn
        with contextlib.suppress(StreamResetError, ConnectionLostError):
            try:
                conn.send_headers(self, http_error_headers(http_status, message), True)
            except UsageError:  # W11
                conn.reset(self, ErrorCode.INTERNAL_ERROR)
            if not self.peer_ended:
                conn.reset(self, ErrorCode.NO_ERROR)

    # ------------------------------------------------------------ both roles

    async def send_message(self, data: bytes, end: bool = False) -> None:
        """Queue framed message(s) `data` (ending our side when `end`); waits while the engine's
        buffer for this stream or the socket is full."""
        conn = self.conn
        while True:
            if self._error is not None:
                raise self._error
            try:
                conn.send_data(self, data, end)
                break
            except SendBufferFullError:
                await self._wait_writable()
        if conn.write_paused or conn.h2.outbound_buffered(self.stream_id):
            await conn.wait_writable(self)

    def cancel(self) -> None:
        """Abort the stream (RST_STREAM CANCEL; idempotent); a reader sees StreamResetError."""
        self.conn.reset(self, ErrorCode.CANCEL)

    def refuse(self) -> None:
        """Refuse a request without processing it (RST_STREAM REFUSED_STREAM): the client may
        send it again, on another connection."""
        self.conn.reset(self, ErrorCode.REFUSED_STREAM)

    async def _wait_writable(self) -> None:
        waiter = self._writable = self.conn.loop.create_future()
        await waiter

    def _on_drained(self) -> None:
        writable = self._writable
        if writable is not None:
            self._writable = None
            if not writable.done():
                writable.set_result(None)
