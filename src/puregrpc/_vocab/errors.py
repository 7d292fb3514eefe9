"""Every exception puregrpc raises above the HTTP/2 engine, in one tree.

The engine (`puregrpc._http2`) has its own tree (`ProtocolError`, `UsageError`, ...), which never
leaves the transport. Above it::

    Exception
    ├── RpcError                 a call ended with a status other than OK (public; S1)
    │   └── AbortError           raised by `ServicerContext.abort*` to end a call (public)
    ├── ValueError
    │   ├── MetadataError        a metadata key or value gRPC does not allow (public; W9, W10)
    │   ├── TargetError          a target or listen address that names no address (N1-N3)
    │   └── TimeoutFormatError   a `grpc-timeout` value that does not follow W5
    ├── TransportError           the transport under a stream failed
    │   ├── ConnectionLostError  the connection ended before the stream did
    │   ├── NoStreamError        no stream can be opened on a connection now (try another)
    │   └── StreamResetError     the stream was reset, by the peer or by us (W20)
    └── WireError                bytes from the peer (or a message of ours) break a gRPC rule;
        │                        `code` is the status the call ends with
        ├── FramingError             a malformed Length-Prefixed-Message (INTERNAL; W12)
        ├── MessageTooLargeError     beyond the receive or send limit (RESOURCE_EXHAUSTED)
        │   └── DecompressedTooLargeError   a message that inflates beyond the limit
        └── DecodeError              decompression or deserialization failed (INTERNAL; C8)

A failure is translated into a `Status` once, in `puregrpc._wire.status_mapping`; OK is never an
exception. Only `RpcError`, `AbortError` and `MetadataError` reach users by design.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .codes import StatusCode

if TYPE_CHECKING:
    from .metadata import Metadata
    from .status import Status


class RpcError(Exception):
    """A call ended with a status other than OK. Raised by client calls.

    `code()`, `details()`, `initial_metadata()` and `trailing_metadata()` mirror grpcio's
    names so code written for `grpc.aio` keeps working.
    """

    def __init__(self, status: Status, initial_metadata: Metadata | None = None) -> None:
        super().__init__(f"{status.code.name}: {status.details}")
        self.status = status
        self._initial_metadata = initial_metadata

    def code(self) -> StatusCode:
        return self.status.code

    def details(self) -> str:
        return self.status.details

    def initial_metadata(self) -> Metadata:
        if self._initial_metadata is None:
            from .metadata import EMPTY

            return EMPTY
        return self._initial_metadata

    def trailing_metadata(self) -> Metadata:
        return self.status.trailing_metadata


class AbortError(RpcError):
    """Raised by `ServicerContext.abort` inside a handler; the call ends with its status."""


class MetadataError(ValueError):
    """A metadata key or value that gRPC does not allow."""


class TargetError(ValueError):
    """A target or listen address that names no address."""


class TimeoutFormatError(ValueError):
    """A `grpc-timeout` value that does not follow W5."""


class TransportError(Exception):
    """Base of the failures a stream reports when its transport fails."""


class ConnectionLostError(TransportError):
    """The connection ended before the stream did."""


class NoStreamError(TransportError):
    """No stream can be opened on this connection now (it is closing, or out of stream ids):
    nothing was sent, so the call may use another connection."""


class StreamResetError(TransportError):
    """The stream was reset: `code` is the HTTP/2 error code, `remote` whether the peer sent it."""

    def __init__(self, stream_id: int, code: int, name: str, remote: bool) -> None:
        super().__init__(f"stream {stream_id} reset by {'peer' if remote else 'us'}: {name}")
        self.stream_id = stream_id
        self.code = code
        self.remote = remote


class WireError(Exception):
    """A gRPC rule broken by a message; the call ends with `code` and this text as details."""

    code = StatusCode.INTERNAL


class FramingError(WireError):
    """A malformed Length-Prefixed-Message (INTERNAL)."""


class MessageTooLargeError(WireError):
    """A message beyond the receive limit (declared length) or the send limit."""

    code = StatusCode.RESOURCE_EXHAUSTED


class DecompressedTooLargeError(MessageTooLargeError):
    """A compressed message that inflates beyond the receive limit."""


class DecodeError(WireError):
    """A message that could not be decompressed or deserialized (INTERNAL)."""
