"""HPACK Huffman coding (RFC 7541 section 5.2, Appendix B)."""

from __future__ import annotations

from ._errors import CompressionError
from ._hpack_tables import (
    HUFFMAN_ACCEPT,
    HUFFMAN_BITS,
    HUFFMAN_CODES,
    HUFFMAN_EMIT,
    HUFFMAN_FAIL,
    HUFFMAN_NEXT,
)

__all__ = ["huffman_decode", "huffman_encode"]


def huffman_encode(data: bytes) -> bytes:
    """`data` Huffman-coded and padded to whole octets with the most significant bits of EOS."""
    if len(data) <= 8:  # faster for short strings
        acc = 0
        count = 0
        for octet in data:
            code, length = HUFFMAN_CODES[octet]
            acc = acc << length | code
            count += length
        pad = -count & 7
        return (acc << pad | (1 << pad) - 1).to_bytes((count + pad) >> 3, "big")
    # Octet i decoded as Latin-1 is code point i; HUFFMAN_BITS[i] is its code as "0"/"1" text.
    bits = data.decode("latin-1").translate(HUFFMAN_BITS)
    if not bits:
        return b""
    bits += "1" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) >> 3, "big")


def huffman_decode(data: bytes) -> bytes:
    """Decode a Huffman-coded string.

    Raises `CompressionError` if it contains EOS, or if its padding is longer than 7 bits or
    not the most significant bits of EOS (all ones).
    """
    next_ = HUFFMAN_NEXT
    emit = HUFFMAN_EMIT
    state = 0
    out: list[bytes] = []
    append = out.append
    for octet in data:
        i = state + octet
        append(emit[i])
        state = next_[i]
    if state not in HUFFMAN_ACCEPT:
        if state == HUFFMAN_FAIL:
            raise CompressionError("Huffman string contains EOS")
        raise CompressionError("invalid Huffman padding")
    return b"".join(out)
