"""gRPC over HTTP/2: message framing, percent-encoded messages and status mappings
(doc/PROTOCOL-HTTP2.md: W12, W16, W18, W20)."""

from __future__ import annotations

import struct

from ._http2 import ErrorCode
from ._status import StatusCode

_PREFIX = struct.Struct(">BL")
PREFIX_SIZE = 5


def frame_message(payload: bytes, compressed: bool = False) -> bytes:
    """The Length-Prefixed-Message of W12."""
    return _PREFIX.pack(1 if compressed else 0, len(payload)) + payload


class MessageTooLargeError(Exception):
    """A message whose declared length exceeds the receive limit (RESOURCE_EXHAUSTED)."""


class FramingError(Exception):
    """A malformed Length-Prefixed-Message (INTERNAL)."""


class MessageDecoder:
    """Splits a stream of DATA payloads into messages, enforcing `max_size` from the prefix,
    before a message is buffered (so an oversized one costs nothing to refuse).

    The payload of a message split over many DATA frames is kept as the frames' octets and
    joined once, when its last octet arrives.
    """

    __slots__ = ("_compressed", "_head", "_need", "_parts", "_size", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._head = b""  # the start of a prefix still incomplete
        self._parts: list[bytes] | None = None  # payload octets of a message still arriving
        self._size = 0  # their total
        self._need = 0  # that message's length
        self._compressed = False  # and its flag

    def feed(self, data: bytes) -> list[tuple[bool, bytes]]:
        """(compressed, payload) of every message completed by `data`."""
        out: list[tuple[bool, bytes]] = []
        parts = self._parts
        if parts is not None:
            missing = self._need - self._size
            if len(data) < missing:
                parts.append(data)
                self._size += len(data)
                return out
            parts.append(data if len(data) == missing else data[:missing])
            out.append((self._compressed, b"".join(parts)))
            self._parts = None
            if len(data) == missing:
                return out
            data = data[missing:]
        elif self._head:
            data = self._head + data
            self._head = b""
        pos = 0
        end = len(data)
        while end - pos >= PREFIX_SIZE:
            flag, length = _PREFIX.unpack_from(data, pos)
            if flag > 1:
                raise FramingError(f"invalid compressed-flag {flag}")
            if length > self.max_size:
                raise MessageTooLargeError(
                    f"received message larger than max ({length} vs. {self.max_size})"
                )
            start = pos + PREFIX_SIZE
            stop = start + length
            if stop > end:
                self._parts = [data[start:]]
                self._size = end - start
                self._need = length
                self._compressed = flag == 1
                return out
            out.append((flag == 1, data[start:stop]))
            pos = stop
        if pos < end:
            self._head = data[pos:]
        return out

    @property
    def pending(self) -> bool:
        """Whether part of a message is buffered (an error if the stream ends now)."""
        return self._parts is not None or bool(self._head)


# --- grpc-message (W16)

_UNRESERVED = frozenset(range(0x20, 0x7F)) - {0x25}


def encode_message(text: str) -> str:
    """Percent-encode a status message: UTF-8, bytes outside 0x20-0x7E and '%' as %XX."""
    raw = text.encode("utf-8", "surrogatepass")
    if all(b in _UNRESERVED for b in raw):
        return raw.decode("ascii")
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in raw)


def decode_message(text: str) -> str:
    """Percent-decode a status message; malformed escapes are kept as they are (W16)."""
    if "%" not in text and text.isascii():
        return text
    out = bytearray()
    raw = text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25 and i + 2 < len(raw) and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(b)
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


# --- status mappings

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
