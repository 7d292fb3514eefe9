"""The servicer context: what a handler knows of its call and how it shapes the response.

The server call (`puregrpc._server.call`) is its own context: the state lives in the call, and
these methods read and set it. Handlers, interceptors and handler factories depend on this
module only, never on the call machinery.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, NoReturn, TypeVar

from .._transport.streams import ServerStream
from .._vocab.codes import StatusCode
from .._vocab.errors import AbortError
from .._vocab.metadata import Metadata, MetadataLike
from .._vocab.status import Status
from .._wire.compression import check_compression

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class ServicerContext(Generic[Req, Resp]):
    """What a handler knows of its call and how it shapes the response."""

    # The state lives in the call, which is its own context (`_ServerCall`); the slots here
    # are those the context's methods assign.
    __slots__ = ("_code", "_details", "compress_next", "response_encoding", "trailing_metadata")

    metadata: Metadata
    stream: ServerStream
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
        """The client's address: `ipv4:host:port`, `ipv6:[host]:port`, `unix:path`."""
        return self.stream.peer()

    def peer_certificate(self) -> dict[str, Any] | None:
        ssl_object = self.stream.ssl_object
        return ssl_object.getpeercert() if ssl_object is not None else None

    def auth_context(self) -> dict[str, list[bytes]]:
        """grpcio-style auth context: transport security type and peer identities."""
        ssl_object = self.stream.ssl_object
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
        self.response_encoding = check_compression(name)

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
