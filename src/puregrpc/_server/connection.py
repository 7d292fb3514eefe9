"""The server's side of a connection: one `ServerCall` per request stream, started once the
batch of events that opened it has been dispatched; idle and age limits (K5); graceful
shutdown."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, cast

from .._http2 import H2Config
from .._transport.connection import GrpcConnection
from .._transport.credentials import negotiated_h2
from .._transport.stream import GrpcStream
from .._vocab.errors import ConnectionLostError
from .._vocab.metadata import EMPTY
from .._wire.compression import IDENTITY
from .call import _CODE_OK, ServerCall, new_call

if TYPE_CHECKING:
    from .server import Server

logger = logging.getLogger("puregrpc.server")


class ServerConnection(GrpcConnection):
    """A server connection: a call for each request, idle and age limits (K5), the two-phase
    GOAWAY of a graceful stop (W23)."""

    def __init__(self, server: Server, config: H2Config) -> None:
        super().__init__(config, server.max_receive, server._keepalive, server._ping_policy)
        self.server = server
        self.calls: set[ServerCall] = set()
        self._shutdown_phase = 0
        self._shutdown_started = 0.0
        now = self.loop.time()
        self._idle_since: float | None = now
        self._expires: float | None = None
        if server._max_age is not None:
            self._expires = now + server._max_age * random.uniform(0.9, 1.1)  # K5 jitter
        self._hard_deadline: float | None = None
        self._starting: list[ServerCall] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not negotiated_h2(transport.get_extra_info("ssl_object")):
            logger.info("closing a TLS connection that did not negotiate ALPN h2")
            cast(asyncio.Transport, transport).abort()  # W22: gRPC over TLS is h2 only
            return
        super().connection_made(transport)
        self.server._connections.add(self)

    def on_request(self, stream: GrpcStream, end_stream: bool) -> None:
        if self.server._stopping:
            stream.refuse()  # never processed: the client may retry it
            return
        server = self.server
        call = new_call(ServerCall)
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

    def call_finished(self, call: ServerCall) -> None:
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
