"""The client's side of a connection: opens streams within the server's concurrency limit,
drains after the server's GOAWAY, reports `too_many_pings` (K3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from .._http2 import ConnectionTerminated, ErrorCode, H2Config, UsageError
from .._vocab.errors import NoStreamError
from .connection import GrpcConnection
from .keepalive import KeepalivePolicy
from .stream import GrpcStream


class ClientConnection(GrpcConnection):
    """A client connection: opens streams, respecting the server's concurrency limit."""

    def __init__(
        self,
        max_receive: int,
        keepalive: KeepalivePolicy | None,
        on_too_many_pings: Callable[[], None],
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(H2Config(client_side=True), max_receive, keepalive)
        self._slot_waiters: list[asyncio.Future[None]] = []
        self._on_too_many_pings = on_too_many_pings
        self._on_lost = on_lost
        self.draining = False  # takes no new streams; closes once the open ones end

    @property
    def is_usable(self) -> bool:
        return not self.draining and super().is_usable

    def drain(self) -> None:
        """Take no new streams and close once the open ones have ended (as after GOAWAY)."""
        self.draining = True
        self._wake_slots()
        if not self.streams:
            self.close()

    def open_stream(self, headers: Sequence[tuple[str, str]], end_stream: bool) -> GrpcStream:
        """Open a stream with the request's `headers`; `NoStreamError` when none can be opened
        on this connection (closing, or out of stream ids)."""
        h2 = self.h2
        try:
            stream_id = h2.get_next_available_stream_id()
            h2.send_headers(stream_id, headers, end_stream)
        except UsageError as exc:
            raise NoStreamError(str(exc)) from None
        stream = GrpcStream(self, stream_id, self.max_receive)
        self.streams[stream_id] = stream
        self.schedule_flush()
        return stream

    def open_request(self, headers: Sequence[tuple[str, str]], data: bytes) -> GrpcStream:
        """Open a stream carrying a whole request: `headers`, then `data` (framed messages)
        ending our side; `NoStreamError` when no stream can be opened."""
        h2 = self.h2
        try:
            stream_id = h2.get_next_available_stream_id()
            h2.send_request(stream_id, headers, data)
        except UsageError as exc:
            raise NoStreamError(str(exc)) from None
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
        return (
            not self.goaway_received
            and not self.draining
            and not self._closed.done()
            and self.h2.can_open_stream()
        )

    async def wait_slot(self) -> None:
        while not self.has_slot() and self.is_usable:
            waiter = self.loop.create_future()
            self._slot_waiters.append(waiter)
            await waiter

    def _forget(self, stream: GrpcStream) -> None:
        self.streams.pop(stream.stream_id, None)
        if self._slot_waiters:
            self._wake_slots()
        if (self.goaway_received or self.draining) and not self.streams:
            self.close()  # drained after GOAWAY or `drain()`: new calls use a new connection

    def on_lost(self) -> None:
        self._wake_slots()
        if self._on_lost is not None:
            self._on_lost()

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
