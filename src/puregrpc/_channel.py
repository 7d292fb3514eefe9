"""The client: `Channel` (one connection per target, made on first use, remade when broken)
and the four kinds of call."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import random
import ssl
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Sequence,
)
from typing import Any, Generic, Protocol, TypeVar, cast

from . import __version__
from ._compression import ACCEPT_ENCODING, CODECS, IDENTITY, DecompressedTooLargeError
from ._credentials import ensure_alpn_h2
from ._deadline import current_deadline, encode_timeout
from ._http2 import ConnectionTerminated, ErrorCode, H2Config, Headers, UsageError
from ._interceptors import ClientCallDetails, ClientChain, ClientInterceptor
from ._metadata import EMPTY, Metadata, MetadataLike
from ._status import RpcError, Status, StatusCode, status_code
from ._target import Target, parse_target
from ._transport._grpc_connection import (
    ConnectionLostError,
    GrpcConnection,
    GrpcStream,
    StreamResetError,
    TransportError,
)
from ._transport._keepalive import MIN_KEEPALIVE_TIME, KeepalivePolicy
from ._wire import (
    FramingError,
    MessageTooLargeError,
    decode_message,
    frame_message,
    status_for_http,
    status_for_reset,
)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
_C = TypeVar("_C", bound="_Call[Any, Any]")

USER_AGENT = f"grpc-python-puregrpc/{__version__}"
DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024
_CONNECT_TIMEOUT = 20.0  # K6 MIN_CONNECT_TIMEOUT
INITIAL_BACKOFF = 1.0  # K6
BACKOFF_MULTIPLIER = 1.6
MAX_BACKOFF = 120.0
_CACHE_LIMIT = 256  # entries per fast-path cache of a channel
_MIN_COMPACT = 256  # _Deadlines compacts beyond this many queued calls, or twice what was left

logger = logging.getLogger("puregrpc.channel")


def _timeout_text(seconds: float) -> str:
    """The `grpc-timeout` value for `seconds`: from 1 s up, rounded up to whole milliseconds
    (grpc core rounds coarser still), so the calls of one millisecond share a header block;
    below 1 s exactly as `encode_timeout`. Never shorter than `seconds`."""
    if 1.0 <= seconds < 99_999.0:
        return f"{math.ceil(seconds * 1000.0)}m"
    return encode_timeout(seconds)


class _ClientConnection(GrpcConnection):
    """A client connection: opens streams, respecting the server's concurrency limit."""

    def __init__(
        self,
        config: H2Config,
        max_receive: int,
        keepalive: KeepalivePolicy | None,
        on_too_many_pings: Callable[[], None],
    ) -> None:
        super().__init__(config, max_receive, keepalive)
        self._slot_waiters: list[asyncio.Future[None]] = []
        self._on_too_many_pings = on_too_many_pings

    def open_stream(self, headers: Sequence[tuple[str, str]], end_stream: bool) -> GrpcStream:
        h2 = self.h2
        stream_id = h2.get_next_available_stream_id()
        h2.send_headers(stream_id, headers, end_stream)
        stream = GrpcStream(self, stream_id, self.max_receive)
        self.streams[stream_id] = stream
        self.schedule_flush()
        return stream

    def open_request(self, headers: Sequence[tuple[str, str]], data: bytes) -> GrpcStream:
        """Open a stream carrying a whole request: `headers`, then `data` (framed messages)
        ending our side. Raises the engine's `UsageError` when no stream can be opened."""
        h2 = self.h2
        stream_id = h2.get_next_available_stream_id()
        h2.send_request(stream_id, headers, data)
        stream = GrpcStream(self, stream_id, self.max_receive)
        self.streams[stream_id] = stream
        self.keepalive.strikes = 0  # K2: sending resets the peer's ping strikes
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.flush)
        return stream

    def has_slot(self) -> bool:
        return self.h2.open_outbound_streams < self.h2.max_outbound_streams()

    def can_open(self) -> bool:
        """Whether a stream can be opened now: usable, and below the server's limit."""
        return not self.goaway_received and not self._closed.done() and self.h2.can_open_stream()

    async def wait_slot(self) -> None:
        while not self.has_slot() and self.is_usable:
            waiter = self.loop.create_future()
            self._slot_waiters.append(waiter)
            await waiter

    def _forget(self, stream: GrpcStream) -> None:
        self.streams.pop(stream.stream_id, None)
        if self._slot_waiters:
            self._wake_slots()
        if self.goaway_received and not self.streams:
            self.close()  # drained after the server's GOAWAY: new calls use a new connection

    def on_lost(self) -> None:
        self._wake_slots()

    def on_goaway(self, event: ConnectionTerminated) -> None:
        if event.error_code == ErrorCode.ENHANCE_YOUR_CALM and (
            event.additional_data == b"too_many_pings"
        ):
            self._on_too_many_pings()
        self._wake_slots()
        if not self.streams:
            self.close()

    def _wake_slots(self) -> None:
        if not self._slot_waiters:
            return  # (runs as every stream ends)
        waiters, self._slot_waiters = self._slot_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class Channel:
    """A virtual connection to one target. No I/O happens until the first call."""

    def __init__(
        self,
        target: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        authority: str | None = None,
        server_hostname: str | None = None,
        compression: str | None = None,
        max_receive_message_length: int = DEFAULT_MAX_RECEIVE,
        max_send_message_length: int | None = None,
        user_agent: str | None = None,
        options: Iterable[tuple[str, Any]] | None = None,
        interceptors: Iterable[ClientInterceptor] = (),
        keepalive_time: float | None = None,
        keepalive_timeout: float = 20.0,
        keepalive_without_calls: bool = False,
    ) -> None:
        self._chain = ClientChain(tuple(interceptors))
        self._keepalive: KeepalivePolicy | None = None
        if keepalive_time is not None:  # K1: infinite by default, never below 10 s
            self._keepalive = KeepalivePolicy(
                max(keepalive_time, MIN_KEEPALIVE_TIME), keepalive_timeout, keepalive_without_calls
            )
        self._backoff = INITIAL_BACKOFF
        self._retry_at = 0.0
        self._last_failure: Status | None = None
        self._target: Target = parse_target(target)
        self._ssl = ensure_alpn_h2(ssl_context) if ssl_context is not None else None
        # The name the server's certificate must match (and SNI), when not the target host.
        self._server_hostname = server_hostname or self._target.host
        self._scheme = "https" if ssl_context is not None else "http"
        self._authority = authority or self._target.authority
        if compression is not None and compression != IDENTITY and compression not in CODECS:
            raise ValueError(f"unknown compression {compression!r}")
        self._compression = compression or IDENTITY
        self._max_receive = max_receive_message_length
        self._max_send = max_send_message_length
        self._user_agent = f"{user_agent} {USER_AGENT}" if user_agent else USER_AGENT
        self._options = dict(options or ())
        self._conn: _ClientConnection | None = None
        self._draining: set[_ClientConnection] = set()
        self._connecting: asyncio.Lock | None = None
        self._closed = False
        # Caches of the unary fast path, all bounded by _CACHE_LIMIT (cleared when full):
        # request header tuples by (path, encoding, metadata, grpc-timeout text) ...
        self._header_cache: dict[tuple[str, str, Metadata | None, str | None], Headers] = {}
        # ... and, by the identity of the tuple the engine decoded (it returns the same object
        # for a repeated block), response headers found plain (200, application/grpc, identity)
        # with their metadata, and trailers with the status they carry.
        self._plain_heads: dict[int, tuple[Headers, Metadata]] = {}
        self._trailer_statuses: dict[int, tuple[Headers, Status]] = {}
        self._deadlines: _Deadlines | None = None

    # -- connections
    async def _connection(
        self, deadline: float | None, wait_for_ready: bool = False
    ) -> _ClientConnection:
        conn = self._conn
        if conn is not None and conn.is_usable:
            return conn
        if self._closed:
            raise RpcError(Status(StatusCode.UNAVAILABLE, "channel closed"))
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            conn = self._conn
            if conn is not None and conn.is_usable:
                return conn
            if conn is not None and not conn.is_closed:
                self._draining.add(conn)  # finishes its calls, then closes itself
            self._conn = None
            loop = asyncio.get_running_loop()
            while True:
                wait = self._retry_at - loop.time()
                if wait > 0:
                    # Within the reconnect backoff (K6): fail fast unless waiting for ready (WF1).
                    if not wait_for_ready and self._last_failure is not None:
                        raise RpcError(self._last_failure)
                    if deadline is not None and loop.time() + wait >= deadline:
                        raise RpcError(Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
                    await asyncio.sleep(wait)
                try:
                    conn = await self._connect(deadline)
                except RpcError as exc:
                    if exc.code() != StatusCode.UNAVAILABLE:
                        raise
                    self._last_failure = exc.status
                    self._retry_at = loop.time() + self._backoff * random.uniform(0.8, 1.2)
                    self._backoff = min(self._backoff * BACKOFF_MULTIPLIER, MAX_BACKOFF)
                    if not wait_for_ready:
                        raise
                    continue
                self._backoff = INITIAL_BACKOFF  # reset once the server's SETTINGS arrived
                self._retry_at = 0.0
                self._last_failure = None
                return conn

    def _too_many_pings(self) -> None:
        """K3: the server said we ping too often; double the interval for new connections."""
        policy = self._keepalive
        if policy is not None:
            logger.warning(
                "server sent GOAWAY too_many_pings; keepalive time now %.0f s", policy.time * 2
            )
            self._keepalive = KeepalivePolicy(
                policy.time * 2, policy.timeout, policy.permit_without_calls
            )

    async def _connect(self, deadline: float | None) -> _ClientConnection:
        loop = asyncio.get_running_loop()
        config = H2Config(client_side=True)
        target = self._target
        timeout = _CONNECT_TIMEOUT
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - loop.time()))

        def factory() -> _ClientConnection:
            return _ClientConnection(
                config, self._max_receive, self._keepalive, self._too_many_pings
            )

        conn: _ClientConnection | None = None
        try:
            async with asyncio.timeout(timeout):
                if target.unix_path is not None:
                    _, conn = await loop.create_unix_connection(
                        factory,
                        target.unix_path,
                        ssl=self._ssl,
                        server_hostname=self._server_hostname if self._ssl else None,
                    )
                else:
                    _, conn = await loop.create_connection(
                        factory,
                        target.host,
                        target.port,
                        ssl=self._ssl,
                        server_hostname=self._server_hostname if self._ssl else None,
                    )
                if self._ssl is not None and (
                    conn.ssl_object is None or conn.ssl_object.selected_alpn_protocol() != "h2"
                ):
                    conn.abort()  # W22; checked before waiting for SETTINGS it may never send
                    raise RpcError(
                        Status(StatusCode.UNAVAILABLE, "server did not negotiate ALPN h2")
                    )
                await conn.wait_ready()
        except TimeoutError:
            if conn is not None:
                conn.abort()
            if deadline is not None and loop.time() >= deadline:
                raise RpcError(Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")) from None
            raise RpcError(
                Status(StatusCode.UNAVAILABLE, f"connect to {target.display} timed out")
            ) from None
        except (OSError, ConnectionLostError, ssl.SSLError) as exc:
            hint = ""
            if conn is not None:
                conn.abort()
                if self._ssl is not None and isinstance(exc, ConnectionLostError):
                    # asyncio drops the TLS alert of a server refusing our certificate
                    hint = " (closed by the server after the TLS handshake: it may require a "
                    hint += "client certificate or have refused ours)"
            raise RpcError(
                Status(
                    StatusCode.UNAVAILABLE, f"failed to connect to {target.display}: {exc}{hint}"
                )
            ) from None
        self._conn = conn
        return conn

    def _request_headers(
        self, path: str, timeout: float | None, metadata: Metadata, encoding: str
    ) -> Sequence[tuple[str, str]]:
        """The request's header fields: one tuple, built once and then the same object, for
        each path, metadata, encoding and grpc-timeout text (the engine's HPACK encoder
        caches whole header blocks, keyed by the tuple)."""
        text = None if timeout is None else _timeout_text(timeout)
        # (Metadata hashes in Python: spared for the common call without any.)
        key = (path, encoding, None if metadata is EMPTY else metadata, text)
        headers = self._header_cache.get(key)
        if headers is None:
            fields = [
                (":method", "POST"),
                (":scheme", self._scheme),
                (":path", path),
                (":authority", self._authority),
            ]
            if text is not None:
                fields.append(("grpc-timeout", text))
            fields.append(("content-type", "application/grpc"))
            fields.append(("user-agent", self._user_agent))
            fields.append(("te", "trailers"))
            if encoding != IDENTITY:
                fields.append(("grpc-encoding", encoding))
            fields.append(("grpc-accept-encoding", ACCEPT_ENCODING))
            fields.extend(metadata.to_headers())
            if len(self._header_cache) >= _CACHE_LIMIT:
                self._header_cache.clear()
            headers = self._header_cache[key] = tuple(fields)
        return headers

    def _deadlines_of(self, loop: asyncio.AbstractEventLoop) -> _Deadlines:
        deadlines = self._deadlines
        if deadlines is None or deadlines._loop is not loop:
            deadlines = self._deadlines = _Deadlines(loop)
        return deadlines

    def _plain_metadata(self, headers: Headers) -> Metadata | None:
        """The metadata of plain response headers (:status 200, a gRPC content-type, no
        encoding but identity); None for any others. Cached by the tuple's identity."""
        cached = self._plain_heads.get(id(headers))
        if cached is not None and cached[0] is headers:
            return cached[1]
        fields = dict(headers)
        if (
            fields.get(":status") != "200"
            or not fields.get("content-type", "").startswith("application/grpc")
            or fields.get("grpc-encoding", IDENTITY) != IDENTITY
        ):
            return None
        metadata = Metadata.from_headers(headers)
        if len(self._plain_heads) >= _CACHE_LIMIT:
            self._plain_heads.clear()
        self._plain_heads[id(headers)] = (headers, metadata)  # the tuple kept alive: id unique
        return metadata

    def _trailer_status(self, trailers: Headers) -> Status:
        """The status `trailers` carry; cached by the tuple's identity (the same immutable
        Status for the same block)."""
        cached = self._trailer_statuses.get(id(trailers))
        if cached is not None and cached[0] is trailers:
            return cached[1]
        status = _status_from(trailers)
        if len(self._trailer_statuses) >= _CACHE_LIMIT:
            self._trailer_statuses.clear()
        self._trailer_statuses[id(trailers)] = (trailers, status)
        return status

    # -- multi-callables (the names grpcio-generated aio stubs call)
    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_: Any,
    ) -> UnaryUnaryMultiCallable[Any, Any]:
        return UnaryUnaryMultiCallable(self, method, request_serializer, response_deserializer)

    def unary_stream(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_: Any,
    ) -> UnaryStreamMultiCallable[Any, Any]:
        return UnaryStreamMultiCallable(self, method, request_serializer, response_deserializer)

    def stream_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_: Any,
    ) -> StreamUnaryMultiCallable[Any, Any]:
        return StreamUnaryMultiCallable(self, method, request_serializer, response_deserializer)

    def stream_stream(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_: Any,
    ) -> StreamStreamMultiCallable[Any, Any]:
        return StreamStreamMultiCallable(self, method, request_serializer, response_deserializer)

    # -- lifecycle
    async def close(self, grace: float | None = None) -> None:
        """Close the connection; calls still running fail with CANCELLED."""
        self._closed = True
        if self._deadlines is not None:
            self._deadlines.clear()  # the calls still running fail with CANCELLED below
        connections = [c for c in (self._conn, *self._draining) if c is not None]
        self._conn = None
        self._draining.clear()
        for conn in connections:
            for stream in list(conn.streams.values()):
                stream.reset(ErrorCode.CANCEL)
            conn.close()
        for conn in connections:
            try:
                await asyncio.wait_for(conn.wait_closed(), 5.0)
            except TimeoutError:
                conn.abort()
                await conn.wait_closed()

    async def __aenter__(self) -> Channel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def channel_ready(self) -> None:
        """Connect now (instead of at the first call)."""
        await self._connection(None)


