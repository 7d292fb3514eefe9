"""Message compression (C1-C9): the registry of codings and the accept-encoding header."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

from .._vocab.errors import DecompressedTooLargeError

IDENTITY = "identity"


class Codec:
    """One message coding: `compress` and `decompress` of whole messages."""

    __slots__ = ("compress", "decompress", "name")

    def __init__(
        self,
        name: str,
        compress: Callable[[bytes], bytes],
        decompress: Callable[[bytes, int], bytes],
    ) -> None:
        self.name = name
        self.compress = compress
        # decompress(data, max_size) raises DecompressedTooLarge beyond max_size.
        self.decompress = decompress


def _inflate(wbits: int) -> Callable[[bytes, int], bytes]:
    def decompress(data: bytes, max_size: int) -> bytes:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(data, max_size + 1)
        if len(out) > max_size:
            raise DecompressedTooLargeError(f"message inflates beyond {max_size} bytes")
        if not inflater.eof:
            raise zlib.error("truncated compressed message")
        return out

    return decompress


def _deflate(data: bytes) -> bytes:
    return zlib.compress(data)


CODECS: dict[str, Codec] = {
    "gzip": Codec("gzip", lambda data: gzip.compress(data, mtime=0), _inflate(16 + zlib.MAX_WBITS)),
    "deflate": Codec("deflate", _deflate, _inflate(zlib.MAX_WBITS)),
}

ACCEPT_ENCODING = ",".join([IDENTITY, *CODECS])


IDENTITY_ONLY = frozenset({IDENTITY})


def parse_accept_encoding(value: str | None) -> frozenset[str]:
    """The codings a `grpc-accept-encoding` value names (C6); identity alone when absent."""
    if not value:
        return IDENTITY_ONLY
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def is_supported(name: str) -> bool:
    """Whether we can compress and decompress with `name` (identity included)."""
    return name == IDENTITY or name in CODECS


def response_encoding(wanted: str, accepted: frozenset[str]) -> str:
    """The coding to send responses in: `wanted` if the client accepts it, else identity (C7:
    never what the client cannot read)."""
    return wanted if wanted in accepted else IDENTITY


def check_compression(name: str | None) -> str:
    """`name` (None means identity) if we support it; ValueError for an unknown coding, as the
    API must refuse it up front rather than fail every call."""
    if name is None:
        return IDENTITY
    if not is_supported(name):
        raise ValueError(f"unknown compression {name!r}")
    return name
