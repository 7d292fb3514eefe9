"""Client calls: what a multi-callable returns. A call is the user's handle on one RPC: deadline,
cancellation, interceptors, status, callbacks; it runs over attempts (`puregrpc._client.attempt`),
each one stream on one subchannel. Every gRPC rule it applies is in `puregrpc._wire`.

* `UnaryUnaryCall`: `await call`; taken by the unary fast path (`_unary`) when no interceptor
  hooks into the call before its end and a connection can take a stream now.
* `StreamUnaryCall`, `UnaryStreamCall`, `StreamStreamCall`: the general path.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterable, AsyncIterator, Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from .._transport.streams import ClientStream
from .._vocab.codes import StatusCode
from .._vocab.deadline import current_deadline
from .._vocab.errors import (
    ConnectionLostError,
    NoStreamError,
    RpcError,
    StreamResetError,
    TransportError,
    WireError,
)
from .._vocab.metadata import EMPTY, Metadata, MetadataLike
from .._vocab.status import Status
from .._wire.cardinality import extra_message, no_message
from .._wire.codec import decode_message, encode_message
from .._wire.compression import IDENTITY, check_compression
from .._wire.response_head import check_response_head, is_trailers_only
from .._wire.status_mapping import never_processed, status_for_error
from .._wire.trailers import status_from
from .attempt import Attempt
from .interceptors import ClientCallDetails
from .subchannel import Subchannel

if TYPE_CHECKING:
    from .channel import Channel

Req = TypeVar("Req")
Resp = TypeVar("Resp")

_CANCELLED = Status(StatusCode.CANCELLED, "Cancelled")
_DEADLINE_EXCEEDED = Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


class One(Generic[Req]):
    """Marks a single request message (unary request calls)."""

    __slots__ = ("message",)

    def __init__(self, message: Req) -> None:
        self.message = message


class _Call(Generic[Req, Resp]):
    """Shared lifecycle of every client call: start, send, receive, status."""

    __slots__ = (
        "_attempt",
        "_callbacks",
        "_cancelled",
        "_chain",
        "_channel",
        "_compress_next",
        "_deadline",
        "_deserialize",
        "_details",
        "_encoding",
        "_last_compressed",
        "_loop",
        "_metadata",
        "_method",
        "_requests",
        "_serialize",
        "_started",
        "_status",
        "_wait_for_ready",
    )

    def __init__(
        self,
        channel: Channel,
        method: str,
        serialize: Callable[[Req], bytes] | None,
        deserialize: Callable[[bytes], Resp] | None,
        requests: One[Req] | AsyncIterable[Req] | Iterable[Req] | None,
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
        self._encoding = (
            channel._compression if compression is None else check_compression(compression)
        )
        deadline = None if timeout is None else loop.time() + timeout
        inherited = current_deadline.get()
        if inherited is not None and (deadline is None or inherited < deadline):
            deadline = inherited  # deadline propagation from the server call we run in
        self._deadline = deadline
        self._loop = loop
        self._wait_for_ready = wait_for_ready
        self._attempt: Attempt | None = None
        self._started: asyncio.Future[None] | None = None
        self._status: Status | None = None
        self._callbacks: list[tuple[Callable[[Any], None], contextvars.Context]] | None = None
        self._cancelled = False
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
        self._finish(Status(StatusCode.CANCELLED, "Cancelled by the client"), cancel_stream=True)
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
    @property
    def _initial_metadata(self) -> Metadata | None:
        attempt = self._attempt
        return None if attempt is None else attempt.initial_metadata

    def _error(self) -> RpcError:
        assert self._status is not None
        return RpcError(self._status, self._initial_metadata)

    def _finish(self, status: Status, cancel_stream: bool = False) -> None:
        """End the call with `status` (once); with `cancel_stream`, reset its stream too."""
        if self._status is not None:
            return
        self._status = status
        if self._chain.on_end:
            details = self._details or ClientCallDetails(self._method, list(self._metadata), None)
            for interceptor in self._chain.on_end:
                interceptor.on_end(status, details)
        attempt = self._attempt
        if attempt is not None:
            if cancel_stream:
                attempt.stream.cancel()
            writer = attempt.writer
            if writer is not None and not writer.done() and writer is not asyncio.current_task():
                writer.cancel()
        callbacks = self._callbacks
        if callbacks is not None:
            self._callbacks = None
            for callback, context in callbacks:
                self._loop.call_soon(callback, self, context=context)

    def _fail(self, exc: WireError) -> RpcError:
        """End the call for a broken wire rule (the stream is reset) and the error to raise."""
        self._finish(status_for_error(exc), cancel_stream=True)
        return self._error()

    def _expire(self) -> None:
        """The deadline timer of the unary fast path."""
        self._finish(_DEADLINE_EXCEEDED, cancel_stream=True)

    async def _guard(self, awaitable: Any) -> Any:
        """Await `awaitable` under the call's deadline, mapping failures to a status."""
        if self._status is not None and not self._status.ok:
            raise self._error()
        try:
            async with asyncio.timeout_at(self._deadline):
                return await awaitable
        except TimeoutError:
            self._finish(_DEADLINE_EXCEEDED, cancel_stream=True)
        except StreamResetError as exc:
            if self._status is None:
                self._finish(self._status_for_reset(exc))
        except ConnectionLostError as exc:
            self._finish(status_for_error(exc))
        except WireError as exc:
            raise self._fail(exc) from None
        except asyncio.CancelledError:
            if self._status is None:
                self._cancelled = True
                self._finish(_CANCELLED, cancel_stream=True)
            raise
        raise self._error()

    def _status_for_reset(self, exc: StreamResetError) -> Status:
        if self._cancelled:
            return Status(StatusCode.CANCELLED, "Cancelled by the client")
        if self._deadline is not None and self._loop.time() >= self._deadline:
            return _DEADLINE_EXCEEDED  # W21
        return status_for_error(exc)

    async def _start(self) -> ClientStream:
        """The stream of the call's current attempt, opening the first one if need be."""
        if self._started is None:
            if self._attempt is not None:  # opened by the unary fast path
                return self._attempt.stream
            self._started = self._loop.create_future()
            try:
                await self._guard(self._open())
            except BaseException as exc:
                if isinstance(exc, RpcError):
                    self._finish(exc.status)  # e.g. refused by an interceptor's on_call
                elif isinstance(exc, Exception):
                    self._finish(Status(StatusCode.UNKNOWN, f"call failed to start: {exc}"))
                self._started.set_exception(exc)
                self._started.exception()
                raise
            self._started.set_result(None)
        else:
            await asyncio.shield(self._started)
        assert self._attempt is not None
        return self._attempt.stream

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

    async def _open_stream(self) -> tuple[Subchannel, ClientStream]:
        """A new stream for an attempt, on the subchannel the picker gives; one
        transparent retry when the connection went away before the stream could open (RT7)."""
        channel = self._channel
        for _ in range(2):
            subchannel = await channel._wait_pick(
                self._method, self._deadline, self._wait_for_ready
            )
            conn = await subchannel.connection(self._deadline, self._wait_for_ready)
            await conn.wait_slot()
            if not conn.is_usable:
                continue
            timeout = None if self._deadline is None else self._deadline - self._loop.time()
            if timeout is not None and timeout <= 0:
                raise TimeoutError
            headers = channel._request_headers.build(
                self._method, timeout, self._metadata, self._encoding
            )
            try:
                return subchannel, conn.open_stream(headers, end_stream=False)
            except NoStreamError:
                continue  # the connection went away or ran out of ids: try a fresh one
        raise ConnectionLostError(f"no usable connection to {channel._target.display}")

    async def _open(self) -> None:
        chain = self._chain
        if chain.on_call or chain.on_request or chain.on_response:
            await self._intercept_call()
        subchannel, stream = await self._open_stream()
        attempt = self._attempt = Attempt(0, subchannel, stream)
        if isinstance(self._requests, One):
            await self._send(attempt, self._requests.message, end=True)
            attempt.writes_done = True
        elif self._requests is not None:
            attempt.writer = self._loop.create_task(self._write_all(attempt, self._requests))

    async def _retry_refused(self, exc: StreamResetError) -> bool:
        """RT7: the server refused the stream before processing it (REFUSED_STREAM): if the
        whole request is still in the attempt's buffer, send it again on a new attempt."""
        attempt = self._attempt
        if (
            attempt is None
            or not never_processed(exc)
            or not attempt.replayable
            or attempt.number > 0
            or self._status is not None
        ):
            return False
        subchannel, stream = await self._open_stream()
        self._attempt = await attempt.replay_on(attempt.number + 1, subchannel, stream)
        return True

    async def _send(self, attempt: Attempt, message: Req, end: bool = False) -> None:
        if self._chain.on_request:
            assert self._details is not None
            for interceptor in self._chain.on_request:
                message = await interceptor.on_request(message, self._details)
        data = self._frame(message)
        attempt.record(data)
        await attempt.stream.send_message(data, end)

    def _frame(self, message: Req) -> bytes:
        """`message` serialized, checked against the send limit, compressed if the call
        compresses it, and framed (W12)."""
        compress = self._compress_next
        self._compress_next = True
        try:
            return encode_message(
                message, self._serialize, self._encoding, compress, self._channel._max_send
            )
        except WireError as exc:
            raise self._fail(exc) from None

    async def _write_all(
        self, attempt: Attempt, requests: AsyncIterable[Req] | Iterable[Req]
    ) -> None:
        stream = attempt.stream
        try:
            if isinstance(requests, AsyncIterable):
                async for message in requests:
                    await self._send(attempt, message)
            else:
                for message in requests:
                    await self._send(attempt, message)
            attempt.writes_done = True
            await stream.send_message(b"", end=True)
        except (TransportError, RpcError):
            pass  # the reading side reports the status

    async def _read_headers(self) -> Metadata:
        await self._start()
        attempt = self._attempt
        assert attempt is not None
        if attempt.initial_metadata is not None:
            return attempt.initial_metadata
        headers = await self._guard(self._response_headers())
        attempt = self._attempt  # (a new one if the first was refused)
        assert attempt is not None
        return self._take_headers(attempt, attempt.stream, headers)

    async def _response_headers(self) -> Any:
        """The response's first header block (None if the stream ended without one), read on
        a new attempt if the server refused the stream before processing it."""
        while True:
            attempt = self._attempt
            assert attempt is not None
            try:
                return await attempt.stream.read_headers()
            except StreamResetError as exc:
                if not await self._retry_refused(exc):
                    raise

    def _take_headers(self, attempt: Attempt, stream: ClientStream, headers: Any) -> Metadata:
        """Check the response's first header block and commit the attempt to it."""
        attempt.commit()
        if headers is None:
            attempt.initial_metadata = Metadata()
            return attempt.initial_metadata
        if is_trailers_only(headers, stream.peer_ended, stream.trailers):  # W17
            attempt.initial_metadata = Metadata()
            self._finish(status_from(headers))
            return attempt.initial_metadata
        checked = check_response_head(headers)
        if isinstance(checked, Status):  # W18, C5
            attempt.initial_metadata = Metadata.from_headers(headers)
            self._finish(checked, cancel_stream=True)
            raise self._error()
        attempt.initial_metadata, attempt.response_encoding = checked
        return attempt.initial_metadata

    async def _read(self) -> Resp | None:
        """The next response message; None at the end with an OK status; raises RpcError."""
        if self._status is not None and not self._status.ok:
            raise self._error()
        await self._read_headers()
        if self._status is not None:
            if self._status.ok:
                return None
            raise self._error()
        attempt = self._attempt
        assert attempt is not None
        stream = attempt.stream
        message = await self._guard(stream.read_message())
        if message is None:
            final = status_from(stream.trailers or ())
            self._finish(final)
            if not final.ok:
                raise self._error()
            return None
        compressed, payload = message
        self._last_compressed = compressed
        try:
            response = decode_message(
                compressed,
                payload,
                attempt.response_encoding,
                self._channel._max_receive,
                self._deserialize,
                "response",
            )
        except WireError as exc:
            raise self._fail(exc) from None
        if self._chain.on_response:
            assert self._details is not None
            for interceptor in self._chain.on_response:
                response = await interceptor.on_response(response, self._details)
        return cast(Resp, response)

    async def _wait_status(self) -> Status:
        if self._status is None:
            with contextlib.suppress(RpcError):
                while await self._read() is not None:
                    pass  # drain: the caller asked for the status only
        assert self._status is not None
        await self._reap_writer()
        return self._status

    async def _reap_writer(self) -> None:
        attempt = self._attempt
        writer = None if attempt is None else attempt.writer
        if writer is not None and writer is not asyncio.current_task():
            if not writer.done():
                writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _unary_response(self) -> Resp:
        try:
            response = await self._read()
            if response is None:  # S2: cardinality violation; the call reports it too
                self._status = no_message("response")
                raise self._error()
            if await self._read() is not None:
                self._finish(extra_message("response"), cancel_stream=True)
                raise self._error()
            return response
        finally:
            await self._reap_writer()

    # -- explicit writes (stream_unary, stream_stream)
    async def write(self, message: Req) -> None:
        if self._requests is not None:
            raise RuntimeError("write() cannot be mixed with a request iterator")
        attempt = self._attempt
        if attempt is not None and attempt.writes_done:
            raise RuntimeError("done_writing() was already called")
        await self._start()
        attempt = self._attempt
        assert attempt is not None
        await self._guard(self._send(attempt, message))

    async def done_writing(self) -> None:
        attempt = self._attempt
        if self._requests is not None or (attempt is not None and attempt.writes_done):
            return
        stream = await self._start()
        attempt = self._attempt
        assert attempt is not None
        if attempt.writes_done:
            return
        attempt.writes_done = True
        with contextlib.suppress(RpcError):
            await self._guard(stream.send_message(b"", end=True))


