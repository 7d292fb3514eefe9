"""The Length-Prefixed-Message framing of W12, with the receive limit checked on the
prefix before a message is buffered."""

from __future__ import annotations

import struct

from .._vocab.errors import FramingError, MessageTooLargeError

_PREFIX = struct.Struct(">BL")
unpack_prefix = _PREFIX.unpack_from  # (compressed flag, length) at an offset
PREFIX_SIZE = 5


def frame_message(payload: bytes, compressed: bool = False) -> bytes:
    """The Length-Prefixed-Message of W12."""
    return _PREFIX.pack(1 if compressed else 0, len(payload)) + payload


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
