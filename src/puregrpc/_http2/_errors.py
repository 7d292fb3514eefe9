"""HTTP/2 error codes and the engine's exception family.

The whole tree::

    H2Error                      base of everything the engine raises
    ├── ProtocolError            the peer broke RFC 9113/7541; `receive_data` raises only these.
    │   │                        `error_code` is what the GOAWAY carried; the GOAWAY is queued.
    │   ├── FrameSizeError       FRAME_SIZE_ERROR
    │   ├── FlowControlError     FLOW_CONTROL_ERROR
    │   ├── CompressionError     COMPRESSION_ERROR (HPACK decoding failed)
    │   ├── SettingsError        a SETTINGS value out of range
    │   ├── CalmError            ENHANCE_YOUR_CALM: a limit against abusive peers was hit
    │   └── SettingsTimeoutError SETTINGS_TIMEOUT (raised by `check_timers`)
    └── UsageError               the local application misused the API (a bug in our caller):
        ├── StreamClosedError    sending on a stream that can no longer send
        ├── SendBufferFullError  `send_data` beyond the stream's outbound buffer bound
        └── ConnectionClosedError any send after the connection closed
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """RFC 9113 section 7."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


def error_code(value: int) -> ErrorCode | int:
    """The named code for `value`, or the bare int for codes unknown to RFC 9113."""
    try:
        return ErrorCode(value)
    except ValueError:
        return value


class H2Error(Exception):
    """Base of every exception the HTTP/2 engine raises."""


class ProtocolError(H2Error):
    """A connection error caused by the peer (RFC 9113 section 5.4.1)."""

    error_code: ErrorCode = ErrorCode.PROTOCOL_ERROR

    def __init__(self, message: str, error_code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if error_code is not None:
            self.error_code = error_code


class FrameSizeError(ProtocolError):
    error_code = ErrorCode.FRAME_SIZE_ERROR


class FlowControlError(ProtocolError):
    error_code = ErrorCode.FLOW_CONTROL_ERROR


class CompressionError(ProtocolError):
    error_code = ErrorCode.COMPRESSION_ERROR


class SettingsError(ProtocolError):
    """A SETTINGS value outside its legal range (RFC 9113 section 6.5.2)."""


class CalmError(ProtocolError):
    error_code = ErrorCode.ENHANCE_YOUR_CALM


class SettingsTimeoutError(ProtocolError):
    error_code = ErrorCode.SETTINGS_TIMEOUT


class UsageError(H2Error):
    """The local application used the engine wrongly; nothing was sent."""


class StreamClosedError(UsageError):
    def __init__(self, stream_id: int, message: str = "stream cannot send") -> None:
        super().__init__(f"stream {stream_id}: {message}")
        self.stream_id = stream_id


class SendBufferFullError(UsageError):
    """The stream's outbound buffer is full; wait for a `SendBufferDrained` event."""


class ConnectionClosedError(UsageError):
    """The connection is closed; nothing more can be sent."""