class UnaryUnaryCall(_Call[Req, Resp]):
    """`await call` gives the response (or raises RpcError)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, Resp]:
        if self._attempt is None and self._started is None and not self._chain.during_call:
            return self._unary().__await__()
        return self._unary_response().__await__()

    async def _unary(self) -> Resp:
        """The unary fast path, taken when no interceptor hooks into the call before its end
        (`on_end` hooks still run): on a connection that is up and has room for a stream, the
        request goes out with its headers in one engine operation, on the call's first attempt
        (its whole request buffered); the call then waits in one place
        until the stream settles, with the deadline in the channel's `Deadlines`. A whole
        ordinary response in by then (plain headers, one uncompressed message, trailers, read
        through the channel's caches of `_wire`'s parsers) is handled here; anything else,
        every failure included, goes through the general path, which reports it exactly as
        without the fast path."""
        channel = self._channel
        picker = channel._picker  # (`channel._pick`, inline)
        subchannel = None if picker is None else picker.pick(self._method)
        conn = None if subchannel is None else subchannel.ready_connection
        loop = self._loop
        deadline = self._deadline
        timeout = None if deadline is None else deadline - loop.time()
        if conn is None or (timeout is not None and timeout <= 0) or self._status is not None:
            return await self._unary_response()  # connects, waits, or reports
        assert subchannel is not None
        compress_next = self._compress_next
        try:
            data = self._frame(cast("One[Req]", self._requests).message)
        except RpcError:
            raise
        except Exception as exc:
            self._finish(Status(StatusCode.UNKNOWN, f"call failed to start: {exc}"))
            raise
        headers = channel._request_headers.build(
            self._method, timeout, self._metadata, self._encoding
        )
        try:
            # No wait for the socket to drain: the one request message is already in memory.
            stream = conn.open_request(headers, data)
        except NoStreamError:  # e.g. out of stream ids: the general path takes a new connection
            self._compress_next = compress_next  # and frames the message again
            return await self._unary_response()
        attempt = self._attempt = Attempt(0, subchannel, stream, data)
        timer = None if deadline is None else channel._deadlines_of(loop).add(deadline, self)
        try:
            # Settled by a message before the end, the general path reads on: a message holds
            # flow control credit until read, and a server sending more than one could block.
            while not stream.settled:
                await stream.next_event()
        except asyncio.CancelledError:
            if self._status is None:
                self._cancelled = True
                self._finish(_CANCELLED, cancel_stream=True)
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
        attempt.initial_metadata = metadata  # (the call ends here: no commit needed)
        self._last_compressed = False
        try:
            response = decode_message(
                False, payload, IDENTITY, channel._max_receive, self._deserialize, "response"
            )
        except WireError as exc:
            raise self._fail(exc) from None
        status = channel._trailer_status(trailers)
        self._finish(status)
        if not status.ok:
            raise self._error()
        return cast(Resp, response)


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
