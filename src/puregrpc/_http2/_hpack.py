"""HPACK header compression (RFC 7541): one `Encoder` and one `Decoder` per HTTP/2 connection.

Header fields are `(name, value)` pairs of `str`; octets on the wire map to text with
UTF-8 + "surrogateescape", which is lossless for any octets. Both sides cache whole header
blocks (and single fields / strings) while the dynamic table is unchanged, so the repeated
header sets of gRPC calls cost a dictionary lookup.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from ._errors import CompressionError, ProtocolError
from ._hpack_tables import (
    STATIC_COUNT,
    STATIC_FIELD_INDEX,
    STATIC_NAME_INDEX,
    STATIC_SIZES,
    STATIC_TABLE,
)
from ._huffman import huffman_decode, huffman_encode

__all__ = [
    "ENCODER_TABLE_SIZE_CAP",
    "NEVER_INDEX",
    "NO_INDEX",
    "VOLATILE",
    "Decoder",
    "Encoder",
    "HeaderListTooLargeError",
    "Headers",
    "Split",
    "decode_integer",
    "encode_integer",
]

Headers = tuple[tuple[str, str], ...]

# Always sent as never-indexed literals (RFC 7541 section 7.1.3), like names in `sensitive`.
NEVER_INDEX = frozenset({"authorization", "proxy-authorization", "set-cookie"})
# Values that change from block to block: literals without indexing, to spare the table.
NO_INDEX = frozenset(
    {
        "grpc-timeout",
        "content-length",
        "date",
        "etag",
        "if-modified-since",
        "if-none-match",
        "last-modified",
    }
)
# Names whose value changes on every request (a deadline), a subset of NO_INDEX. A block with
# one of them as a literal without indexing is otherwise the same from call to call: `Encoder`
# and `Decoder` cache the rest of it (a "shape"), and `Decoder.split` reports the header list
# without these fields.
VOLATILE = frozenset({"grpc-timeout"})
assert VOLATILE <= NO_INDEX
# The encoder never uses a bigger dynamic table than this, whatever the peer allows.
ENCODER_TABLE_SIZE_CAP = 4096

_ENTRY_OVERHEAD = 32  # RFC 7541 section 4.1
_CACHE_LIMIT = 256  # entries per cache; a full cache is cleared
_SHORT_COOKIE = 20  # shorter cookie values are guessable: never indexed (RFC 7541 7.1.3)
_MAX_INTEGER = 2**32 - 1
_MAX_INTEGER_OCTETS = 5  # continuation octets; 5 * 7 bits cover _MAX_INTEGER
_ALWAYS = -1  # cache validity of an encoding that does not depend on the dynamic table
_PLAIN_LIMIT = 16  # NO_INDEX values up to this many octets are sent without Huffman coding


class HeaderListTooLargeError(ProtocolError):
    """The decoded header list exceeds `Decoder.max_header_list_size` (RFC 9113 6.5.2).

    Raised only after the whole block was processed, so the decoder's dynamic table is still in
    sync with the peer: the caller may treat it as a stream error and keep the connection.
    `size` is the header list size counted over the whole block.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"header list size {size} exceeds the limit of {limit}")
        self.size = size
        self.limit = limit


def encode_integer(value: int, prefix_bits: int, flags: int = 0) -> bytes:
    """`value` with an N-bit prefix (RFC 7541 5.1); `flags` fills the first octet's high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_integer(data: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
    """The integer whose N-bit prefix is in `data[pos]`, and the position after it."""
    if pos >= len(data):
        raise CompressionError("truncated header block: integer expected")
    limit = (1 << prefix_bits) - 1
    value = data[pos] & limit
    if value < limit:
        return value, pos + 1
    return _integer_tail(data, pos + 1, value)


def _integer_tail(data: bytes, pos: int, value: int) -> tuple[int, int]:
    """Add the continuation octets starting at `data[pos]` to the full prefix `value`."""
    shift = 0
    end = len(data)
    for _ in range(_MAX_INTEGER_OCTETS):
        if pos >= end:
            raise CompressionError("truncated header block: integer continues past the end")
        octet = data[pos]
        pos += 1
        value += (octet & 0x7F) << shift
        if not octet & 0x80:
            if value > _MAX_INTEGER:
                raise CompressionError(f"integer {value} is too large")
            return value, pos
        shift += 7
    raise CompressionError("integer has too many continuation octets")


def _octets(text: str) -> int:
    """Length of `text` on the wire."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogateescape"))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# The one-octet representations of the static indexes.
_INDEXED_STATIC: tuple[bytes, ...] = tuple(bytes((0x80 | i,)) for i in range(STATIC_COUNT + 1))


