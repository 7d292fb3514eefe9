"""The one mapping of failures to a `Status`: RST_STREAM codes (W20), HTTP statuses of responses
without `grpc-status` (W18, doc/http-grpc-status-mapping.md), and the exception tree of
`puregrpc._vocab.errors`."""

from __future__ import annotations

from .._http2 import ErrorCode
from .._vocab.codes import StatusCode
from .._vocab.errors import ConnectionLostError, StreamResetError, WireError
from .._vocab.status import Status

_RST_TO_STATUS: dict[int, StatusCode] = {
    ErrorCode.NO_ERROR: StatusCode.INTERNAL,
    ErrorCode.PROTOCOL_ERROR: StatusCode.INTERNAL,
    ErrorCode.INTERNAL_ERROR: StatusCode.INTERNAL,
    ErrorCode.FLOW_CONTROL_ERROR: StatusCode.INTERNAL,
    ErrorCode.SETTINGS_TIMEOUT: StatusCode.INTERNAL,
    ErrorCode.STREAM_CLOSED: StatusCode.INTERNAL,
    ErrorCode.FRAME_SIZE_ERROR: StatusCode.INTERNAL,
    ErrorCode.REFUSED_STREAM: StatusCode.UNAVAILABLE,
    ErrorCode.CANCEL: StatusCode.CANCELLED,
    ErrorCode.COMPRESSION_ERROR: StatusCode.INTERNAL,
    ErrorCode.CONNECT_ERROR: StatusCode.INTERNAL,
    ErrorCode.ENHANCE_YOUR_CALM: StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.INADEQUATE_SECURITY: StatusCode.PERMISSION_DENIED,
    ErrorCode.HTTP_1_1_REQUIRED: StatusCode.INTERNAL,
}


def status_for_reset(code: ErrorCode | int) -> StatusCode:
    """The status a client reports for a RST_STREAM code (W20)."""
    return _RST_TO_STATUS.get(int(code), StatusCode.INTERNAL)


_HTTP_TO_STATUS = {
    400: StatusCode.INTERNAL,
    401: StatusCode.UNAUTHENTICATED,
    403: StatusCode.PERMISSION_DENIED,
    404: StatusCode.UNIMPLEMENTED,
    429: StatusCode.UNAVAILABLE,
    502: StatusCode.UNAVAILABLE,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.UNAVAILABLE,
}


def status_for_http(status: int) -> StatusCode:
    """The status for a non-200 HTTP response without grpc-status
    (doc/http-grpc-status-mapping.md)."""
    return _HTTP_TO_STATUS.get(status, StatusCode.UNKNOWN)


def never_processed(exc: StreamResetError) -> bool:
    """Whether the server refused the stream before processing it (REFUSED_STREAM, also what a
    GOAWAY's last-stream-id means for later streams): the call may be sent again (RT7)."""
    return exc.remote and exc.code == ErrorCode.REFUSED_STREAM


def status_for_error(exc: WireError | ConnectionLostError | StreamResetError) -> Status:
    """The status a call ends with when `exc` stops it: a broken wire rule by its own code, a
    lost connection UNAVAILABLE (W25), a stream reset by the peer by W20."""
    if isinstance(exc, WireError):
        return Status(exc.code, str(exc))
    if isinstance(exc, ConnectionLostError):
        return Status(StatusCode.UNAVAILABLE, str(exc))
    return Status(status_for_reset(exc.code), f"Stream reset by the server: {exc}")
