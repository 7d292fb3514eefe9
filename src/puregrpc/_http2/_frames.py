"""Frame layout of RFC 9113 section 4 and 6: type and flag constants, and frame builders.

Builders return complete frames (9-byte header + payload) as bytes; they do not check the
semantics of what they build. Parsing lives in the connection, where the hot path needs it.
"""

from __future__ import annotations

import struct

FRAME_HEADER = struct.Struct(">HBBBL")  # length high 16 bits, low 8 bits, type, flags, stream id
_pack_header = FRAME_HEADER.pack
_U32 = struct.Struct(">L")
_GOAWAY = struct.Struct(">LL")
_SETTING = struct.Struct(">HL")

CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (section 6).
DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

FRAME_NAMES = {
    DATA: "DATA",
    HEADERS: "HEADERS",
    PRIORITY: "PRIORITY",
    RST_STREAM: "RST_STREAM",
    SETTINGS: "SETTINGS",
    PUSH_PROMISE: "PUSH_PROMISE",
    PING: "PING",
    GOAWAY: "GOAWAY",
    WINDOW_UPDATE: "WINDOW_UPDATE",
    CONTINUATION: "CONTINUATION",
}

# Flags.
FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20

MAX_STREAM_ID = 2**31 - 1
MAX_WINDOW = 2**31 - 1
MIN_MAX_FRAME_SIZE = 16384
MAX_MAX_FRAME_SIZE = 2**24 - 1


def frame_header(length: int, frame_type: int, flags: int, stream_id: int) -> bytes:
    """The 9-byte frame header."""
    return _pack_header(length >> 8, length & 0xFF, frame_type, flags, stream_id)


def build_frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return frame_header(len(payload), frame_type, flags, stream_id) + payload


def build_settings(settings: dict[int, int]) -> bytes:
    payload = b"".join(_SETTING.pack(k, v) for k, v in settings.items())
    return build_frame(SETTINGS, 0, 0, payload)


SETTINGS_ACK = build_frame(SETTINGS, FLAG_ACK, 0)


def build_ping(data: bytes, ack: bool = False) -> bytes:
    return build_frame(PING, FLAG_ACK if ack else 0, 0, data)


def build_goaway(last_stream_id: int, error_code: int, debug: bytes = b"") -> bytes:
    return build_frame(GOAWAY, 0, 0, _GOAWAY.pack(last_stream_id, error_code) + debug)


def build_rst_stream(stream_id: int, error_code: int) -> bytes:
    return build_frame(RST_STREAM, 0, stream_id, _U32.pack(error_code))


def build_window_update(stream_id: int, increment: int) -> bytes:
    return build_frame(WINDOW_UPDATE, 0, stream_id, _U32.pack(increment))


def build_header_frames(
    stream_id: int, block: bytes, end_stream: bool, max_frame_size: int
) -> list[bytes]:
    """HEADERS followed by as many CONTINUATION frames as `block` needs."""
    flags = FLAG_END_STREAM if end_stream else 0
    if len(block) <= max_frame_size:
        return [frame_header(len(block), HEADERS, flags | FLAG_END_HEADERS, stream_id) + block]
    frames = [frame_header(max_frame_size, HEADERS, flags, stream_id) + block[:max_frame_size]]
    pos = max_frame_size
    while pos < len(block):
        chunk = block[pos : pos + max_frame_size]
        pos += len(chunk)
        last = FLAG_END_HEADERS if pos >= len(block) else 0
        frames.append(frame_header(len(chunk), CONTINUATION, last, stream_id) + chunk)
    return frames