class _Deadlines:
    """The deadlines of a channel's fast-path unary calls, behind one loop timer instead of a
    `TimerHandle` each.

    Calls made with the same timeout arrive in deadline order, so a deque kept sorted by
    appending holds them; a call whose deadline is earlier than the last one queued gets a loop
    timer of its own. Finished calls leave from the front as calls finish (mostly in order);
    when one long call holds the front, the deque is compacted each time it doubles (as
    asyncio compacts its cancelled timers), so it stays about as long as the calls in flight.
    """

    __slots__ = ("_compact_at", "_loop", "_queue", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: deque[tuple[float, UnaryUnaryCall[Any, Any]]] = deque()
        self._compact_at = _MIN_COMPACT
        self._timer: asyncio.TimerHandle | None = None

    def add(self, deadline: float, call: UnaryUnaryCall[Any, Any]) -> _Cancellable | None:
        """Have `call._expire()` run at `deadline` unless the call has its status by then.
        A result that is not None is a timer of the call's own: `cancel()` it when the call
        is about to get its status. (Queued calls need nothing: the calls at the front that
        have their status are dropped as calls are added.)"""
        queue = self._queue
        if queue and deadline < queue[-1][0]:
            return self._loop.call_at(deadline, call._expire)
        while queue and queue[0][1]._status is not None:
            queue.popleft()
        if len(queue) > self._compact_at:
            queue = self._queue = deque(entry for entry in queue if entry[1]._status is None)
            self._compact_at = max(_MIN_COMPACT, 2 * len(queue))
        queue.append((deadline, call))
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._fire)
        return None

    def clear(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()

    def _fire(self) -> None:
        self._timer = None
        queue = self._queue
        now = self._loop.time()
        try:
            while queue and queue[0][0] <= now:
                call = queue.popleft()[1]
                if call._status is None:
                    call._expire()  # may raise from an on_end hook: the loop logs it
        finally:
            if queue:
                self._timer = self._loop.call_at(queue[0][0], self._fire)


class _Cancellable(Protocol):
    def cancel(self) -> None: ...


class _MultiCallable(Generic[Req, Resp]):
    __slots__ = ("_channel", "_deserialize", "_method", "_serialize")

    def __init__(
        self,
        channel: Channel,
        method: str,
        request_serializer: Callable[[Req], bytes] | None,
        response_deserializer: Callable[[bytes], Resp] | None,
    ) -> None:
        self._channel = channel
        self._method = method
        self._serialize = request_serializer
        self._deserialize = response_deserializer

    def _new(
        self,
        kind: type[_C],
        requests: _One[Req] | AsyncIterable[Req] | Iterable[Req] | None,
        timeout: float | None,
        metadata: MetadataLike | None,
        compression: str | None,
        wait_for_ready: bool | None,
    ) -> _C:
        return kind(
            self._channel, self._method, self._serialize, self._deserialize,
            requests, timeout, metadata, compression, bool(wait_for_ready),
        )  # fmt: skip


class UnaryUnaryMultiCallable(_MultiCallable[Req, Resp]):
    def __call__(
        self,
        request: Req,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
        compression: str | None = None,
        wait_for_ready: bool | None = None,
        **_: Any,
    ) -> UnaryUnaryCall[Req, Resp]:
        return UnaryUnaryCall(
            self._channel, self._method, self._serialize, self._deserialize,
            _One(request), timeout, metadata, compression, bool(wait_for_ready),
        )  # fmt: skip


class UnaryStreamMultiCallable(_MultiCallable[Req, Resp]):
    def __call__(
        self,
        request: Req,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
        compression: str | None = None,
        wait_for_ready: bool | None = None,
        **_: Any,
    ) -> UnaryStreamCall[Req, Resp]:
        return self._new(
            UnaryStreamCall, _One(request), timeout, metadata, compression, wait_for_ready
        )


class StreamUnaryMultiCallable(_MultiCallable[Req, Resp]):
    def __call__(
        self,
        request_iterator: AsyncIterable[Req] | Iterable[Req] | None = None,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
        compression: str | None = None,
        wait_for_ready: bool | None = None,
        **_: Any,
    ) -> StreamUnaryCall[Req, Resp]:
        return self._new(
            StreamUnaryCall, request_iterator, timeout, metadata, compression, wait_for_ready
        )


class StreamStreamMultiCallable(_MultiCallable[Req, Resp]):
    def __call__(
        self,
        request_iterator: AsyncIterable[Req] | Iterable[Req] | None = None,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
        compression: str | None = None,
        wait_for_ready: bool | None = None,
        **_: Any,
    ) -> StreamStreamCall[Req, Resp]:
        return self._new(
            StreamStreamCall, request_iterator, timeout, metadata, compression, wait_for_ready
        )


class _One(Generic[Req]):
    """Marks a single request message (unary request calls)."""

    __slots__ = ("message",)

    def __init__(self, message: Req) -> None:
        self.message = message


class _Call(Generic[Req, Resp]):
    """Shared lifecycle of every client call: start, send, receive, status."""

    __slots__ = (
        "_callbacks",
        "_cancelled",
        "_chain",
        "_channel",
        "_compress_next",
        "_deadline",
        "_deserialize",
        "_details",
        "_encoding",
        "_initial_metadata",
        "_last_compressed",
        "_loop",
        "_metadata",
        "_method",
        "_requests",
        "_response_encoding",
        "_serialize",
        "_started",
        "_status",
        "_stream",
        "_wait_for_ready",
        "_writer",
        "_writes_done",
    )

    def __init__(
        self,
        channel: Channel,
        method: str,
        serialize: Callable[[Req], bytes] | None,
        deserialize: Callable[[bytes], Resp] | None,
        requests: _One[Req] | AsyncIterable[Req] | Iterable[Req] | None,
        timeout: float | None,
        metadata: MetadataLike | None,
        compression: str | None,
        wait_for_ready: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._channel = channel
        self._method = method
        self._serialize = serialize
        self._deserialize = deserialize
        self._requests = requests
        self._metadata = EMPTY if metadata is None else Metadata.of(metadata)
        if compression is None:
            self._encoding = channel._compression  # checked by the channel
        elif compression == IDENTITY or compression in CODECS:
            self._encoding = compression
        else:
            raise ValueError(f"unknown compression {compression!r}")
        deadline = None if timeout is None else loop.time() + timeout
        inherited = current_deadline.get()
        if inherited is not None and (deadline is None or inherited < deadline):
            deadline = inherited  # deadline propagation from the server call we run in
        self._deadline = deadline
        self._loop = loop
        self._wait_for_ready = wait_for_ready
        self._stream: GrpcStream | None = None
        self._started: asyncio.Future[GrpcStream] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._initial_metadata: Metadata | None = None
        self._response_encoding = IDENTITY
        self._status: Status | None = None
        self._callbacks: list[tuple[Callable[[Any], None], contextvars.Context]] | None = None
        self._cancelled = False
        self._writes_done = False
        self._chain = channel._chain
        self._details: ClientCallDetails | None = None
        self._compress_next = True
        self._last_compressed: bool | None = None

    # -- public surface shared by every call
    def cancel(self) -> bool:
        """Cancel the call: RST_STREAM(CANCEL) and status CANCELLED. False if already done."""
        if self._status is not None:
            return False
        self._cancelled = True
        self._finish(Status(StatusCode.CANCELLED, "Cancelled by the client"), ErrorCode.CANCEL)
        return True

    def cancelled(self) -> bool:
        return self._cancelled

    def last_message_compressed(self) -> bool | None:
        """Whether the last response message read had its compressed flag set (None before the
        first message); what the interop tests' `server_compressed_*` cases check."""
        return self._last_compressed

    def disable_next_message_compression(self) -> None:
        """Send the next request message uncompressed even if the call compresses."""
        self._compress_next = False

    def done(self) -> bool:
        return self._status is not None

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self._loop.time())

    async def initial_metadata(self) -> Metadata:
        if self._initial_metadata is None:
            with contextlib.suppress(RpcError):
                await self._read_headers()
        return self._initial_metadata if self._initial_metadata is not None else Metadata()

    async def trailing_metadata(self) -> Metadata:
        return (await self._wait_status()).trailing_metadata

    async def code(self) -> StatusCode:
        return (await self._wait_status()).code

    async def details(self) -> str:
        return (await self._wait_status()).details

    async def status(self) -> Status:
        return await self._wait_status()

    def add_done_callback(self, callback: Callable[[_Call[Req, Resp]], None]) -> None:
        """Schedule `callback(call)` (in the current context) once the call has its status."""
        context = contextvars.copy_context()
        if self._status is not None:
            self._loop.call_soon(callback, self, context=context)
        elif self._callbacks is None:
            self._callbacks = [(callback, context)]
        else:
            self._callbacks.append((callback, context))

    # -- machinery
    def _error(self) -> RpcError:
        assert self._status is not None
        return RpcError(self._status, self._initial_metadata)

    def _finish(self, status: Status, reset: ErrorCode | None = None) -> None:
        if self._status is not None:
            return
        self._status = status
        if self._chain.on_end:
            details = self._details or ClientCallDetails(self._method, list(self._metadata), None)
            for interceptor in self._chain.on_end:
                interceptor.on_end(status, details)
        if self._stream is not None and reset is not None:
            self._stream.reset(reset)
        writer = self._writer
        if writer is not None and not writer.done() and writer is not asyncio.current_task():
            writer.cancel()
        callbacks = self._callbacks
        if callbacks is not None:
            self._callbacks = None
            for callback, context in callbacks:
                self._loop.call_soon(callback, self, context=context)

    def _expire(self) -> None:
        """The deadline timer of the unary fast path."""
        self._finish(Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), ErrorCode.CANCEL)

    async def _guard(self, awaitable: Any) -> Any:
        """Await `awaitable` under the call's deadline, mapping failures to a status."""
        if self._status is not None and not self._status.ok:
            raise self._error()
        try:
            async with asyncio.timeout_at(self._deadline):
                return await awaitable
        except TimeoutError:
            self._finish(
                Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), ErrorCode.CANCEL
            )
        except StreamResetError as exc:
            if self._status is None:
                self._finish(self._status_for_reset(exc))
        except ConnectionLostError as exc:
            self._finish(Status(StatusCode.UNAVAILABLE, str(exc)))
        except MessageTooLargeError as exc:
            self._finish(Status(StatusCode.RESOURCE_EXHAUSTED, str(exc)), ErrorCode.CANCEL)
        except FramingError as exc:
            self._finish(Status(StatusCode.INTERNAL, str(exc)), ErrorCode.CANCEL)
        except asyncio.CancelledError:
            if self._status is None:
                self._cancelled = True
                self._finish(Status(StatusCode.CANCELLED, "Cancelled"), ErrorCode.CANCEL)
            raise
        raise self._error()

    def _status_for_reset(self, exc: StreamResetError) -> Status:
        if self._cancelled:
            return Status(StatusCode.CANCELLED, "Cancelled by the client")
        if self._deadline is not None and self._loop.time() >= self._deadline:
            return Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")  # W21
        code = status_for_reset(exc.code)
        return Status(code, f"Stream reset by the server: {exc}")

    async def _start(self) -> GrpcStream:
        if self._started is None:
            if self._stream is not None:  # opened by the unary fast path
                return self._stream
            self._started = self._loop.create_future()
            try:
                stream: GrpcStream = await self._guard(self._open())
            except BaseException as exc:
                if isinstance(exc, RpcError):
                    self._finish(exc.status)  # e.g. refused by an interceptor's on_call
                elif isinstance(exc, Exception):
                    self._finish(Status(StatusCode.UNKNOWN, f"call failed to start: {exc}"))
                self._started.set_exception(exc)
                self._started.exception()
                raise
            self._started.set_result(stream)
            return stream
        return await asyncio.shield(self._started)

    async def _intercept_call(self) -> None:
        """Run the interceptors' `on_call`; they may change metadata and timeout."""
        timeout = None if self._deadline is None else self._deadline - self._loop.time()
        details = self._details = ClientCallDetails(self._method, list(self._metadata), timeout)
        for interceptor in self._chain.on_call:
            await interceptor.on_call(details)
        self._metadata = Metadata(details.metadata)
        if details.timeout != timeout:
            self._deadline = (
                None if details.timeout is None else self._loop.time() + details.timeout
            )

    async def _open(self) -> GrpcStream:
        channel = self._channel
        if self._chain.on_call or self._chain.on_request or self._chain.on_response:
            await self._intercept_call()
        for _attempt in range(2):  # one transparent retry of a stream the server refused (RT7)
            conn = await channel._connection(self._deadline, self._wait_for_ready)
            await conn.wait_slot()
            if not conn.is_usable:
                continue
            timeout = None if self._deadline is None else self._deadline - self._loop.time()
            if timeout is not None and timeout <= 0:
                raise TimeoutError
            headers = channel._request_headers(
                self._method, timeout, self._metadata, self._encoding
            )
            try:
                stream = conn.open_stream(headers, end_stream=False)
            except UsageError:
                continue  # the connection went away or ran out of ids: try a fresh one
            self._stream = stream
            if isinstance(self._requests, _One):
                await self._send(stream, self._requests.message, end=True)
                self._writes_done = True
            elif self._requests is not None:
                self._writer = self._loop.create_task(self._write_all(self._requests))
            return stream
        raise ConnectionLostError(f"no usable connection to {channel._target.display}")

    async def _send(self, stream: GrpcStream, message: Req, end: bool = False) -> None:
        if self._chain.on_request:
            assert self._details is not None
            for interceptor in self._chain.on_request:
                message = await interceptor.on_request(message, self._details)
        await stream.send_data(self._frame(message), end_stream=end)

    def _frame(self, message: Req) -> bytes:
        """`message` serialized, checked against the send limit, compressed if the call
        compresses it, and framed (W12)."""
        payload = self._serialize(message) if self._serialize is not None else bytes(message)  # type: ignore[call-overload]
        limit = self._channel._max_send
        if limit is not None and len(payload) > limit:
            self._finish(
                Status(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"sent message larger than max ({len(payload)} vs. {limit})",
                ),
                ErrorCode.CANCEL,
            )
            raise self._error()
        compressed = self._encoding != IDENTITY and self._compress_next
        self._compress_next = True
        if compressed:
            payload = CODECS[self._encoding].compress(payload)
        return frame_message(payload, compressed)

    async def _write_all(self, requests: AsyncIterable[Req] | Iterable[Req]) -> None:
        stream = self._stream
        assert stream is not None
        try:
            if isinstance(requests, AsyncIterable):
                async for message in requests:
                    await self._send(stream, message)
            else:
                for message in requests:
                    await self._send(stream, message)
            self._writes_done = True
            await stream.send_data(b"", end_stream=True)
        except (TransportError, RpcError):
            pass  # the reading side reports the status

    async def _read_headers(self) -> Metadata:
        stream = await self._start()
        if self._initial_metadata is not None:
            return self._initial_metadata
        headers = await self._guard(stream.read_headers())
        if headers is None:
            self._initial_metadata = Metadata()
            return self._initial_metadata
        self._initial_metadata = Metadata.from_headers(headers)
        fields = dict(headers)
        status = fields.get(":status", "")
        if "grpc-status" in fields and stream.peer_ended and stream.trailers is None:
            # Trailers-Only (W17): the status is in the only header block.
            self._initial_metadata = Metadata()
            self._finish(_status_from(headers))
            return self._initial_metadata
        if status != "200":
            code = status_for_http(int(status)) if status.isdigit() else StatusCode.UNKNOWN
            self._finish(Status(code, f"HTTP status {status}"), ErrorCode.CANCEL)  # W18
            raise self._error()
        content_type = fields.get("content-type", "")
        if not content_type.startswith("application/grpc"):
            self._finish(
                Status(StatusCode.UNKNOWN, f"invalid content-type {content_type!r}"),
                ErrorCode.CANCEL,
            )
            raise self._error()
        encoding = fields.get("grpc-encoding", IDENTITY)
        if encoding != IDENTITY and encoding not in CODECS:
            self._finish(
                Status(StatusCode.INTERNAL, f"unsupported grpc-encoding {encoding!r}"),  # C5
                ErrorCode.CANCEL,
            )
            raise self._error()
        self._response_encoding = encoding
        return self._initial_metadata

    async def _read(self) -> Resp | None:
        """The next response message; None at the end with an OK status; raises RpcError."""
        if self._status is not None and not self._status.ok:
            raise self._error()
        await self._read_headers()
        if self._status is not None:
            if self._status.ok:
                return None
            raise self._error()
        stream = self._stream
        assert stream is not None
        message = await self._guard(stream.read_message())
        if message is None:
            final = _status_from(stream.trailers or ())
            self._finish(final)
            if not final.ok:
                raise self._error()
            return None
        compressed, payload = message
        self._last_compressed = compressed
        if compressed:
            if self._response_encoding == IDENTITY:
                self._finish(
                    Status(StatusCode.INTERNAL, "compressed message without grpc-encoding"),
                    ErrorCode.CANCEL,
                )
                raise self._error()
            try:
                payload = CODECS[self._response_encoding].decompress(
                    payload, self._channel._max_receive
                )
            except DecompressedTooLargeError as exc:
                self._finish(Status(StatusCode.RESOURCE_EXHAUSTED, str(exc)), ErrorCode.CANCEL)
                raise self._error() from None
            except Exception as exc:
                self._finish(
                    Status(StatusCode.INTERNAL, f"decompression failed: {exc}"), ErrorCode.CANCEL
                )
                raise self._error() from None
        response = cast(Resp, payload)
        if self._deserialize is not None:
            try:
                response = self._deserialize(payload)
            except Exception as exc:
                self._finish(
                    Status(StatusCode.INTERNAL, f"could not parse response: {exc}"),
                    ErrorCode.CANCEL,
                )
                raise self._error() from None
        if self._chain.on_response:
            assert self._details is not None
            for interceptor in self._chain.on_response:
                response = await interceptor.on_response(response, self._details)
        return response

    async def _wait_status(self) -> Status:
        if self._status is None:
            with contextlib.suppress(RpcError):
                while await self._read() is not None:
                    pass  # drain: the caller asked for the status only
        assert self._status is not None
        await self._reap_writer()
        return self._status

    async def _reap_writer(self) -> None:
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            if not writer.done():
                writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _unary_response(self) -> Resp:
        try:
            response = await self._read()
            if response is None:  # S2: cardinality violation; the call reports it too
                self._status = Status(StatusCode.UNIMPLEMENTED, "server sent no response message")
                raise self._error()
            if await self._read() is not None:
                self._finish(
                    Status(StatusCode.UNIMPLEMENTED, "server sent more than one response"),
                    ErrorCode.CANCEL,
                )
                raise self._error()
            return response
        finally:
            await self._reap_writer()

    # -- explicit writes (stream_unary, stream_stream)
    async def write(self, message: Req) -> None:
        if self._requests is not None:
            raise RuntimeError("write() cannot be mixed with a request iterator")
        if self._writes_done:
            raise RuntimeError("done_writing() was already called")
        stream = await self._start()
        await self._guard(self._send(stream, message))

    async def done_writing(self) -> None:
        if self._writes_done or self._requests is not None:
            return
        self._writes_done = True
        stream = await self._start()
        with contextlib.suppress(RpcError):
            await self._guard(stream.send_data(b"", end_stream=True))