class _EncodedShape:
    """How `Encoder` encoded a block with one VOLATILE field, but for the value's octets."""

    __slots__ = ("after", "before", "head", "longest", "name", "version")

    def __init__(
        self, version: int, before: bytes, name: str, head: bytes, longest: int, after: bytes
    ) -> None:
        self.version = version  # the table state it is valid for (the block left it unchanged)
        self.before = before  # the fields before the volatile one
        self.name = name  # the volatile field's name
        self.head = head  # its representation up to the value's length octet
        self.longest = longest  # the longest value met, in octets (at most _PLAIN_LIMIT)
        self.after = after  # the fields after it


class Encoder:
    """Compresses header blocks for one connection; the peer's `Decoder` must see every block,
    in order."""

    def __init__(self, max_table_size: int = 4096) -> None:
        """`max_table_size` is the peer's SETTINGS_HEADER_TABLE_SIZE the peer's decoder starts
        with (4096 unless the peer's settings are known before the first block)."""
        self._max_size = max_table_size
        self._size = 0
        # (name, value, entry size, sequence number), oldest first.
        self._entries: deque[tuple[str, str, int, int]] = deque()
        self._next_seq = 0  # the newest entry has sequence number _next_seq - 1
        self._field_seq: dict[tuple[str, str], int] = {}  # newest entry of each field
        self._name_seq: dict[str, int] = {}  # newest entry of each name
        self.version = 0  # changes whenever the dynamic table does
        self._resized = False  # a size update must start the next block
        self._min_size = max_table_size  # smallest size since the last block, if _resized
        # Caches; the int is the `version` the entry is valid for, or _ALWAYS.
        self._blocks: dict[Headers | tuple[Headers, frozenset[str]], tuple[int, bytes]] = {}
        self._fields: dict[tuple[str, str] | tuple[str, str, bool], tuple[int, bytes]] = {}
        self._names: dict[str, bytes] = {}  # name -> string literal
        # Blocks with one VOLATILE field: (the fields before it, those after it) -> how they
        # are encoded; `_shape_at` is the field's index in the last such block, or -1.
        self._shapes: dict[tuple[Headers, Headers], _EncodedShape] = {}
        self._shape_at = -1
        # Policy; only tests change it, before the first block.
        self._huffman = True  # Huffman-code strings unless that is longer
        self._never_index = NEVER_INDEX
        self._index_all = False  # ignore NO_INDEX and the size limit for indexing

    @property
    def table_size(self) -> int:
        """Current size of the dynamic table in RFC 7541 octets."""
        return self._size

    @property
    def max_table_size(self) -> int:
        """The dynamic table size in use."""
        return self._max_size

    def dynamic_table(self) -> list[tuple[str, str]]:
        """The dynamic table's entries, newest first."""
        return [(name, value) for name, value, _, _ in reversed(self._entries)]

    def set_max_table_size(self, size: int) -> None:
        """The peer's SETTINGS_HEADER_TABLE_SIZE is now `size`.

        The encoder uses `min(size, ENCODER_TABLE_SIZE_CAP)`; if that changes, the next block
        starts with dynamic table size updates (the smallest size since the last block, then
        the final one).
        """
        if size < 0:
            raise ValueError(f"negative table size {size}")
        size = min(size, ENCODER_TABLE_SIZE_CAP)
        if size == self._max_size:
            return
        self._max_size = size
        self._min_size = min(self._min_size, size) if self._resized else size
        self._resized = True
        self._evict(0)
        self.version += 1
        # Cached literals chose "no indexing" for the old size; let them choose again.
        self._fields.clear()
        self._blocks.clear()
        self._shapes.clear()

    def cached_block(self, fields: Headers) -> bytes | None:
        """The block `encode(fields)` would return, if that is known without encoding.

        That is a block `encode` returned for the same fields, or for the same fields but for
        a VOLATILE value no longer than it met before and made of letters and digits only.
        """
        if self._resized:
            return None
        hit = self._blocks.get(fields)
        if hit is not None and hit[0] == self.version:
            return hit[1]
        if 0 <= self._shape_at < len(fields):
            return self._encode_shape(fields, self._shape_at, True)
        return None

    def forget_blocks(self) -> None:
        """Drop the whole-block cache (the next encodes take the long path once)."""
        self._blocks.clear()
        self._shapes.clear()

    def encode(
        self, headers: Sequence[tuple[str, str]], *, sensitive: frozenset[str] | None = None
    ) -> bytes:
        """One header block for `headers` (names must be lower-case; not checked).

        Names in `NEVER_INDEX` or `sensitive` are sent as never-indexed literals, names in
        `NO_INDEX` and big fields as literals without indexing; other fields are indexed
        references when in a table, else literals with incremental indexing.
        """
        fields = headers if type(headers) is tuple else tuple(headers)
        # A (fields, frozenset) pair never equals a tuple of (str, str) pairs.
        key = fields if sensitive is None else (fields, sensitive)
        if not self._resized:
            hit = self._blocks.get(key)
            if hit is not None and hit[0] == self.version:
                return hit[1]
            if sensitive is None and 0 <= self._shape_at < len(fields):
                shaped = self._encode_shape(fields, self._shape_at, False)
                if shaped is not None:
                    return shaped
        start_version = version = self.version
        resized = self._resized
        parts: list[bytes] = [self._size_updates()] if resized else []
        # Field cache keys: the field itself, or (name, value, True) when `sensitive` has it.
        cache = self._fields
        volatile_at = -1  # the part of the one VOLATILE field not found in the cache; -2: more
        for field in fields:
            field_key: tuple[str, str] | tuple[str, str, bool] = field
            if sensitive is not None and field[0] in sensitive:
                field_key = (field[0], field[1], True)
                never = True
            else:
                never = False
            hit = cache.get(field_key)
            if hit is not None and (hit[0] == version or hit[0] == _ALWAYS):
                parts.append(hit[1])
                continue
            name, value = field
            never = never or self._never_indexed(name, value)
            encoded, validity = self._encode_field(name, value, never)
            if name in VOLATILE:  # a value for this call only: not cached
                volatile_at = len(parts) if volatile_at == -1 else -2
                parts.append(encoded)
                version = self.version  # (changed only if a test made it indexed)
                continue
            parts.append(encoded)
            if self.version == version:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[field_key] = (validity, encoded)
            else:
                version = self.version
        block = b"".join(parts)
        if version == start_version and self.version == version and not resized:
            if volatile_at < 0:
                if len(self._blocks) >= _CACHE_LIMIT:
                    self._blocks.clear()
                self._blocks[key] = (version, block)
            elif sensitive is None:
                self._remember_shape(fields, parts, volatile_at)
        return block

    def _encode_shape(self, fields: Headers, at: int, unchecked: bool) -> bytes | None:
        """The block for `fields` from a shape whose volatile field is at `at`, if known.

        With `unchecked`, only if the volatile value passes for a valid field value and is
        no longer than those `encode` met with this shape, so the header list is no bigger
        (`encode` only meets fields the connection checked).
        """
        name, value = fields[at]
        if name not in VOLATILE:
            return None
        shape = self._shapes.get((fields[:at], fields[at + 1 :]))
        if shape is None or shape.version != self.version or shape.name != name:
            return None
        raw = value.encode("utf-8", "surrogateescape")
        if unchecked:
            # Letters and digits only: no CR, LF, NUL or whitespace (RFC 9113 8.2.1).
            if len(raw) > shape.longest or not value.isalnum():
                return None
        elif len(raw) > shape.longest:
            if len(raw) > _PLAIN_LIMIT:
                return None
            shape.longest = len(raw)
        return b"".join((shape.before, shape.head, bytes((len(raw),)), raw, shape.after))

    def _remember_shape(self, fields: Headers, parts: list[bytes], at: int) -> None:
        """Cache the shape of `fields`, encoded as `parts` (unchanged table; `parts[at]` is
        the one volatile field, a literal without indexing)."""
        name, value = fields[at]
        raw = value.encode("utf-8", "surrogateescape")
        if self._index_all or len(raw) > _PLAIN_LIMIT:
            return
        string = bytes((len(raw),)) + raw
        literal = parts[at]
        if (
            not literal.endswith(string)
            or literal[0] & 0xC0  # not a literal without indexing (or never indexed)
        ):
            return
        shapes = self._shapes
        if len(shapes) >= _CACHE_LIMIT:
            shapes.clear()
        shapes[(fields[:at], fields[at + 1 :])] = _EncodedShape(
            self.version,
            b"".join(parts[:at]),
            name,
            literal[: len(literal) - len(string)],
            len(raw),
            b"".join(parts[at + 1 :]),
        )
        self._shape_at = at

    def _never_indexed(self, name: str, value: str) -> bool:
        return name in self._never_index or (name == "cookie" and len(value) < _SHORT_COOKIE)

    def _size_updates(self) -> bytes:
        self._resized = False
        low, final = self._min_size, self._max_size
        update = encode_integer(final, 5, 0x20)
        return encode_integer(low, 5, 0x20) + update if low < final else update

    def _encode_field(self, name: str, value: str, never: bool) -> tuple[bytes, int]:
        """The representation of one field, and the `version` it is valid for (or _ALWAYS).
        Inserts the field into the dynamic table if it is to be indexed."""
        if not never:
            index = STATIC_FIELD_INDEX.get((name, value))
            if index is not None:
                return _INDEXED_STATIC[index], _ALWAYS
            seq = self._field_seq.get((name, value))
            if seq is not None:
                return encode_integer(self._next_seq - seq + STATIC_COUNT, 7, 0x80), self.version
        validity = _ALWAYS
        name_index = STATIC_NAME_INDEX.get(name, 0)
        if not name_index:
            seq = self._name_seq.get(name)
            if seq is not None:
                name_index = self._next_seq - seq + STATIC_COUNT
                validity = self.version
        raw_value = value.encode("utf-8", "surrogateescape")
        plain = False
        if never:
            flags, prefix_bits = 0x10, 4
        elif name in NO_INDEX and not self._index_all:
            # Per-call values (grpc-timeout): Huffman would save a byte or two and cost the
            # peer's decoder a Huffman pass on a string it will never see again.
            flags, prefix_bits = 0x00, 4
            plain = len(raw_value) <= _PLAIN_LIMIT
        else:
            size = _octets(name) + len(raw_value) + _ENTRY_OVERHEAD
            if self._index_all or size <= self._max_size >> 2:
                flags, prefix_bits = 0x40, 6
                self._insert(name, value, size)
            else:
                flags, prefix_bits = 0x00, 4
        if name_index:
            head = encode_integer(name_index, prefix_bits, flags)
        else:
            head = bytes((flags,)) + self._encode_name(name)
        if plain:
            return head + bytes((len(raw_value),)) + raw_value, validity
        return head + self._encode_string(raw_value), validity

    def _encode_name(self, name: str) -> bytes:
        """`_encode_string` for names, which repeat: cached."""
        encoded = self._names.get(name)
        if encoded is None:
            encoded = self._encode_string(name.encode("utf-8", "surrogateescape"))
            if len(self._names) >= _CACHE_LIMIT:
                self._names.clear()
            self._names[name] = encoded
        return encoded

    def _encode_string(self, raw: bytes) -> bytes:
        """A string literal (RFC 7541 5.2), Huffman-coded unless that is longer."""
        if self._huffman and raw:
            packed = huffman_encode(raw)
            if len(packed) <= len(raw):
                if len(packed) < 0x7F:
                    return bytes((0x80 | len(packed),)) + packed
                return encode_integer(len(packed), 7, 0x80) + packed
        if len(raw) < 0x7F:
            return bytes((len(raw),)) + raw
        return encode_integer(len(raw), 7) + raw

    def _insert(self, name: str, value: str, size: int) -> None:
        self.version += 1
        if size > self._max_size:
            self._evict(self._max_size)  # empties the table (RFC 7541 4.4)
            return
        self._evict(size)
        seq = self._next_seq
        self._next_seq = seq + 1
        self._entries.append((name, value, size, seq))
        self._size += size
        self._field_seq[(name, value)] = seq
        self._name_seq[name] = seq

    def _evict(self, room: int) -> None:
        """Drop the oldest entries until `room` more octets fit."""
        entries = self._entries
        while entries and self._size + room > self._max_size:
            name, value, size, seq = entries.popleft()
            self._size -= size
            if self._field_seq.get((name, value)) == seq:
                del self._field_seq[(name, value)]
            if self._name_seq.get(name) == seq:
                del self._name_seq[name]


