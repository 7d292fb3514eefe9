"""Metadata: an ordered multimap of gRPC custom metadata (W9, W10).

Keys are lower-case `0-9 a-z _ - .`; values are printable-ASCII `str`, or `bytes` for keys
ending in `-bin`, which travel base64-encoded (unpadded when we send, padded or not when we
receive, and split on "," first).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Sequence

from .errors import MetadataError

MetadataValue = str | bytes
MetadataLike = Iterable[tuple[str, MetadataValue]]

_KEY = re.compile(r"[0-9a-z_.\-]+\Z")
_ASCII_VALUE = re.compile(r"[\x20-\x7e]*\Z")
# Headers that belong to the protocol, never to the application (W9: grpc-* is reserved).
RESERVED = frozenset(
    {
        "content-type",
        "te",
        "user-agent",
        "grpc-timeout",
        "grpc-encoding",
        "grpc-accept-encoding",
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "grpc-message-type",
        "content-length",
        "host",
        "connection",
        "transfer-encoding",
        "upgrade",
        "keep-alive",
        "proxy-connection",
    }
)


def check_key(key: str) -> None:
    if not _KEY.match(key):
        raise MetadataError(
            f"invalid metadata key {key!r}: keys are lower-case letters, digits, '_', '-', '.'"
        )
    if key in RESERVED or key.startswith(":"):
        raise MetadataError(f"metadata key {key!r} is reserved for the protocol")


def check_pair(key: str, value: MetadataValue) -> None:
    check_key(key)
    if key.endswith("-bin"):
        if not isinstance(value, bytes | bytearray | memoryview):
            raise MetadataError(f"metadata key {key!r} ends in -bin: its value must be bytes")
    elif not isinstance(value, str) or not _ASCII_VALUE.match(value):
        raise MetadataError(f"metadata value for {key!r} must be printable ASCII str")


class Metadata(Sequence[tuple[str, MetadataValue]]):
    """Ordered (key, value) pairs; a key may repeat. Immutable once built."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: MetadataLike = (), *, validate: bool = True) -> None:
        items = tuple((k, v) for k, v in pairs)
        if validate:
            for key, value in items:
                check_pair(key, value)
        self._pairs: tuple[tuple[str, MetadataValue], ...] = items

    @classmethod
    def of(cls, pairs: MetadataLike | None) -> Metadata:
        if pairs is None:
            return _EMPTY
        if isinstance(pairs, Metadata):
            return pairs
        return cls(pairs)

    def __getitem__(self, index: int) -> tuple[str, MetadataValue]:  # type: ignore[override]
        return self._pairs[index]

    def __len__(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Iterator[tuple[str, MetadataValue]]:
        return iter(self._pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Metadata):
            return self._pairs == other._pairs
        if isinstance(other, tuple | list):
            return list(self._pairs) == [tuple(p) for p in other]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._pairs)

    def __repr__(self) -> str:
        return f"Metadata({list(self._pairs)!r})"

    def get(self, key: str, default: MetadataValue | None = None) -> MetadataValue | None:
        """The first value of `key`."""
        for k, v in self._pairs:
            if k == key:
                return v
        return default

    def get_all(self, key: str) -> list[MetadataValue]:
        return [v for k, v in self._pairs if k == key]

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self._pairs)

    def to_headers(self) -> list[tuple[str, str]]:
        """HTTP/2 header fields: `-bin` values base64-encoded without padding (W10)."""
        out = []
        for key, value in self._pairs:
            if key.endswith("-bin"):
                out.append((key, encode_binary(value)))  # type: ignore[arg-type]
            else:
                out.append((key, value))  # type: ignore[arg-type]
        return out

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, str]]) -> Metadata:
        """Custom metadata of a header block: reserved and pseudo-headers are skipped, `-bin`
        values decoded (padded or not, comma-joined duplicates split). Values that are not
        valid base64 are kept as their raw bytes rather than failing the call."""
        pairs: list[tuple[str, MetadataValue]] = []
        for key, value in headers:
            if key[:1] == ":" or key in RESERVED:
                continue
            if key.endswith("-bin"):
                for part in value.split(","):
                    pairs.append((key, decode_binary(part.strip())))
            else:
                pairs.append((key, value))
        return cls(pairs, validate=False) if pairs else EMPTY


def encode_binary(value: bytes) -> str:
    """A `-bin` value as unpadded base64 (W10)."""
    return base64.b64encode(bytes(value)).decode("ascii").rstrip("=")


def decode_binary(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.b64decode(padded, altchars=b"-_", validate=True)  # URL-safe alphabet
        except (binascii.Error, ValueError):
            return text.encode("latin-1", "replace")


EMPTY = Metadata(())
_EMPTY = EMPTY