def _status_from(headers: Iterable[tuple[str, str]]) -> Status:
    """The status a response's trailers (or Trailers-Only headers) carry."""
    fields: dict[str, str] = {}
    for name, value in headers:
        fields.setdefault(name, value)
    raw = fields.get("grpc-status")
    if raw is None:
        http = fields.get(":status", "200")
        if http != "200" and http.isdigit():
            return Status(status_for_http(int(http)), f"HTTP status {http}")
        return Status(StatusCode.UNKNOWN, "server sent no grpc-status")
    code = status_code(int(raw)) if raw.isascii() and raw.isdigit() else StatusCode.UNKNOWN
    details = decode_message(fields.get("grpc-message", ""))
    rich = None
    if "grpc-status-details-bin" in fields:
        from ._metadata import decode_binary

        rich = decode_binary(fields["grpc-status-details-bin"])
    trailing = Metadata.from_headers(headers)
    return Status(code, details, trailing, rich)


class UnaryUnaryCall(_Call[Req, Resp]):
    """`await call` gives the response (or raises RpcError)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, Resp]:
        if self._stream is None and self._started is None and not self._chain.during_call:
            return self._fast_response().__await__()
        return self._unary_response().__await__()

    async def _fast_response(self) -> Resp:
        """The unary fast path, taken when no interceptor hooks into the call before its end
        (`on_end` hooks still run): on a connection that is up and has room for a stream, open
        the stream and send the request at once, then wait in one place until the stream
        settles, with the deadline in the channel's `_Deadlines`. A whole ordinary response
        in by then (plain headers, one uncompressed message, trailers, parsed through the
        channel's caches) is handled here; anything else, every failure included, goes
        through the general path, which reports it exactly as without the fast path."""
        channel = self._channel
        conn = channel._conn
        loop = self._loop
        deadline = self._deadline
        timeout = None if deadline is None else deadline - loop.time()
        if (
            conn is None
            or not conn.can_open()
            or (timeout is not None and timeout <= 0)
            or self._status is not None
        ):
            return await self._unary_response()  # connects, waits, or reports
        compress_next = self._compress_next
        try:
            data = self._frame(cast("_One[Req]", self._requests).message)
        except RpcError:
            raise
        except Exception as exc:
            self._finish(Status(StatusCode.UNKNOWN, f"call failed to start: {exc}"))
            raise
        headers = channel._request_headers(self._method, timeout, self._metadata, self._encoding)
        try:
            # No wait for the socket to drain: the one request message is already in memory.
            stream = conn.open_request(headers, data)
        except UsageError:  # e.g. out of stream ids: the general path takes a new connection
            self._compress_next = compress_next  # and frames the message again
            return await self._unary_response()
        self._stream = stream
        self._writes_done = True
        timer = None if deadline is None else channel._deadlines_of(loop).add(deadline, self)
        try:
            # Settled by a message before the end, the general path reads on: a message holds
            # flow control credit until read, and a server sending more than one could block.
            while not stream.settled:
                await stream.next_event()
        except asyncio.CancelledError:
            if self._status is None:
                self._cancelled = True
                self._finish(Status(StatusCode.CANCELLED, "Cancelled"), ErrorCode.CANCEL)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if self._status is not None:  # cancel() or the deadline
            raise self._error()
        trailers = stream.trailers
        metadata = None if stream.headers is None else channel._plain_metadata(stream.headers)
        if trailers is None or metadata is None:
            return await self._unary_response()
        payload = stream.take_only_message()
        if payload is None:
            return await self._unary_response()
        self._initial_metadata = metadata
        self._last_compressed = False
        response = cast(Resp, payload)
        if self._deserialize is not None:
            try:
                response = self._deserialize(payload)
            except Exception as exc:
                self._finish(
                    Status(StatusCode.INTERNAL, f"could not parse response: {exc}"),
                    ErrorCode.CANCEL,
                )
                raise self._error() from None
        status = channel._trailer_status(trailers)
        self._finish(status)
        if not status.ok:
            raise self._error()
        return response


class StreamUnaryCall(_Call[Req, Resp]):
    """`await call` gives the response; without a request iterator, `write` then
    `done_writing` first."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, Resp]:
        return self._stream_unary_response().__await__()

    async def _stream_unary_response(self) -> Resp:
        await self._start()
        return await self._unary_response()


class UnaryStreamCall(_Call[Req, Resp]):
    """`async for response in call`, or `await call.read()` (None at the end)."""

    __slots__ = ()

    async def read(self) -> Resp | None:
        return await self._read()

    def __aiter__(self) -> AsyncIterator[Resp]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Resp]:
        try:
            while True:
                message = await self._read()
                if message is None:
                    return
                yield message
        finally:
            if self._status is None:
                self.cancel()
            await self._reap_writer()


class StreamStreamCall(UnaryStreamCall[Req, Resp]):
    """Bidirectional: iterate or `read()`; `write()` and `done_writing()` without a request
    iterator."""

    __slots__ = ()

    async def read(self) -> Resp | None:
        await self._start()
        return await self._read()