# `Decoder.split`: (the header list without VOLATILE fields, the first one's value, its index).
Split = tuple[Headers, str, int]


class _Shape:
    """A block with one volatile literal, minus the literal's value: what the rest meant."""

    __slots__ = ("after", "before", "name", "size", "split_base", "version")

    def __init__(
        self, version: int, before: Headers, name: str, after: Headers, size: int, base: Headers
    ) -> None:
        self.version = version  # the table state the block was decoded with (unchanged by it)
        self.before = before  # the fields before the literal
        self.name = name  # the literal's name
        self.after = after  # the fields after it
        self.size = size  # the header list size without the literal's value octets
        self.split_base = base  # before + after, interned


class _Run:
    """The leading indexed fields of a block, by absolute entry: their octets at any later
    table state (while the entries are in the table) are known without parsing.

    A peer that indexes every new grpc-timeout value (grpc-go, grpcio, h2) sends blocks that
    begin with the same fields, their dynamic indexes one higher per insertion since the last
    block; the rest (the new timeout literal) is decoded as usual.
    """

    __slots__ = ("base", "encoded", "fields", "inserted", "oldest", "refs", "shiftable", "size")

    def __init__(self, refs: tuple[int, ...], fields: Headers, size: int, oldest: int) -> None:
        # A static index (1-61) or -1 - an entry's absolute number (`Decoder._inserted` when
        # it was inserted): at table state `inserted`, its index is `inserted + 62 + ref`.
        self.refs = refs
        self.fields = fields  # what they decode to
        self.size = size  # their share of the header list size
        self.oldest = oldest  # the smallest absolute number among them
        self.inserted = -1  # the `Decoder._inserted` that `encoded` was made for
        self.encoded = b""  # their representations then
        self.shiftable = False  # `encoded` holds indexes < 255 only: see `_SHIFT`
        self.base: Headers | None = None  # `fields`, interned as a `split` base

    def encode(self, inserted: int) -> None:
        """Make `encoded` the run's representations at table state `inserted`."""
        if inserted == self.inserted + 1 and self.shiftable:
            encoded = self.encoded.translate(_SHIFT)
            if 0x80 not in encoded:
                self.encoded = encoded
                self.inserted = inserted
                return
        indexes = [ref if ref > 0 else inserted + 62 + ref for ref in self.refs]
        self.encoded = b"".join([_indexed_octets(index) for index in indexes])
        self.shiftable = max(indexes) < 255
        self.inserted = inserted


