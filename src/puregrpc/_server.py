"""The gRPC server: connections, calls, the servicer context, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import random
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Generic, NoReturn, TypeVar, cast

from ._compression import ACCEPT_ENCODING, CODECS, IDENTITY, DecompressedTooLargeError
from ._credentials import ensure_alpn_h2, negotiated_h2
from ._deadline import TimeoutFormatError, current_deadline, decode_timeout
from ._eager import start_eagerly
from ._handlers import MethodHandler, ServiceDefinition
from ._http2 import ErrorCode, H2Config, UsageError
from ._interceptors import ServerChain, ServerInterceptor
from ._metadata import EMPTY, Metadata, MetadataLike, encode_binary
from ._status import AbortError, RpcError, Status, StatusCode
from ._transport._grpc_connection import (
    ConnectionLostError,
    GrpcConnection,
    GrpcStream,
    StreamResetError,
)
from ._transport._keepalive import KeepalivePolicy, PingPolicy
from ._wire import FramingError, MessageTooLargeError, encode_message, frame_message

logger = logging.getLogger("puregrpc.server")

Req = TypeVar("Req")
Resp = TypeVar("Resp")

DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024


class _CallEnded(Exception):
    """Internal: the call already ended (reset, deadline, lost); stop quietly."""


class ServicerContext(Generic[Req, Resp]):
    """What a handler knows of its call and how it shapes the response."""

    # The state lives in the call, which is its own context (`_ServerCall`); the slots here
    # are those the context's methods assign.
    __slots__ = ("_code", "_details", "compress_next", "response_encoding", "trailing_metadata")

    metadata: Metadata
    conn: _ServerConnection
    _deadline: float | None
    _cancelled: bool
    ended: bool
    trailing_metadata: Metadata
    _code: StatusCode
    _details: str
    response_encoding: str
    compress_next: bool
    last_request_compressed: bool

    def _send_initial_metadata(self, metadata: Metadata) -> None:
        raise NotImplementedError

    async def read_request(self) -> Any:
        raise NotImplementedError

    async def write_response(self, message: Any) -> None:
        raise NotImplementedError

    # -- the request side
    def invocation_metadata(self) -> Metadata:
        return self.metadata

    def peer(self) -> str:
        address = self.conn.peer_address
        if isinstance(address, tuple) and len(address) >= 2:
            host = address[0]
            return f"ipv6:[{host}]:{address[1]}" if ":" in host else f"ipv4:{host}:{address[1]}"
        return f"unix:{address}" if address else "unknown"

    def peer_certificate(self) -> dict[str, Any] | None:
        ssl_object = self.conn.ssl_object
        return ssl_object.getpeercert() if ssl_object is not None else None

    def auth_context(self) -> dict[str, list[bytes]]:
        """grpcio-style auth context: transport security type and peer identities."""
        ssl_object = self.conn.ssl_object
        if ssl_object is None:
            return {}
        context: dict[str, list[bytes]] = {"transport_security_type": [b"ssl"]}
        cert: Any = ssl_object.getpeercert()
        if cert:
            for kind, value in cert.get("subjectAltName", ()):
                context.setdefault(f"x509_subject_alternative_name_{kind}", []).append(
                    str(value).encode()
                )
            for rdn in cert.get("subject", ()):
                for key, value in rdn:
                    if key == "commonName":
                        context["x509_common_name"] = [str(value).encode()]
        return context

    def time_remaining(self) -> float | None:
        deadline = self._deadline
        if deadline is None:
            return None
        return max(0.0, deadline - asyncio.get_running_loop().time())

    @property
    def deadline(self) -> float | None:
        """Event-loop time at which the call expires, or None."""
        return self._deadline

    def cancelled(self) -> bool:
        return self._cancelled

    def done(self) -> bool:
        return self.ended

    # -- the response side
    async def send_initial_metadata(self, metadata: MetadataLike) -> None:
        self._send_initial_metadata(Metadata.of(metadata))

    def set_trailing_metadata(self, metadata: MetadataLike) -> None:
        self.trailing_metadata = Metadata.of(metadata)

    def set_code(self, code: StatusCode) -> None:
        self._code = StatusCode(code)

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    async def abort(
        self,
        code: StatusCode,
        details: str = "",
        trailing_metadata: MetadataLike = (),
    ) -> NoReturn:
        """End the call with `code` (not OK) by raising `AbortError`."""
        if code == StatusCode.OK:
            raise ValueError("abort() needs a status other than OK")
        metadata = Metadata.of(trailing_metadata) if trailing_metadata else None
        raise AbortError(Status(StatusCode(code), details, metadata or self.trailing_metadata))

    async def abort_with_status(self, status: Status) -> NoReturn:
        """End the call with `status`, e.g. one from `rich_status(...)` (S4)."""
        if status.code == StatusCode.OK:
            raise ValueError("abort_with_status() needs a status other than OK")
        raise AbortError(status)

    def set_compression(self, name: str) -> None:
        """Compress responses with `name` (when the client accepts it, C7)."""
        if name != IDENTITY and name not in CODECS:
            raise ValueError(f"unknown compression {name!r}")
        self.response_encoding = name

    def disable_next_message_compression(self) -> None:
        self.compress_next = False

    def last_message_compressed(self) -> bool:
        """Whether the last request message read had its compressed flag set (the interop
        tests' `expect_compressed`)."""
        return self.last_request_compressed

    # -- explicit streaming
    async def read(self) -> Req | None:
        """The next request message, or None when the client is done sending."""
        message: Req | None = await self.read_request()
        return message

    async def write(self, message: Resp) -> None:
        await self.write_response(message)


class _RequestHead:
    """What a server needs from a request's header block but its `grpc-timeout` (which varies
    from call to call), parsed once per distinct rest of the block."""

    __slots__ = ("accept", "encoding", "metadata", "path", "problem")

    def __init__(self, headers: Sequence[tuple[str, str]]) -> None:
        fields: dict[str, str] = {}
        for name, value in headers:
            fields.setdefault(name, value)
        self.problem: Status | None = None
        self.path = fields.get(":path", "")
        self.encoding = fields.get("grpc-encoding", IDENTITY)
        accept = fields.get("grpc-accept-encoding")
        self.accept = frozenset(a.strip() for a in accept.split(",")) if accept else _IDENTITY_ONLY
        self.metadata = Metadata.from_headers(headers)
        content_type = fields.get("content-type", "")
        if not content_type.startswith("application/grpc"):
            self.problem = Status(StatusCode.UNKNOWN, f"invalid content-type {content_type!r}")
        elif fields.get(":method") != "POST":
            self.problem = Status(
                StatusCode.UNIMPLEMENTED, f"method {fields.get(':method')} not allowed"
            )
        elif self.encoding != IDENTITY and self.encoding not in CODECS:
            self.problem = Status(
                StatusCode.UNIMPLEMENTED, f"grpc-encoding {self.encoding!r} is not supported"
            )


_IDENTITY_ONLY = frozenset({IDENTITY})
_PLAIN_RESPONSE_HEADERS = (
    (":status", "200"),
    ("content-type", "application/grpc"),
    ("grpc-accept-encoding", ACCEPT_ENCODING),
)
_OK_TRAILERS = (("grpc-status", "0"),)
_OK = Status(StatusCode.OK)
_CODE_OK = StatusCode.OK
_new_call: Any = object.__new__
_copy_context = contextvars.copy_context


class _ServerCall(ServicerContext[Any, Any]):
    """One RPC on the server: parses the request, runs the handler, sends the response."""

    __slots__ = (
        "_cancelled",
        "_deadline",
        "accept_encodings",
        "chain",
        "conn",
        "deadline_timer",
        "ended",
        "expired",
        "handler",
        "headers_sent",
        "held_response",
        "last_request_compressed",
        "metadata",
        "path",
        "request_encoding",
        "server",
        "stream",
        "task",
    )

    # Made by `_ServerConnection.on_request`, which sets every field in place (no __init__: a
    # call of the class from C would run it in a frame of its own, once per RPC).
    server: Server
    conn: _ServerConnection
    stream: GrpcStream
    _deadline: float | None
    deadline_timer: asyncio.TimerHandle | None
    expired: bool  # the deadline cancelled the handler
    handler: MethodHandler[Any, Any] | None
    last_request_compressed: bool
    headers_sent: bool
    held_response: bytes | None
    ended: bool
    _cancelled: bool
    task: asyncio.Task[None] | None
    chain: ServerChain
    # set by `parse`, first thing `start` does (nothing reads them before)
    path: str
    request_encoding: str
    accept_encodings: frozenset[str]
    metadata: Metadata

    # -- request
    def parse(self) -> Status | None:
        """Read the request headers; a Status to answer with at once when they are unusable."""
        conn = self.conn
        stream = self.stream
        headers = stream.stable_headers
        hit = conn._heads.get(id(headers)) if headers is not None else None
        # The identity hit inline (every call of a repeated header list); request_head otherwise.
        head = hit[1] if hit is not None and hit[0] is headers else conn.request_head(stream)
        timeout = stream.grpc_timeout
        self.path = head.path
        self.request_encoding = head.encoding
        self.accept_encodings = head.accept
        self.metadata = head.metadata
        if head.problem is not None:
            return head.problem
        self.handler = self.server._methods.get(head.path)
        if self.handler is None:
            return Status(StatusCode.UNIMPLEMENTED, f"Method not found: {head.path}")
        if timeout is not None:
            try:
                self._deadline = conn.loop.time() + decode_timeout(timeout)
            except TimeoutFormatError as exc:
                return Status(StatusCode.INTERNAL, str(exc))
        return None

    async def read_request(self) -> Any:
        try:
            message = await self.stream.read_message()
        except (StreamResetError, ConnectionLostError):
            raise _CallEnded() from None
        except MessageTooLargeError as exc:
            raise AbortError(Status(StatusCode.RESOURCE_EXHAUSTED, str(exc))) from None
        except FramingError as exc:
            raise AbortError(Status(StatusCode.INTERNAL, str(exc))) from None
        if message is None:
            return None
        request = self._decode_request(message)
        for interceptor in self.chain.on_request:
            request = await interceptor.on_request(request, self._context())
        return request

    def _decode_request(self, message: tuple[bool, bytes]) -> Any:
        compressed, payload = message
        self.last_request_compressed = compressed
        if compressed:
            if self.request_encoding == IDENTITY:
                raise AbortError(
                    Status(StatusCode.INTERNAL, "compressed message without grpc-encoding")
                )
            try:
                payload = CODECS[self.request_encoding].decompress(
                    payload, self.server._max_receive
                )
            except DecompressedTooLargeError as exc:
                raise AbortError(Status(StatusCode.RESOURCE_EXHAUSTED, str(exc))) from None
            except Exception as exc:
                raise AbortError(
                    Status(StatusCode.INTERNAL, f"decompression failed: {exc}")
                ) from None
        assert self.handler is not None
        deserialize = self.handler.request_deserializer
        if deserialize is None:
            return payload
        try:
            return deserialize(payload)
        except Exception as exc:
            raise AbortError(
                Status(StatusCode.INTERNAL, f"could not parse request: {exc}")
            ) from None

    async def _unary_request(self, message: tuple[bool, bytes] | None) -> Any:
        """The one request message of a unary-request call (UNIMPLEMENTED unless exactly one);
        `message` is the stream's sole message if it was taken already."""
        if message is not None:
            request = self._decode_request(message)
            for interceptor in self.chain.on_request:
                request = await interceptor.on_request(request, self._context())
            return request
        request = await self.read_request()
        if request is None:
            raise AbortError(Status(StatusCode.UNIMPLEMENTED, "no request message"))
        extra = await self.read_request()
        if extra is not None:
            raise AbortError(Status(StatusCode.UNIMPLEMENTED, "too many request messages"))
        return request

    async def requests(self) -> AsyncIterator[Any]:
        while True:
            message = await self.read_request()
            if message is None:
                return
            yield message

    # -- response
    def _response_headers(self, extra: Sequence[tuple[str, str]] = ()) -> Sequence[tuple[str, str]]:
        if not extra and self.response_encoding == IDENTITY:
            return _PLAIN_RESPONSE_HEADERS  # one tuple: the engine's caches know it
        headers = [(":status", "200"), ("content-type", "application/grpc")]
        if self.response_encoding != IDENTITY:
            headers.append(("grpc-encoding", self.response_encoding))
        headers.append(("grpc-accept-encoding", ACCEPT_ENCODING))
        headers.extend(extra)
        return headers

    def _send_initial_metadata(self, metadata: Metadata) -> None:
        if self.headers_sent:
            raise RuntimeError("initial metadata was already sent")
        if self.ended:
            raise _CallEnded()
        if self.response_encoding not in self.accept_encodings:
            self.response_encoding = IDENTITY  # C7: never what the client cannot read
        self.headers_sent = True
        try:
            self.stream.send_headers(self._response_headers(metadata.to_headers()))
        except (StreamResetError, ConnectionLostError):
            raise _CallEnded() from None

    async def write_response(self, message: Any) -> None:
        if self.ended:
            raise _CallEnded()
        if not self.headers_sent:
            self._send_initial_metadata(EMPTY)
        assert self.handler is not None
        for interceptor in self.chain.on_response:
            message = await interceptor.on_response(message, self._context())
        serialize = self.handler.response_serializer
        payload = serialize(message) if serialize is not None else bytes(message)
        compress = self.response_encoding != IDENTITY and self.compress_next
        self.compress_next = True
        if compress:
            payload = CODECS[self.response_encoding].compress(payload)
        try:
            await self.stream.send_data(frame_message(payload, compress))
        except (StreamResetError, ConnectionLostError):
            raise _CallEnded() from None

    def finish(self, status: Status) -> None:
        """Send the trailers (or a Trailers-Only response) and close our side."""
        if self.ended:
            return
        self.ended = True
        for interceptor in self.chain.on_end:
            try:
                interceptor.on_end(status, self)
            except Exception:
                logger.exception("server interceptor on_end raised")
        trailers: Sequence[tuple[str, str]]
        if status is _OK or (
            status.code == StatusCode.OK and not status.details and not status.trailing_metadata
        ):
            trailers = _OK_TRAILERS
        else:
            trailers = [("grpc-status", str(int(status.code)))]
            if status.details:
                trailers.append(("grpc-message", encode_message(status.details)))
            trailers.extend(status.trailing_metadata.to_headers())
            if status.rich is not None:  # S4
                trailers.append(("grpc-status-details-bin", encode_binary(status.rich)))
        held, self.held_response = self.held_response, None
        try:
            if held is not None:
                self.headers_sent = True
                self.stream.send_response(_PLAIN_RESPONSE_HEADERS, held, trailers)
            elif self.headers_sent:
                self.stream.send_headers(trailers, end_stream=True)
            else:
                self.headers_sent = True
                self.stream.send_headers(self._response_headers(trailers), end_stream=True)
            if not self.stream.peer_ended:
                self.stream.reset(ErrorCode.NO_ERROR)  # W19
        except (StreamResetError, ConnectionLostError):
            pass
        except UsageError:  # W11: beyond the client's header list limit; reset, as grpc-go
            self.stream.reset(ErrorCode.INTERNAL_ERROR)
        finally:
            self._release()

    def _context(self) -> ServicerContext[Any, Any]:
        """The call as its handler's context, for hooks that run while it is not over."""
        if self.ended:
            raise _CallEnded()
        return self

    def _release(self) -> None:
        """The call is over: stop its timer, drop the links that would make a cycle."""
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
            self.deadline_timer = None
        self.stream.on_fail = None
        self.conn.call_finished(self)

    def send_http_error(self, status: int, message: str) -> None:
        self.ended = True
        headers = [
            (":status", str(status)),
            ("content-type", "application/grpc"),
            ("grpc-status", str(int(StatusCode.UNKNOWN))),
            ("grpc-message", encode_message(message)),
        ]
        with contextlib.suppress(StreamResetError, ConnectionLostError):
            try:
                self.stream.send_headers(headers, end_stream=True)
            except UsageError:  # W11: beyond the client's header list limit
                self.stream.reset(ErrorCode.INTERNAL_ERROR)
            if not self.stream.peer_ended:
                self.stream.reset(ErrorCode.NO_ERROR)
        self._release()

    # -- running
    def start(self) -> None:
        """Begin the call once the batch that opened it has been dispatched.

        A unary-request call whose request is all here runs in place until its handler first
        waits (most finish without waiting: no Task, no extra loop turn); other calls get a Task.
        """
        if self._cancelled:  # reset in the very batch that opened it
            self.ended = True
            self._release()
            return
        problem = self.parse()
        if problem is not None:
            self.reject(problem)
            return
        handler = self.handler
        assert handler is not None
        loop = self.conn.loop
        deadline = self._deadline
        if deadline is not None and deadline <= loop.time():
            self.finish(Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
            return
        context = _copy_context()
        if deadline is not None:
            context.run(current_deadline.set, deadline)
        stream = self.stream
        if handler.request_streaming or not stream.peer_ended:
            self.task = loop.create_task(self.run(), context=context)
        else:
            message = None
            if not handler.response_streaming and self.chain.plain:
                message = stream.take_sole_message()
            if message is None:
                coro = self.run()
            else:
                deserialize = handler.request_deserializer
                try:
                    if message[0] or deserialize is None:
                        request = self._decode_request(message)
                    else:
                        try:
                            request = deserialize(message[1])
                        except Exception:
                            request = self._decode_request(message)  # raises the right status
                except AbortError as exc:
                    self.finish(exc.status)
                    return
                coro = self._run_unary(handler, request)
            self.task = start_eagerly(loop, coro, context)
            if self.task is None:
                return
        if deadline is not None and not self.ended:
            self.deadline_timer = loop.call_at(deadline, self.on_deadline)

    def reject(self, problem: Status) -> None:
        """Answer a request whose headers are unusable, without running anything."""
        headers = dict(self.stream.headers or ())
        if not headers.get("content-type", "").startswith("application/grpc"):
            self.send_http_error(415, problem.details)
            return
        if problem.code == StatusCode.UNIMPLEMENTED and "grpc-encoding" in problem.details:
            self.response_encoding = IDENTITY
        self.finish(problem)

    async def run(self) -> None:
        """Run the interceptors and the handler, then finish with the status they lead to."""
        handler = self.handler
        context = self
        assert handler is not None
        try:
            for interceptor in self.chain.on_call:
                await interceptor.on_call(self.path, context)
            await self._dispatch(handler, context)
        except BaseException as exc:
            status = self._status_after(exc)
        else:
            status = self._status_now()
        if status is not None:
            self.finish(status)
        elif not self.ended:
            self.ended = True
            self._release()

    async def _run_unary(self, handler: MethodHandler[Any, Any], request: Any) -> None:
        """`run` for a unary call without interceptor hooks whose request is decoded."""
        try:
            response = await handler.behaviour(request, self)
            if not self._hold_response(handler, response):
                await self.write_response(response)
        except BaseException as exc:
            status = self._status_after(exc)
        else:
            held = self.held_response
            if held is not None and self._ok_as_is() and not self.chain.on_end:
                self._finish_ok(held)
                return
            status = self._status_now()
        if status is not None:
            self.finish(status)
        elif not self.ended:
            self.ended = True
            self._release()

    def _finish_ok(self, held: bytes) -> None:
        """`finish(OK)` of a unary call whose response is held and has no on_end hooks."""
        self.ended = True
        self.headers_sent = True
        self.held_response = None
        stream = self.stream
        conn = self.conn
        try:
            conn.send_response(stream, _PLAIN_RESPONSE_HEADERS, held, _OK_TRAILERS)
            if not stream.peer_ended:
                stream.reset(ErrorCode.NO_ERROR)  # W19
        except (StreamResetError, ConnectionLostError):
            pass
        except UsageError:  # W11
            stream.reset(ErrorCode.INTERNAL_ERROR)
        finally:
            # `_release`, without the call when other calls are still running (the common case).
            if self.deadline_timer is not None:
                self.deadline_timer.cancel()
                self.deadline_timer = None
            stream.on_fail = None
            calls = conn.calls
            calls.discard(self)
            if not calls:
                conn.call_finished(self)

    def _ok_as_is(self) -> bool:
        """Whether the handler left its status alone: OK, no details, no trailing metadata."""
        return self._code is _CODE_OK and not self._details and self.trailing_metadata is EMPTY

    def _status_now(self) -> Status:
        """The status of a handler that returned: what it set on its context."""
        if self._ok_as_is():
            return _OK
        return Status(self._code, self._details, self.trailing_metadata)

    def _status_after(self, exc: BaseException) -> Status | None:
        """The status of a handler that raised `exc`; None when the call ends without one (or
        was finished here). Re-raises what must go on: a cancellation of the handler's own
        making (after telling the client), and exceptions that are not errors."""
        if isinstance(exc, asyncio.CancelledError):
            if self.expired:
                self.finish(Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
                if not self.stream.error:
                    self.stream.reset(ErrorCode.CANCEL)  # W21
                return None
            if not self._cancelled:  # the handler cancelled itself: the client still hears
                self.finish(Status(StatusCode.CANCELLED, "handler was cancelled"))
                raise exc
            return None
        if isinstance(exc, AbortError):
            return exc.status
        if isinstance(exc, _CallEnded):
            return None
        if isinstance(exc, RpcError):
            return Status(StatusCode.UNKNOWN, f"Unexpected error in handler: {exc}")
        if isinstance(exc, Exception):
            logger.error("handler for %s raised", self.path, exc_info=exc)
            return Status(StatusCode.UNKNOWN, f"Exception calling application: {exc}")
        raise exc

    def on_deadline(self) -> None:
        """W21: the deadline passed with the handler still running: cancel it."""
        self.deadline_timer = None
        if not self.ended and self.task is not None and not self.task.done():
            self.expired = True
            self.task.cancel()

    async def _dispatch(
        self, handler: MethodHandler[Any, Any], context: ServicerContext[Any, Any]
    ) -> None:
        behaviour = handler.behaviour
        request: Any
        if handler.request_streaming:
            request = self.requests()
        else:
            message = self.stream.take_sole_message()
            if message is not None and not self.chain.on_request:
                request = self._decode_request(message)
            else:
                request = await self._unary_request(message)
        if handler.response_streaming:
            async for response in behaviour(request, context):
                await self.write_response(response)
            return
        response = await behaviour(request, context)
        if not self._hold_response(handler, response):
            await self.write_response(response)

    def _hold_response(self, handler: MethodHandler[Any, Any], response: Any) -> bool:
        """Keep a unary handler's response to go out with the trailers, as one engine operation
        (`finish`); False when it must be written now (`write_response`): headers already sent,
        compression or response interceptors apply, or the call ended. No response is an error
        unless the handler set a status."""
        if response is None:
            if self._code == StatusCode.OK:
                raise AbortError(Status(StatusCode.INTERNAL, "handler returned no response"))
            return True
        if (
            self.headers_sent
            or self.response_encoding != IDENTITY
            or self.chain.on_response
            or self.ended
        ):
            return False
        serialize = handler.response_serializer
        self.held_response = frame_message(
            serialize(response) if serialize is not None else bytes(response)
        )
        return True

    def on_stream_failed(self, error: BaseException) -> None:
        """The client reset the stream or the connection died: cancel the handler (W25)."""
        if self.ended:
            return
        self._cancelled = True
        if self.task is not None and not self.task.done():
            self.task.cancel()


class _ServerConnection(GrpcConnection):
    def __init__(self, server: Server, config: H2Config) -> None:
        super().__init__(config, server._max_receive, server._keepalive, server._ping_policy)
        self.server = server
        self.calls: set[_ServerCall] = set()
        self._shutdown_phase = 0
        self._shutdown_started = 0.0
        now = self.loop.time()
        self._idle_since: float | None = now
        self._expires: float | None = None
        if server._max_age is not None:
            self._expires = now + server._max_age * random.uniform(0.9, 1.1)  # K5 jitter
        self._hard_deadline: float | None = None
        # Parsed request heads, by the headers other than grpc-timeout (clients such as grpc-go
        # send a different remaining time on every call): by identity first (the engine hands
        # out the same tuple for equal lists), then by equality.
        self._heads: dict[int, tuple[Sequence[tuple[str, str]], _RequestHead]] = {}
        self._heads_by_fields: dict[Sequence[tuple[str, str]], _RequestHead] = {}
        self._starting: list[_ServerCall] = []

    def request_head(self, stream: GrpcStream) -> _RequestHead:
        """The parsed head of a request, cached by its headers without grpc-timeout."""
        headers = stream.stable_headers
        if headers is None:
            headers = stream.headers or ()
        hit = self._heads.get(id(headers))
        if hit is not None and hit[0] is headers:
            return hit[1]
        head = self._heads_by_fields.get(headers)
        if head is None:
            head = _RequestHead(headers)
            if len(self._heads_by_fields) >= 64:
                self._heads_by_fields.clear()
            self._heads_by_fields[headers] = head
        if len(self._heads) >= 64:
            self._heads.clear()
        self._heads[id(headers)] = (headers, head)
        return head

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not negotiated_h2(transport.get_extra_info("ssl_object")):
            logger.info("closing a TLS connection that did not negotiate ALPN h2")
            cast(asyncio.Transport, transport).abort()  # W22: gRPC over TLS is h2 only
            return
        super().connection_made(transport)
        self.server._connections.add(self)

    def on_request(self, stream: GrpcStream, end_stream: bool) -> None:
        if self.server._stopping:
            stream.reset(ErrorCode.REFUSED_STREAM)
            return
        server = self.server
        call = _new_call(_ServerCall)
        call.server = server
        call.conn = self
        call.stream = stream
        call._deadline = None
        call.deadline_timer = None
        call.expired = False
        call.handler = None
        call.response_encoding = IDENTITY
        call.compress_next = True
        call.last_request_compressed = False
        call.headers_sent = False
        call.held_response = None
        call.ended = False
        call._cancelled = False
        call._code = _CODE_OK
        call._details = ""
        call.trailing_metadata = EMPTY
        call.task = None
        call.chain = server._chain
        stream.on_fail = call.on_stream_failed
        self.calls.add(call)
        self._idle_since = None
        self._starting.append(call)

    def after_events(self) -> None:
        """Start the calls the batch opened, now that their request messages are here too."""
        starting = self._starting
        if starting:
            try:
                for call in starting:
                    if not call.ended:
                        call.start()
            finally:
                starting.clear()  # (one list for the connection's life)

    def call_finished(self, call: _ServerCall) -> None:
        self.calls.discard(call)
        if not self.calls:
            self._idle_since = self.loop.time()
            if self._shutdown_phase == 2:
                self.close()

    def on_timer(self) -> None:
        """K5: max connection idle and age, and the end of a drain that takes too long."""
        now = self.loop.time()
        server = self.server
        if self._shutdown_phase == 1 and now - self._shutdown_started > 5.0:
            self.on_ping_ack(b"shutdown")  # the client never answered our PING: go on
        idle_for = None if self._idle_since is None else now - self._idle_since
        if server._max_idle is not None and idle_for is not None and idle_for >= server._max_idle:
            self.start_shutdown(b"max_idle")
        if self._expires is not None and now >= self._expires:
            self._expires = None
            self.start_shutdown(b"max_age")
            if server._max_age_grace is not None:
                self._hard_deadline = now + server._max_age_grace
        if self._hard_deadline is not None and now >= self._hard_deadline:
            for call in list(self.calls):
                call.on_stream_failed(ConnectionLostError("max connection age reached"))
            self.close()

    def on_lost(self) -> None:
        self.server._connections.discard(self)
        for call in list(self.calls):
            call.on_stream_failed(ConnectionLostError("connection lost"))

    def start_shutdown(self, reason: bytes = b"") -> None:
        """Two-phase GOAWAY (K5, W23): calls already started may finish."""
        if self._shutdown_phase or self.is_closed:
            return
        self._shutdown_phase = 1
        self._shutdown_started = self.loop.time()
        self.h2.start_graceful_shutdown(b"shutdown", reason)
        self.flush()

    def on_ping_ack(self, data: bytes) -> None:
        if data == b"shutdown" and self._shutdown_phase == 1:
            self._shutdown_phase = 2
            self.h2.close_connection()
            self.flush()
            if not self.calls:
                self.close()


class Server:
    """A gRPC server. Add services, `await start(address)`, later `await stop(grace)`."""

    def __init__(
        self,
        *,
        max_receive_message_length: int = DEFAULT_MAX_RECEIVE,
        max_concurrent_streams: int = 1000,
        ssl_context: ssl.SSLContext | None = None,
        interceptors: Sequence[ServerInterceptor] = (),
        keepalive_time: float | None = 7200.0,
        keepalive_timeout: float = 20.0,
        permit_keepalive_time: float = 300.0,
        permit_keepalive_without_calls: bool = False,
        max_connection_idle: float | None = None,
        max_connection_age: float | None = None,
        max_connection_age_grace: float | None = None,
    ) -> None:
        """Keepalive and connection limits follow gRFC A8/A9 (K2, K5); times in seconds,
        None for never."""
        self._chain = ServerChain(tuple(interceptors))
        self._keepalive = (
            KeepalivePolicy(keepalive_time, keepalive_timeout, permit_without_calls=True)
            if keepalive_time is not None
            else None
        )
        self._ping_policy = PingPolicy(permit_keepalive_time, permit_keepalive_without_calls)
        self._max_idle = max_connection_idle
        self._max_age = max_connection_age
        self._max_age_grace = max_connection_age_grace
        self._methods: dict[str, MethodHandler[Any, Any]] = {}
        self._services: dict[str, ServiceDefinition] = {}
        self._max_receive = max_receive_message_length
        self._h2_config = H2Config(client_side=False, max_concurrent_streams=max_concurrent_streams)
        self._ssl = ensure_alpn_h2(ssl_context) if ssl_context is not None else None
        self._servers: list[asyncio.Server] = []
        self._unix_paths: list[tuple[str, int]] = []  # (path, inode) of sockets we bound
        self._connections: set[_ServerConnection] = set()
        self._stopping = False
        self._stopped: asyncio.Event | None = None
        self._stop_callbacks: list[Callable[[], object]] = []

    def add_service(self, service: ServiceDefinition) -> None:
        if service.name in self._services:
            raise ValueError(f"service {service.name} is already registered")
        self._services[service.name] = service
        self._methods.update(service.paths())

    @property
    def services(self) -> dict[str, ServiceDefinition]:
        return dict(self._services)

    def add_stop_callback(self, callback: Callable[[], object]) -> None:
        """Call `callback()` when `stop()` begins, before the drain (e.g. to end watch streams)."""
        self._stop_callbacks.append(callback)

    async def start(self, address: str) -> int:
        """Listen on `host:port`, `[v6]:port` or `unix:/path`; returns the port bound (0 for
        a Unix socket). May be called more than once for several addresses."""
        if self._stopped is None:
            self._stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        if address.startswith("unix:"):
            path = address[5:]
            if path.startswith("//"):
                path = path[2:]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            server = await loop.create_unix_server(self._make_protocol, path, ssl=self._ssl)
            self._servers.append(server)
            self._unix_paths.append((path, os.stat(path).st_ino))
            return 0
        host, port = _split_host_port(address)
        # "[::]" and "" mean every interface of both families, as in grpc-go and grpcio;
        # asyncio binds "::" to IPv6 only, so IPv4 gets its own socket on the same port.
        hosts = ["::", "0.0.0.0"] if host in ("", "::") else [host]
        for index, each in enumerate(hosts):
            try:
                server = await loop.create_server(
                    self._make_protocol, each, port, ssl=self._ssl, reuse_address=True
                )
            except OSError:
                if index == 0 and len(hosts) > 1:
                    continue  # no IPv6 on this machine: IPv4 alone
                raise
            self._servers.append(server)
            if port == 0 and server.sockets:
                port = int(server.sockets[0].getsockname()[1])
        return port

    def _make_protocol(self) -> _ServerConnection:
        return _ServerConnection(self, self._h2_config)

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting; with `grace`, let running calls finish for that long (GOAWAY drain),
        then cancel what is left and close every connection."""
        self._stopping = True
        for callback in self._stop_callbacks:
            callback()
        for server in self._servers:
            server.close()
        connections = list(self._connections)
        for conn in connections:
            conn.start_shutdown()
        if grace:
            calls = [c.task for conn in connections for c in conn.calls if c.task is not None]
            if calls:
                await asyncio.wait(calls, timeout=grace)
        for conn in connections:
            for call in list(conn.calls):
                call.on_stream_failed(ConnectionLostError("server stopping"))
            tasks = [c.task for c in conn.calls if c.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=1.0)
            conn.close()
        for conn in connections:
            try:
                await asyncio.wait_for(conn.wait_closed(), 1.0)
            except TimeoutError:
                conn.abort()
                await conn.wait_closed()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        for path, inode in self._unix_paths:
            with contextlib.suppress(OSError):
                if os.stat(path).st_ino == inode:  # not a socket bound since by someone else
                    os.unlink(path)
        self._unix_paths.clear()
        if self._stopped is not None:
            self._stopped.set()

    async def wait_for_termination(self) -> None:
        if self._stopped is not None:
            await self._stopped.wait()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop(grace=None)


def _split_host_port(address: str) -> tuple[str, int]:
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest.lstrip(":") or 0)
    host, _, port = address.rpartition(":")
    if not _:
        raise ValueError(f"address {address!r} has no port")
    return host, int(port)
