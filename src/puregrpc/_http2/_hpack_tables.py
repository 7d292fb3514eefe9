"""Constant tables of HPACK (RFC 7541): the static table and the Huffman code.

The Huffman decoder tables are built once at import: a state machine that consumes one input
octet per step (see `HUFFMAN_NEXT`).
"""

from __future__ import annotations

# RFC 7541 Appendix A. Index 0 is unused so that `STATIC_TABLE[i]` is HPACK index i.
STATIC_TABLE: tuple[tuple[str, str], ...] = (
    ("", ""),
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
)
STATIC_COUNT = 61

# Byte size of each static entry as the RFC counts it (all static strings are ASCII).
STATIC_SIZES: tuple[int, ...] = tuple(len(n) + len(v) + 32 for n, v in STATIC_TABLE)

# (name, value) -> lowest index, and name -> lowest index, for the encoder.
STATIC_FIELD_INDEX: dict[tuple[str, str], int] = {}
STATIC_NAME_INDEX: dict[str, int] = {}
for _i in range(STATIC_COUNT, 0, -1):
    STATIC_FIELD_INDEX[STATIC_TABLE[_i]] = _i
    STATIC_NAME_INDEX[STATIC_TABLE[_i][0]] = _i

EOS = 256

# RFC 7541 Appendix B: (code aligned to the least significant bit, length in bits) for the
# symbols 0..255 and EOS (256). The code is canonical: sorting by (length, symbol) numbers the
# codes consecutively.
# fmt: off
HUFFMAN_CODES: tuple[tuple[int, int], ...] = (
    (0x1FF8, 13), (0x7FFFD8, 23), (0xFFFFFE2, 28), (0xFFFFFE3, 28),  # 0
    (0xFFFFFE4, 28), (0xFFFFFE5, 28), (0xFFFFFE6, 28), (0xFFFFFE7, 28),  # 4
    (0xFFFFFE8, 28), (0xFFFFEA, 24), (0x3FFFFFFC, 30), (0xFFFFFE9, 28),  # 8
    (0xFFFFFEA, 28), (0x3FFFFFFD, 30), (0xFFFFFEB, 28), (0xFFFFFEC, 28),  # 12
    (0xFFFFFED, 28), (0xFFFFFEE, 28), (0xFFFFFEF, 28), (0xFFFFFF0, 28),  # 16
    (0xFFFFFF1, 28), (0xFFFFFF2, 28), (0x3FFFFFFE, 30), (0xFFFFFF3, 28),  # 20
    (0xFFFFFF4, 28), (0xFFFFFF5, 28), (0xFFFFFF6, 28), (0xFFFFFF7, 28),  # 24
    (0xFFFFFF8, 28), (0xFFFFFF9, 28), (0xFFFFFFA, 28), (0xFFFFFFB, 28),  # 28
    (0x14, 6), (0x3F8, 10), (0x3F9, 10), (0xFFA, 12),  # 32
    (0x1FF9, 13), (0x15, 6), (0xF8, 8), (0x7FA, 11),  # 36
    (0x3FA, 10), (0x3FB, 10), (0xF9, 8), (0x7FB, 11),  # 40
    (0xFA, 8), (0x16, 6), (0x17, 6), (0x18, 6),  # 44
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6),  # 48
    (0x1A, 6), (0x1B, 6), (0x1C, 6), (0x1D, 6),  # 52
    (0x1E, 6), (0x1F, 6), (0x5C, 7), (0xFB, 8),  # 56
    (0x7FFC, 15), (0x20, 6), (0xFFB, 12), (0x3FC, 10),  # 60
    (0x1FFA, 13), (0x21, 6), (0x5D, 7), (0x5E, 7),  # 64
    (0x5F, 7), (0x60, 7), (0x61, 7), (0x62, 7),  # 68
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7),  # 72
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6A, 7),  # 76
    (0x6B, 7), (0x6C, 7), (0x6D, 7), (0x6E, 7),  # 80
    (0x6F, 7), (0x70, 7), (0x71, 7), (0x72, 7),  # 84
    (0xFC, 8), (0x73, 7), (0xFD, 8), (0x1FFB, 13),  # 88
    (0x7FFF0, 19), (0x1FFC, 13), (0x3FFC, 14), (0x22, 6),  # 92
    (0x7FFD, 15), (0x3, 5), (0x23, 6), (0x4, 5),  # 96
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),  # 100
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),  # 104
    (0x28, 6), (0x29, 6), (0x2A, 6), (0x7, 5),  # 108
    (0x2B, 6), (0x76, 7), (0x2C, 6), (0x8, 5),  # 112
    (0x9, 5), (0x2D, 6), (0x77, 7), (0x78, 7),  # 116
    (0x79, 7), (0x7A, 7), (0x7B, 7), (0x7FFE, 15),  # 120
    (0x7FC, 11), (0x3FFD, 14), (0x1FFD, 13), (0xFFFFFFC, 28),  # 124
    (0xFFFE6, 20), (0x3FFFD2, 22), (0xFFFE7, 20), (0xFFFE8, 20),  # 128
    (0x3FFFD3, 22), (0x3FFFD4, 22), (0x3FFFD5, 22), (0x7FFFD9, 23),  # 132
    (0x3FFFD6, 22), (0x7FFFDA, 23), (0x7FFFDB, 23), (0x7FFFDC, 23),  # 136
    (0x7FFFDD, 23), (0x7FFFDE, 23), (0xFFFFEB, 24), (0x7FFFDF, 23),  # 140
    (0xFFFFEC, 24), (0xFFFFED, 24), (0x3FFFD7, 22), (0x7FFFE0, 23),  # 144
    (0xFFFFEE, 24), (0x7FFFE1, 23), (0x7FFFE2, 23), (0x7FFFE3, 23),  # 148
    (0x7FFFE4, 23), (0x1FFFDC, 21), (0x3FFFD8, 22), (0x7FFFE5, 23),  # 152
    (0x3FFFD9, 22), (0x7FFFE6, 23), (0x7FFFE7, 23), (0xFFFFEF, 24),  # 156
    (0x3FFFDA, 22), (0x1FFFDD, 21), (0xFFFE9, 20), (0x3FFFDB, 22),  # 160
    (0x3FFFDC, 22), (0x7FFFE8, 23), (0x7FFFE9, 23), (0x1FFFDE, 21),  # 164
    (0x7FFFEA, 23), (0x3FFFDD, 22), (0x3FFFDE, 22), (0xFFFFF0, 24),  # 168
    (0x1FFFDF, 21), (0x3FFFDF, 22), (0x7FFFEB, 23), (0x7FFFEC, 23),  # 172
    (0x1FFFE0, 21), (0x1FFFE1, 21), (0x3FFFE0, 22), (0x1FFFE2, 21),  # 176
    (0x7FFFED, 23), (0x3FFFE1, 22), (0x7FFFEE, 23), (0x7FFFEF, 23),  # 180
    (0xFFFEA, 20), (0x3FFFE2, 22), (0x3FFFE3, 22), (0x3FFFE4, 22),  # 184
    (0x7FFFF0, 23), (0x3FFFE5, 22), (0x3FFFE6, 22), (0x7FFFF1, 23),  # 188
    (0x3FFFFE0, 26), (0x3FFFFE1, 26), (0xFFFEB, 20), (0x7FFF1, 19),  # 192
    (0x3FFFE7, 22), (0x7FFFF2, 23), (0x3FFFE8, 22), (0x1FFFFEC, 25),  # 196
    (0x3FFFFE2, 26), (0x3FFFFE3, 26), (0x3FFFFE4, 26), (0x7FFFFDE, 27),  # 200
    (0x7FFFFDF, 27), (0x3FFFFE5, 26), (0xFFFFF1, 24), (0x1FFFFED, 25),  # 204
    (0x7FFF2, 19), (0x1FFFE3, 21), (0x3FFFFE6, 26), (0x7FFFFE0, 27),  # 208
    (0x7FFFFE1, 27), (0x3FFFFE7, 26), (0x7FFFFE2, 27), (0xFFFFF2, 24),  # 212
    (0x1FFFE4, 21), (0x1FFFE5, 21), (0x3FFFFE8, 26), (0x3FFFFE9, 26),  # 216
    (0xFFFFFFD, 28), (0x7FFFFE3, 27), (0x7FFFFE4, 27), (0x7FFFFE5, 27),  # 220
    (0xFFFEC, 20), (0xFFFFF3, 24), (0xFFFED, 20), (0x1FFFE6, 21),  # 224
    (0x3FFFE9, 22), (0x1FFFE7, 21), (0x1FFFE8, 21), (0x7FFFF3, 23),  # 228
    (0x3FFFEA, 22), (0x3FFFEB, 22), (0x1FFFFEE, 25), (0x1FFFFEF, 25),  # 232
    (0xFFFFF4, 24), (0xFFFFF5, 24), (0x3FFFFEA, 26), (0x7FFFF4, 23),  # 236
    (0x3FFFFEB, 26), (0x7FFFFE6, 27), (0x3FFFFEC, 26), (0x3FFFFED, 26),  # 240
    (0x7FFFFE7, 27), (0x7FFFFE8, 27), (0x7FFFFE9, 27), (0x7FFFFEA, 27),  # 244
    (0x7FFFFEB, 27), (0xFFFFFFE, 28), (0x7FFFFEC, 27), (0x7FFFFED, 27),  # 248
    (0x7FFFFEE, 27), (0x7FFFFEF, 27), (0x7FFFFF0, 27), (0x3FFFFEE, 26),  # 252
    (0x3FFFFFFF, 30),  # 256
)
# fmt: on