def _indexed_octets(index: int) -> bytes:
    """The indexed field representation (RFC 7541 6.1) of `index`."""
    if index < len(_INDEXED_OCTETS):
        return _INDEXED_OCTETS[index]
    return encode_integer(index, 7, 0x80)


_INDEXED_OCTETS: tuple[bytes, ...] = tuple(encode_integer(i, 7, 0x80) for i in range(512))
# Every dynamic index + 1 in a sequence of indexed field representations whose indexes are all
# below 255: one-octet dynamic indexes 62-125 (0xbe-0xfd) and the continuation octet of indexes
# 127-253 (0x00-0x7e) go up by one; static indexes (0x81-0xbd) and 0xff stay. Index 126 (0xfe,
# which would become 0xff 0x00) and 254 (0xff 0x7f: 0xff 0x80 0x01) become 0x80, which no index
# below 255 contains: such a sequence is encoded afresh.
_SHIFT = bytes(
    0x80 if i in (0x7F, 0xFE) else i + 1 if i < 0x7F or 0xBE <= i < 0xFE else i for i in range(256)
)
_RUN_LIMIT = 2  # runs a decoder keeps


class Decoder:
    """Decompresses the header blocks of one connection, in the order the peer sent them."""

    def __init__(self, max_table_size: int = 4096, max_header_list_size: int = 65536) -> None:
        """`max_table_size` is our SETTINGS_HEADER_TABLE_SIZE as the peer's encoder knows it
        when the first block is encoded (4096 before our SETTINGS are acknowledged)."""
        self._max_allowed = max_table_size  # the peer may not use more
        self._max_size = max_table_size  # the size the peer's last size update chose
        self._update_required = False
        self.max_header_list_size = max_header_list_size
        self._size = 0
        # ((name, value), entry size, name octets, volatile name), oldest first.
        self._entries: list[tuple[tuple[str, str], int, int, bool]] = []
        self._version = 0  # changes whenever the dynamic table does
        # block -> (_version, headers, header list size)
        self._blocks: dict[bytes, tuple[int, Headers, int]] = {}
        self._strings: dict[bytes, tuple[str, int]] = {}  # Huffman code -> (text, octets)
        # Blocks with one volatile literal without indexing: (the octets before the literal,
        # those after its value) -> _Shape; `_volatile_head` is the literal's representation
        # up to its value (first octet and name) in the last such block.
        self._shapes: dict[tuple[bytes, bytes], _Shape] = {}
        self._volatile_head = b""
        self._bases: dict[Headers, Headers] = {}  # interned `split` bases
        # Absolute entry numbers: entries ever inserted and ever evicted (the number of
        # `_entries[0]`); and the runs of recent blocks, most recently used first.
        self._inserted = 0
        self._dropped = 0
        self._runs: list[_Run] = []
        # Set by `_decode`: where the volatile fields are (see there).
        self._volatile: tuple[int, int, tuple[int, int, int, int] | None] | None = None
        self.split: Split | None = None

    @property
    def max_table_size(self) -> int:
        """The SETTINGS_HEADER_TABLE_SIZE we advertise; a size update above it is an error.

        Set it when the peer acknowledges the SETTINGS that changed it. If it is lowered below
        the size the peer uses, the next block must start with a size update.
        """
        return self._max_allowed

    @max_table_size.setter
    def max_table_size(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"negative table size {size}")
        self._max_allowed = size
        if size < self._max_size:
            self._update_required = True
            self._version += 1

    @property
    def table_size(self) -> int:
        """Current size of the dynamic table in RFC 7541 octets."""
        return self._size

    def dynamic_table(self) -> list[tuple[str, str]]:
        """The dynamic table's entries, newest first."""
        return [entry[0] for entry in reversed(self._entries)]

    def decode(self, block: bytes | memoryview) -> Headers:
        """The header list of one complete header block.

        Raises `CompressionError` for any malformed block (the connection is then unusable),
        and `HeaderListTooLargeError` after processing a block whose header list exceeds
        `max_header_list_size` (the connection stays usable). Equal blocks decoded with the
        same table state return the same tuple.

        Afterwards `split` is None if no field's name is in `VOLATILE`, else `(base, value,
        position)`: `base` is the list without those fields (an equal base is usually the
        same object as last time), `value` the first such field's value and `position` its
        index in the list.
        """
        data = block if type(block) is bytes else bytes(block)
        hit = self._blocks.get(data)
        if hit is not None and hit[0] == self._version:
            self.split = None
            if hit[2] > self.max_header_list_size:
                raise HeaderListTooLargeError(hit[2], self.max_header_list_size)
            return hit[1]
        head = self._volatile_head
        if head:
            # A block of a cached shape? If the octets before `head` and after the value are
            # those of a block that decoded to fields ending there, with this table, the same
            # holds for them here; and `head` then starts the volatile literal.
            start = data.find(head)
            if start >= 0:
                at = start + len(head)
                if at < len(data):
                    octet = data[at]
                    stop = at + 1 + (octet & 0x7F)
                    if octet & 0x7F != 0x7F and stop <= len(data):
                        shape = self._shapes.get((data[:start], data[stop:]))
                        if shape is not None and shape.version == self._version:
                            return self._from_shape(shape, data[at + 1 : stop], octet)
        version = self._version
        inserted = self._inserted
        run = self._find_run(data) if self._runs and not self._update_required else None
        if run is not None:
            # The common case of a peer that indexes grpc-timeout: the run, then a literal
            # with incremental indexing of a volatile field named by a dynamic entry.
            at = len(run.encoded)
            if len(data) - at >= 2:
                octet = data[at]
                index = octet - 0x40
                if STATIC_COUNT < index < 0x3F and index - STATIC_COUNT <= len(self._entries):
                    entry = self._entries[STATIC_COUNT - index]
                    length = data[at + 1]
                    value_octets = length & 0x7F
                    if entry[3] and value_octets != 0x7F and at + 2 + value_octets == len(data):
                        return self._run_literal(run, entry, data[at + 2 :], length)
            # The run's octets begin the block: its fields begin the header list.
            headers, size = self._decode(data, at, [*run.fields], run.size)
        else:
            headers, size = self._decode(data)
        volatile = self._volatile
        if volatile is None:
            self.split = None
        elif run is not None and volatile[1] == 1 and volatile[0] == len(run.fields):
            # The volatile field right after the run, and the only one.
            base = run.base
            if len(headers) == len(run.fields) + 1 and base is not None:
                self.split = (base, headers[-1][1], volatile[0])
            else:
                self.split = split = self._split(headers, volatile[0], 1)
                if len(headers) == len(run.fields) + 1:
                    run.base = split[0]
        else:
            self.split = self._split(headers, volatile[0], volatile[1])
        if size > self.max_header_list_size:
            raise HeaderListTooLargeError(size, self.max_header_list_size)
        if run is None or (len(run.encoded) < len(data) and data[len(run.encoded)] & 0x80):
            # (or the block continues with more indexed fields than the run had)
            self._learn_run(data, inserted, headers)
        if self._version == version:
            if volatile is None:
                if len(self._blocks) >= _CACHE_LIMIT:
                    self._blocks.clear()
                self._blocks[data] = (version, headers, size)
            elif volatile[2] is not None:
                self._remember_shape(data, headers, size, volatile[0], volatile[2])
        return headers

    def _run_literal(
        self, run: _Run, entry: tuple[tuple[str, str], int, int, bool], raw: bytes, length: int
    ) -> Headers:
        """The block of `run` and a literal with incremental indexing whose name is that of
        volatile dynamic `entry` and whose value is `raw` (Huffman-coded if `length`, its
        length octet, says so), which ends the block."""
        if length & 0x80:
            raw = huffman_decode(raw)
        value = raw.decode("utf-8", "surrogateescape")
        name_octets = entry[2]
        field_size = name_octets + len(raw) + _ENTRY_OVERHEAD
        field = (entry[0][0], value)
        # _insert, inline
        self._version += 1
        self._inserted += 1
        if field_size > self._max_size:
            self._entries.clear()  # RFC 7541 4.4
            self._size = 0
            self._dropped = self._inserted
        else:
            if self._size + field_size > self._max_size:
                self._evict(self._max_size - field_size)
            self._entries.append((field, field_size, name_octets, True))
            self._size += field_size
        base = run.base
        if base is None:
            base = run.base = self._intern(run.fields)
        self.split = (base, value, len(run.fields))
        size = run.size + field_size
        if size > self.max_header_list_size:
            raise HeaderListTooLargeError(size, self.max_header_list_size)
        return (*run.fields, field)

    def _find_run(self, data: bytes) -> _Run | None:
        """A run whose octets begin `data` at the current table state, if one is known."""
        inserted = self._inserted
        runs = self._runs
        for i, run in enumerate(runs):
            if run.oldest < self._dropped:
                continue  # some of its entries were evicted
            if run.inserted != inserted:
                run.encode(inserted)
            if data.startswith(run.encoded) and run.size <= self.max_header_list_size:
                if i:
                    del runs[i]
                    runs.insert(0, run)
                return run
        return None

    def _learn_run(self, data: bytes, inserted: int, headers: Headers) -> None:
        """Remember the indexed fields that begin `data`, which was decoded to `headers`
        starting at table state `inserted`, if they include dynamic entries."""
        refs: list[int] = []
        size = 0
        oldest = inserted
        dropped = self._dropped
        entries = self._entries
        pos = 0
        end = len(data)
        while pos < end and data[pos] & 0x80:
            index = data[pos] & 0x7F
            if index == 0x7F:
                index, after = _integer_tail(data, pos + 1, index)
            else:
                after = pos + 1
            if index <= STATIC_COUNT:
                refs.append(index)
                size += STATIC_SIZES[index]
            else:
                number = inserted + STATIC_COUNT - index
                if number < dropped:
                    break  # evicted by this block already
                entry = entries[number - dropped]
                if entry[3]:
                    break  # a volatile field: not part of a run
                refs.append(-1 - number)
                size += entry[1]
                oldest = min(oldest, number)
            pos = after
        if oldest == inserted or len(refs) > len(headers):
            return  # no dynamic entries (or fields beyond the header list size limit)
        runs = self._runs
        runs.insert(0, _Run(tuple(refs), headers[: len(refs)], size, oldest))
        del runs[_RUN_LIMIT:]

    def _from_shape(self, shape: _Shape, raw: bytes, octet: int) -> Headers:
        """The block of `shape` whose volatile value is `raw` (Huffman-coded if `octet`, its
        length octet, says so)."""
        if octet & 0x80:
            raw = huffman_decode(raw)
        size = shape.size + len(raw)
        value = _text(raw)
        before = shape.before
        self.split = (shape.split_base, value, len(before))
        if size > self.max_header_list_size:
            raise HeaderListTooLargeError(size, self.max_header_list_size)
        return (*before, (shape.name, value), *shape.after)

    def _remember_shape(
        self,
        data: bytes,
        headers: Headers,
        size: int,
        position: int,
        literal: tuple[int, int, int, int],
    ) -> None:
        start, value_at, stop, value_octets = literal
        split = self.split
        assert split is not None
        before = headers[:position]
        after = headers[position + 1 :]
        shapes = self._shapes
        if len(shapes) >= _CACHE_LIMIT:
            shapes.clear()
        shapes[(data[:start], data[stop:])] = _Shape(
            self._version, before, headers[position][0], after, size - value_octets, split[0]
        )
        self._volatile_head = data[start:value_at]

    def _split(self, headers: Headers, position: int, count: int) -> Split:
        value = headers[position][1]
        if count == 1:
            base = headers[:position] + headers[position + 1 :]
        else:
            base = tuple([field for field in headers if field[0] not in VOLATILE])
        return self._intern(base), value, position

    def _intern(self, base: Headers) -> Headers:
        interned = self._bases.get(base)
        if interned is None:
            if len(self._bases) >= _CACHE_LIMIT:
                self._bases.clear()
            self._bases[base] = interned = base
        return interned

    def _decode(
        self, data: bytes, pos: int = 0, out: list[tuple[str, str]] | None = None, size: int = 0
    ) -> tuple[Headers, int]:
        """The fields of `data` (only as many as fit in the limit) and the header list size.

        From `pos` on if given, `out` and `size` being the fields before it (within the limit,
        none of them volatile) and their size.

        Sets `_volatile` if fields within the limit have a name in VOLATILE: (the index of the
        first, how many, and if it is the only one and a literal without indexing whose value's
        length fits in one octet: the offsets of the literal, of its value's length octet and
        of the end of the value, and the value's octets; else None).
        """
        if self._update_required and (not data or data[0] & 0xE0 != 0x20):
            raise CompressionError("header block must start with a dynamic table size update")
        self._volatile = None
        if out is None:
            out = []
        append = out.append
        # size: the header list size; > 0 once a field was decoded
        limit = self.max_header_list_size
        entries = self._entries
        static_table = STATIC_TABLE
        static_sizes = STATIC_SIZES
        volatile_names = VOLATILE
        volatiles = 0  # fields with a VOLATILE name within the limit
        first = -1  # the index of the first
        literal: tuple[int, int, int, int] | None = None  # if it is a literal without indexing
        updates = 0
        end = len(data)
        while pos < end:
            start = pos
            octet = data[pos]
            pos += 1
            if octet & 0x80:  # indexed field (6.1)
                index = octet & 0x7F
                if index == 0x7F:
                    if pos < end and data[pos] < 0x80:  # one continuation octet: inline
                        index += data[pos]
                        pos += 1
                    else:
                        index, pos = _integer_tail(data, pos, index)
                if index <= 61:  # STATIC_COUNT, as a constant for speed
                    if not index:
                        raise CompressionError("indexed field with index 0")
                    field = static_table[index]
                    size += static_sizes[index]
                else:
                    try:
                        field, field_size, _, is_volatile = entries[61 - index]
                    except IndexError:
                        raise CompressionError(self._bad_index(index)) from None
                    size += field_size
                    if is_volatile and size <= limit:
                        if not volatiles:
                            first = len(out)
                        volatiles += 1
            elif octet & 0x40:  # literal with incremental indexing (6.2.1)
                index = octet & 0x3F
                if index == 0x3F:
                    index, pos = _integer_tail(data, pos, index)
                if index:
                    name, name_octets = self._indexed_name(index)
                else:
                    name, name_octets, pos = self._string(data, pos, True)
                is_volatile = name in volatile_names
                value, value_octets, pos = self._string(data, pos, not is_volatile)
                field = (name, value)
                field_size = name_octets + value_octets + _ENTRY_OVERHEAD
                size += field_size
                self._insert(field, field_size, name_octets, is_volatile)
                if is_volatile and size <= limit:
                    if not volatiles:
                        first = len(out)
                    volatiles += 1
            elif octet & 0x20:  # dynamic table size update (6.3)
                new_size = octet & 0x1F
                if new_size == 0x1F:
                    new_size, pos = _integer_tail(data, pos, new_size)
                if size:
                    raise CompressionError("dynamic table size update after a header field")
                updates += 1
                if updates > 2:
                    raise CompressionError("more than two dynamic table size updates")
                if new_size > self._max_allowed:
                    raise CompressionError(
                        f"dynamic table size update to {new_size} above the maximum "
                        f"{self._max_allowed}"
                    )
                self._resize(new_size)
                continue
            else:  # literal without indexing (6.2.2) or never indexed (6.2.3)
                index = octet & 0x0F
                if index == 0x0F:
                    index, pos = _integer_tail(data, pos, index)
                if index:
                    name, name_octets = self._indexed_name(index)
                else:
                    name, name_octets, pos = self._string(data, pos, True)
                value_at = pos
                is_volatile = name in volatile_names
                value, value_octets, pos = self._string(data, pos, not is_volatile)
                field = (name, value)
                size += name_octets + value_octets + _ENTRY_OVERHEAD
                if is_volatile and size <= limit:
                    if not volatiles:
                        first = len(out)
                        # Where the literal starts, and its value's length octet and end.
                        literal = (start, value_at, pos, value_octets)
                    volatiles += 1
            if size <= limit:
                append(field)
        if volatiles:
            if volatiles > 1 or literal is None or data[literal[1]] & 0x7F == 0x7F:
                literal = None  # not worth a shape: several, or a long value
            self._volatile = (first, volatiles, literal)
        return tuple(out), size

    def _bad_index(self, index: int) -> str:
        return f"index {index} beyond the tables ({STATIC_COUNT} + {len(self._entries)} entries)"

    def _indexed_name(self, index: int) -> tuple[str, int]:
        """The name of table entry `index` (> 0) and its length in octets."""
        if index <= STATIC_COUNT:
            name = STATIC_TABLE[index][0]
            return name, len(name)
        if index - STATIC_COUNT > len(self._entries):
            raise CompressionError(self._bad_index(index))
        entry = self._entries[STATIC_COUNT - index]
        return entry[0][0], entry[2]

    def _string(self, data: bytes, pos: int, cache: bool) -> tuple[str, int, int]:
        """A string literal at `data[pos]`: (text, octets, position after it). A Huffman-coded
        one is looked up in, and if `cache` added to, the string cache."""
        if pos >= len(data):
            raise CompressionError("truncated header block: string expected")
        octet = data[pos]
        length = octet & 0x7F
        pos += 1
        if length == 0x7F:
            length, pos = _integer_tail(data, pos, length)
        stop = pos + length
        if stop > len(data):
            raise CompressionError("string literal runs past the end of the header block")
        raw = data[pos:stop]
        if not octet & 0x80:
            return _text(raw), length, stop
        hit = self._strings.get(raw)
        if hit is None:
            decoded = huffman_decode(raw)
            hit = (_text(decoded), len(decoded))
            if cache:
                if len(self._strings) >= _CACHE_LIMIT:
                    self._strings.clear()
                self._strings[raw] = hit
        return hit[0], hit[1], stop

    def _insert(self, field: tuple[str, str], size: int, name_octets: int, volatile: bool) -> None:
        self._version += 1
        self._inserted += 1
        if size > self._max_size:
            self._entries.clear()  # RFC 7541 4.4
            self._size = 0
            self._dropped = self._inserted
            return
        self._evict(self._max_size - size)
        self._entries.append((field, size, name_octets, volatile))
        self._size += size

    def _resize(self, size: int) -> None:
        self._version += 1
        self._max_size = size
        self._update_required = False
        self._evict(size)

    def _evict(self, target: int) -> None:
        """Drop the oldest entries until the table size is at most `target`."""
        entries = self._entries
        drop = 0
        total = self._size
        while total > target:
            total -= entries[drop][1]
            drop += 1
        if drop:
            del entries[:drop]
            self._size = total
            self._dropped += drop
