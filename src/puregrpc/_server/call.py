"""One RPC on the server, over a `ServerStream`: parses the request head, runs the interceptors
and the handler (in place until it first waits, `puregrpc._server.eager`), and ends the call
once, with the status they lead to (`finish`).

The call is its own servicer context (`ServicerContext`), and forms no reference cycle with its
stream or connection, so a finished call is freed at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from .._transport.streams import ServerStream
from .._vocab.codes import StatusCode
from .._vocab.deadline import current_deadline, decode_timeout
from .._vocab.errors import (
    AbortError,
    RpcError,
    TimeoutFormatError,
    TransportError,
    WireError,
)
from .._vocab.metadata import EMPTY, Metadata
from .._vocab.status import Status
from .._wire.cardinality import extra_message, no_message
from .._wire.codec import decode_message, encode_message
from .._wire.compression import IDENTITY, response_encoding
from .._wire.status_mapping import status_for_error
from .._wire.trailers import OK
from .context import ServicerContext
from .eager import start_eagerly
from .handlers import MethodHandler
from .interceptors import ServerChain

logger = logging.getLogger("puregrpc.server")

_CODE_OK = StatusCode.OK
new_call: Callable[[type[ServerCall]], ServerCall] = object.__new__
_copy_context = contextvars.copy_context


class _CallEnded(Exception):
    """Internal: the call already ended (reset, deadline, lost); stop quietly."""


class ServerState(Protocol):
    """What a call reads of its server."""

    @property
    def methods(self) -> Mapping[str, MethodHandler[Any, Any]]: ...
    @property
    def max_receive(self) -> int: ...


class CallOwner(Protocol):
    """The connection a call runs on, as the call sees it: bookkeeping, no I/O."""

    loop: asyncio.AbstractEventLoop
    calls: set[ServerCall]

    def call_finished(self, call: ServerCall) -> None: ...


class ServerCall(ServicerContext[Any, Any]):
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

    # Made by `ServerConnection.on_request`, which sets every field in place (no __init__: a
    # call of the class from C would run it in a frame of its own, once per RPC).
    server: ServerState
    conn: CallOwner
    stream: ServerStream
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
        stream = self.stream
        head = stream.head
        timeout = stream.grpc_timeout
        self.path = head.path
        self.request_encoding = head.encoding
        self.accept_encodings = head.accept
        self.metadata = head.metadata
        if head.problem is not None:
            return head.problem
        self.handler = self.server.methods.get(head.path)
        if self.handler is None:
            return Status(StatusCode.UNIMPLEMENTED, f"Method not found: {head.path}")
        if timeout is not None:
            try:
                self._deadline = self.conn.loop.time() + decode_timeout(timeout)
            except TimeoutFormatError as exc:
                return Status(StatusCode.INTERNAL, str(exc))
        return None

    async def read_request(self) -> Any:
        try:
            message = await self.stream.read_message()
        except TransportError:
            raise _CallEnded() from None
        except WireError as exc:
            raise AbortError(status_for_error(exc)) from None
        if message is None:
            return None
        request = self._decode_request(message)
        for interceptor in self.chain.on_request:
            request = await interceptor.on_request(request, self._context())
        return request

    def _decode_request(self, message: tuple[bool, bytes]) -> Any:
        compressed, payload = message
        self.last_request_compressed = compressed
        assert self.handler is not None
        try:
            return decode_message(
                compressed,
                payload,
                self.request_encoding,
                self.server.max_receive,
                self.handler.request_deserializer,
                "request",
            )
        except WireError as exc:
            raise AbortError(status_for_error(exc)) from None

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
            raise AbortError(no_message("request"))
        extra = await self.read_request()
        if extra is not None:
            raise AbortError(extra_message("request"))
        return request

    async def requests(self) -> AsyncIterator[Any]:
        while True:
            message = await self.read_request()
            if message is None:
                return
            yield message

    # -- response
    def _send_initial_metadata(self, metadata: Metadata) -> None:
        if self.headers_sent:
            raise RuntimeError("initial metadata was already sent")
        if self.ended:
            raise _CallEnded()
        self.response_encoding = response_encoding(self.response_encoding, self.accept_encodings)
        self.headers_sent = True
        try:
            self.stream.send_initial_metadata(self.response_encoding, metadata)
        except TransportError:
            raise _CallEnded() from None

    async def write_response(self, message: Any) -> None:
        if self.ended:
            raise _CallEnded()
        if not self.headers_sent:
            self._send_initial_metadata(EMPTY)
        assert self.handler is not None
        for interceptor in self.chain.on_response:
            message = await interceptor.on_response(message, self._context())
        data = encode_message(
            message, self.handler.response_serializer, self.response_encoding, self.compress_next
        )
        self.compress_next = True
        try:
            await self.stream.send_message(data)
        except TransportError:
            raise _CallEnded() from None

    def finish(self, status: Status) -> None:
        """End the call with `status`, once: the `on_end` hooks, then the end of the response
        on the stream: a held unary response with plain OK in one step (`write_ok`), anything
        else with `write_status` (trailers, or Trailers-Only when nothing was sent)."""
        if self.ended:
            return
        self.ended = True
        if self.chain.on_end:
            for interceptor in self.chain.on_end:
                try:
                    interceptor.on_end(status, self)
                except Exception:
                    logger.exception("server interceptor on_end raised")
        held = self.held_response
        headers_sent = self.headers_sent
        self.headers_sent = True
        try:
            if held is None:
                self.stream.write_status(status, self.response_encoding, headers_sent)
            else:
                self.held_response = None
                if status is OK:  # (a held response is never compressed nor after headers)
                    self.stream.write_ok(held)
                else:
                    self.stream.write_status(status, IDENTITY, False, held)
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
        calls = self.conn.calls
        calls.discard(self)
        if not calls:  # (the connection's bookkeeping only when its last call ended)
            self.conn.call_finished(self)

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
        http_status = self.stream.head.http_status
        if http_status != 200:  # not gRPC at all (W6)
            self.ended = True
            self.stream.write_http_error(http_status, problem.details)
            self._release()
            return
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
        self._conclude(status)

    async def _run_unary(self, handler: MethodHandler[Any, Any], request: Any) -> None:
        """`run` for a unary call without interceptor hooks whose request is decoded."""
        try:
            response = await handler.behaviour(request, self)
            if not self._hold_response(handler, response):
                await self.write_response(response)
        except BaseException as exc:
            status = self._status_after(exc)
        else:
            self.finish(self._status_now())
            return
        self._conclude(status)

    def _conclude(self, status: Status | None) -> None:
        """End the call after its handler: with `status`, or (None) quietly if it is not over."""
        if status is not None:
            self.finish(status)
        elif not self.ended:
            self.ended = True
            self._release()

    def _status_now(self) -> Status:
        """The status of a handler that returned: what it set on its context (the shared OK
        when it left all alone: OK, no details, no trailing metadata)."""
        if self._code is _CODE_OK and not self._details and self.trailing_metadata is EMPTY:
            return OK
        return Status(self._code, self._details, self.trailing_metadata)

    def _status_after(self, exc: BaseException) -> Status | None:
        """The status of a handler that raised `exc`; None when the call ends without one (or
        was finished here). Re-raises what must go on: a cancellation of the handler's own
        making (after telling the client), and exceptions that are not errors."""
        if isinstance(exc, asyncio.CancelledError):
            if self.expired:
                self.finish(Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
                if not self.stream.error:
                    self.stream.cancel()  # W21
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
        self.held_response = encode_message(response, handler.response_serializer)
        return True

    def on_stream_failed(self, error: BaseException) -> None:
        """The client reset the stream or the connection died: cancel the handler (W25)."""
        if self.ended:
            return
        self._cancelled = True
        if self.task is not None and not self.task.done():
            self.task.cancel()
