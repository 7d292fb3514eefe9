"""The seams between the call layers and the transports: what a server call and a client attempt
may do with their stream. The HTTP/2 stream (`GrpcStream`) implements both; gRPC-Web, Connect,
HTTP/1.1 and in-memory transports are meant to implement them too. Nothing here mentions frames,
header lists or HTTP/2 error codes: those stay in the transport.

Errors: reads and writes raise `TransportError` (`StreamResetError`, `ConnectionLostError`) when
the stream or its connection fails, and `WireError` when the peer's bytes break a gRPC rule
(`puregrpc._vocab.errors`); the call layers map them to a status with
`puregrpc._wire.status_mapping.status_for_error`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from typing import Protocol

from .._vocab.metadata import Metadata
from .._vocab.status import Status
from .._wire.request_head import RequestHead

Fields = Sequence[tuple[str, str]]
Message = tuple[bool, bytes]  # (compressed flag, payload) of one received message


class ServerStream(Protocol):
    """One request as the server call sees it."""

    on_fail: Callable[[BaseException], None] | None  # called once if the stream fails

    @property
    def grpc_timeout(self) -> str | None:
        """The request's `grpc-timeout` value, decoded by the call."""

    @property
    def peer_ended(self) -> bool:
        """Whether the client has finished sending."""

    @property
    def head(self) -> RequestHead: ...
    @property
    def error(self) -> BaseException | None: ...
    @property
    def ssl_object(self) -> ssl.SSLObject | None: ...
    def peer(self) -> str: ...

    async def read_message(self) -> Message | None:
        """The next request message, or None once the client finished sending."""

    def take_sole_message(self) -> Message | None:
        """The only request message if the client ended after exactly one; else None."""

    def send_initial_metadata(self, encoding: str, metadata: Metadata) -> None: ...
    async def send_message(self, data: bytes, end: bool = False) -> None: ...
    def write_status(
        self, status: Status, encoding: str, headers_sent: bool, response: bytes | None = None
    ) -> None:
        """End the response (trailers; or Trailers-Only; or head, `response` and trailers)."""

    def write_ok(self, response: bytes) -> None:
        """The plain unary response: head, `response`, OK trailers."""

    def write_http_error(self, http_status: int, message: str) -> None:
        """Answer a request that is not gRPC at all (W6)."""

    def cancel(self) -> None:
        """Abort the stream (the client sees CANCELLED)."""

    def refuse(self) -> None:
        """Refuse the request unprocessed (the client may send it again)."""


class ClientStream(Protocol):
    """One attempt's stream as the client sees it."""

    @property
    def headers(self) -> Fields | None:
        """The response's first header block, once received."""

    @property
    def trailers(self) -> Fields | None: ...
    @property
    def peer_ended(self) -> bool: ...
    @property
    def error(self) -> BaseException | None: ...
    @property
    def settled(self) -> bool:
        """Something to act on without waiting: the end, a failure or a whole message."""

    async def read_headers(self) -> Fields | None: ...
    async def read_message(self) -> Message | None: ...
    def take_only_message(self) -> bytes | None:
        """The payload of a response that ended after exactly one uncompressed message."""

    def next_event(self) -> asyncio.Future[None]: ...
    async def send_message(self, data: bytes, end: bool = False) -> None: ...
    def cancel(self) -> None: ...
