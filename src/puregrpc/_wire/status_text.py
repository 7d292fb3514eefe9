"""The `grpc-message` codec (W16): percent-encoded UTF-8."""

from __future__ import annotations

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