def _build_tree() -> list[list[int]]:
    """Internal nodes of the code tree; node 0 is the root. A child >= 0 is another internal
    node, a child < 0 is the leaf of symbol `-child - 1`."""
    nodes: list[list[int]] = [[0, 0]]
    free: list[list[bool]] = [[True, True]]
    for symbol, (code, length) in enumerate(HUFFMAN_CODES):
        node = 0
        for shift in range(length - 1, 0, -1):
            bit = (code >> shift) & 1
            if free[node][bit]:
                free[node][bit] = False
                nodes[node][bit] = len(nodes)
                nodes.append([0, 0])
                free.append([True, True])
            node = nodes[node][bit]
        bit = code & 1
        assert free[node][bit], "Huffman code is not prefix-free"
        free[node][bit] = False
        nodes[node][bit] = -symbol - 1
    assert not any(any(f) for f in free), "Huffman code is not complete"
    return nodes


def _build_decoder() -> tuple[list[int], list[bytes], frozenset[int], int]:
    """Octet-at-a-time decoder tables, see `HUFFMAN_NEXT`."""
    nodes = _build_tree()
    fail = len(nodes)  # reached by decoding EOS; absorbing
    # One nibble first, then octets as two nibbles: far cheaper to build than bit by bit.
    nib_next: list[int] = []
    nib_emit: list[bytes] = []
    for state in range(fail + 1):
        for nibble in range(16):
            node = state
            out = b""
            for shift in (3, 2, 1, 0):
                if node == fail:
                    break
                child = nodes[node][(nibble >> shift) & 1]
                if child >= 0:
                    node = child
                elif child == -EOS - 1:
                    node = fail
                else:
                    out += bytes((-child - 1,))
                    node = 0
            nib_next.append(node)
            nib_emit.append(out)
    # Shared objects keep the 65 792-entry tables small.
    bases = [state << 8 for state in range(fail + 1)]
    strings: dict[bytes, bytes] = {}
    next_: list[int] = []
    emit: list[bytes] = []
    for state in range(fail + 1):
        for high in range(16):
            mid = nib_next[state * 16 + high]
            first = nib_emit[state * 16 + high]
            for low in range(16):
                k = mid * 16 + low
                next_.append(bases[nib_next[k]])
                out = first + nib_emit[k]
                emit.append(strings.setdefault(out, out))
    # Padding: at most 7 bits, all ones, i.e. the end lies on the all-ones path near the root.
    accept = {0}
    node = 0
    for _ in range(7):
        node = nodes[node][1]
        accept.add(node << 8)
    return next_, emit, frozenset(accept), fail << 8


# Decoding octet b in state s (a multiple of 256): `HUFFMAN_EMIT[s + b]` are the symbols it
# completes, `HUFFMAN_NEXT[s + b]` the next state. Start in state 0; the string is valid iff the
# final state is in `HUFFMAN_ACCEPT`. `HUFFMAN_FAIL` (absorbing) means EOS was decoded.
HUFFMAN_NEXT, HUFFMAN_EMIT, HUFFMAN_ACCEPT, HUFFMAN_FAIL = _build_decoder()

# Encoder: each octet's code as a string of "0"/"1" characters.
HUFFMAN_BITS: tuple[str, ...] = tuple(
    format(code, f"0{length}b") for code, length in HUFFMAN_CODES[:EOS]
)
