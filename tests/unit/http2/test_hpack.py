"""HPACK (RFC 7541): Huffman coding, the RFC's examples, error handling, caches, interop."""

from __future__ import annotations

import time
from typing import Any

import hpack
import pytest
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hypothesis import given, settings
from hypothesis import strategies as st

from puregrpc._http2._errors import CompressionError, ErrorCode, ProtocolError
from puregrpc._http2._hpack import (
    ENCODER_TABLE_SIZE_CAP,
    Decoder,
    Encoder,
    HeaderListTooLargeError,
    Headers,
    decode_integer,
    encode_integer,
)
from puregrpc._http2._hpack_tables import HUFFMAN_CODES, STATIC_TABLE
from puregrpc._http2._huffman import huffman_decode, huffman_encode


def unhex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def size_update(size: int) -> bytes:
    return encode_integer(size, 5, 0x20)


def plain_encoder(max_table_size: int = 4096, *, huffman: bool, index_all: bool) -> Encoder:
    """An encoder whose choices match the RFC's examples."""
    encoder = Encoder(max_table_size)
    encoder._huffman = huffman
    if index_all:
        encoder._index_all = True
        encoder._never_index = frozenset()
    return encoder


# -- C.1 integers


@pytest.mark.parametrize(
    ("value", "prefix_bits", "encoded"),
    [(10, 5, "0a"), (1337, 5, "1f9a0a"), (42, 8, "2a"), (30, 5, "1e"), (31, 5, "1f00")],
)
def test_integer_representation(value: int, prefix_bits: int, encoded: str) -> None:
    assert encode_integer(value, prefix_bits) == unhex(encoded)
    data = unhex(encoded)
    assert decode_integer(data, 0, prefix_bits) == (value, len(data))
    # Bits above the prefix belong to the representation, not to the integer.
    flagged = bytes((data[0] | (0xFF << prefix_bits) & 0xFF,)) + data[1:]
    assert decode_integer(flagged, 0, prefix_bits) == (value, len(data))


@given(st.integers(0, 2**32 - 1), st.integers(1, 8))
def test_integer_round_trip(value: int, prefix_bits: int) -> None:
    data = encode_integer(value, prefix_bits)
    assert decode_integer(b"x" + data + b"y", 1, prefix_bits) == (value, len(data) + 1)


# -- Huffman

# RFC 7541 C.4 and C.6.
HUFFMAN_EXAMPLES = [
    (b"www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
    (b"no-cache", "a8eb 1064 9cbf"),
    (b"custom-key", "25a8 49e9 5ba9 7d7f"),
    (b"custom-value", "25a8 49e9 5bb8 e8b4 bf"),
    (b"302", "6402"),
    (b"307", "640e ff"),
    (b"private", "aec3 771a 4b"),
    (b"Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),
    (b"https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"),
    (b"gzip", "9bd9 ab"),
    (
        b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160"
        " 65c0 03ed 4ee5 b106 3d50 07",
    ),
]


@pytest.mark.parametrize(("raw", "coded"), HUFFMAN_EXAMPLES)
def test_huffman_rfc_examples(raw: bytes, coded: str) -> None:
    assert huffman_encode(raw) == unhex(coded)
    assert huffman_decode(unhex(coded)) == raw


def test_huffman_table_matches_independent_copy() -> None:
    assert [code for code, _ in HUFFMAN_CODES] == list(REQUEST_CODES)
    assert [length for _, length in HUFFMAN_CODES] == list(REQUEST_CODES_LENGTH)


def test_huffman_every_octet() -> None:
    everything = bytes(range(256))
    assert huffman_decode(huffman_encode(everything)) == everything
    for octet in range(256):
        one = bytes((octet,))
        assert huffman_decode(huffman_encode(one)) == one
        assert huffman_decode(huffman_encode(one * 9)) == one * 9
    assert huffman_encode(b"") == b""
    assert huffman_decode(b"") == b""


@given(st.binary(max_size=300))
def test_huffman_round_trip(data: bytes) -> None:
    coded = huffman_encode(data)
    assert len(coded) == (sum(HUFFMAN_CODES[octet][1] for octet in data) + 7) // 8
    assert huffman_decode(coded) == data


@pytest.mark.parametrize(
    ("coded", "message"),
    [
        (b"\x18", "padding"),  # "a" (00011) then 000: padding not all ones
        (b"\x1e", "padding"),  # "a" then 110
        (b"\xff", "padding"),  # 8 bits of padding
        (huffman_encode(b"a") + b"\xff", "padding"),  # 11 bits of padding
        (b"\xff\xff\xff", "padding"),  # 24 ones: a prefix of EOS, too long for padding
        (b"\xff\xff\xff\xfc", "EOS"),  # the 30 bits of EOS then 00
        (b"\x1f\xff\xff\xff\xff", "EOS"),  # "a", EOS, padding
    ],
)
def test_huffman_invalid(coded: bytes, message: str) -> None:
    with pytest.raises(CompressionError, match=message) as info:
        huffman_decode(coded)
    assert info.value.error_code == ErrorCode.COMPRESSION_ERROR


# -- RFC 7541 Appendix C: (block, headers, dynamic table newest first, table size)

Step = tuple[str, Headers, list[tuple[str, str]], int]

REQ1: Headers = (
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
)
REQ2: Headers = (*REQ1, ("cache-control", "no-cache"))
REQ3: Headers = (
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
)
REQ_TABLES = [
    [(":authority", "www.example.com")],
    [("cache-control", "no-cache"), (":authority", "www.example.com")],
    [
        ("custom-key", "custom-value"),
        ("cache-control", "no-cache"),
        (":authority", "www.example.com"),
    ],
]

C3: list[Step] = [
    ("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", REQ1, REQ_TABLES[0], 57),
    ("8286 84be 5808 6e6f 2d63 6163 6865", REQ2, REQ_TABLES[1], 110),
    (
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        REQ3,
        REQ_TABLES[2],
        164,
    ),
]
C4: list[Step] = [
    ("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", REQ1, REQ_TABLES[0], 57),
    ("8286 84be 5886 a8eb 1064 9cbf", REQ2, REQ_TABLES[1], 110),
    (
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        REQ3,
        REQ_TABLES[2],
        164,
    ),
]

DATE1 = ("date", "Mon, 21 Oct 2013 20:13:21 GMT")
DATE2 = ("date", "Mon, 21 Oct 2013 20:13:22 GMT")
LOCATION = ("location", "https://www.example.com")
PRIVATE = ("cache-control", "private")
COOKIE = ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")
RESP1: Headers = ((":status", "302"), PRIVATE, DATE1, LOCATION)
RESP2: Headers = ((":status", "307"), PRIVATE, DATE1, LOCATION)
RESP3: Headers = (
    (":status", "200"),
    PRIVATE,
    DATE2,
    LOCATION,
    ("content-encoding", "gzip"),
    COOKIE,
)
RESP_TABLES = [
    [LOCATION, DATE1, PRIVATE, (":status", "302")],
    [(":status", "307"), LOCATION, DATE1, PRIVATE],
    [COOKIE, ("content-encoding", "gzip"), DATE2],
]

C5: list[Step] = [
    (
        """4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
        2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
        6c65 2e63 6f6d""",
        RESP1,
        RESP_TABLES[0],
        222,
    ),
    ("4803 3330 37c1 c0bf", RESP2, RESP_TABLES[1], 222),
    (
        """88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
        54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
        5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
        3d31""",
        RESP3,
        RESP_TABLES[2],
        215,
    ),
]
C6: list[Step] = [
    (
        """4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
        2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3""",
        RESP1,
        RESP_TABLES[0],
        222,
    ),
    ("4883 640e ffc1 c0bf", RESP2, RESP_TABLES[1], 222),
    (
        """88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
        77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
        9587 3160 65c0 03ed 4ee5 b106 3d50 07""",
        RESP3,
        RESP_TABLES[2],
        215,
    ),
]

SEQUENCES = [
    pytest.param(C3, 4096, False, False, id="C.3"),
    pytest.param(C4, 4096, True, False, id="C.4"),
    pytest.param(C5, 256, False, True, id="C.5"),
    pytest.param(C6, 256, True, True, id="C.6"),
]


@pytest.mark.parametrize(("steps", "table_size", "huffman", "index_all"), SEQUENCES)
def test_rfc_sequence_decode(
    steps: list[Step], table_size: int, huffman: bool, index_all: bool
) -> None:
    decoder = Decoder(max_table_size=table_size)
    for block, headers, table, size in steps:
        assert decoder.decode(unhex(block)) == headers
        assert decoder.dynamic_table() == table
        assert decoder.table_size == size


@pytest.mark.parametrize(("steps", "table_size", "huffman", "index_all"), SEQUENCES)
def test_rfc_sequence_encode(
    steps: list[Step], table_size: int, huffman: bool, index_all: bool
) -> None:
    encoder = plain_encoder(table_size, huffman=huffman, index_all=index_all)
    for block, headers, table, size in steps:
        assert encoder.encode(headers).hex() == unhex(block).hex()
        assert encoder.dynamic_table() == table
        assert encoder.table_size == size


C2 = [
    ("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572", "custom-key", 55),
    ("040c 2f73 616d 706c 652f 7061 7468", ":path", 0),
    ("1008 7061 7373 776f 7264 0673 6563 7265 74", "password", 0),
    ("82", ":method", 0),
]
C2_HEADERS: list[Headers] = [
    (("custom-key", "custom-header"),),
    ((":path", "/sample/path"),),
    (("password", "secret"),),
    ((":method", "GET"),),
]


@pytest.mark.parametrize("case", range(4), ids=["C.2.1", "C.2.2", "C.2.3", "C.2.4"])
def test_rfc_single_fields(case: int) -> None:
    block, name, size = C2[case]
    headers = C2_HEADERS[case]
    decoder = Decoder()
    assert decoder.decode(unhex(block)) == headers
    assert decoder.table_size == size
    assert decoder.dynamic_table() == ([headers[0]] if size else [])
    # C.2.2: a table of 100 octets makes the 49-octet field too big to index.
    encoder = plain_encoder(100 if case == 1 else 4096, huffman=False, index_all=False)
    sensitive = frozenset({name}) if case == 2 else None
    assert encoder.encode(headers, sensitive=sensitive) == unhex(block)
    assert encoder.table_size == size


# -- decoder errors


def literal(name: bytes, value: bytes, first: int = 0x00) -> bytes:
    """A literal field with a literal name, not Huffman-coded."""
    return (
        bytes((first,))
        + encode_integer(len(name), 7)
        + name
        + encode_integer(len(value), 7)
        + value
    )


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (b"\xff\xff\xff\xff\xff\x7f", "too large"),  # 2**35-ish
        (b"\xff" + b"\x80" * 10 + b"\x00", "too many continuation"),
        (b"\xff\x80", "truncated"),
        (b"\xff", "truncated"),
        (b"\x41", "truncated"),  # literal, name index 1, value missing
        (b"\x00\x03ab", "past the end"),
        (b"\x00\x01a\x05abcd", "past the end"),
        (b"\x00\x01a", "truncated"),
        (b"\x80", "index 0"),
        (b"\xbe", "index 62 beyond"),
        (b"\xff\x80\x01", "index 255 beyond"),
        (b"\x7e\x01a", "index 62 beyond"),  # literal with a name index out of range
        (b"\x0f\x30\x01a", "index 63 beyond"),
        (b"\x82\x20", "size update after"),
        (b"\x20\x20\x20", "more than two"),
        (size_update(4097), "above the maximum"),
        (b"\x00\x81\xff\x00", "padding"),  # Huffman name: 8 bits of padding
        (b"\x00\x01a\x84\xff\xff\xff\xfc", "EOS"),
    ],
)
def test_decoder_errors(block: bytes, message: str) -> None:
    with pytest.raises(CompressionError, match=message) as info:
        Decoder().decode(block)
    assert isinstance(info.value, ProtocolError)
    assert info.value.error_code == ErrorCode.COMPRESSION_ERROR


def test_decoder_accepts_two_size_updates_and_memoryview() -> None:
    decoder = Decoder()
    decoder.decode(literal(b"a", b"b", 0x40))
    assert decoder.decode(memoryview(size_update(0) + size_update(4096) + b"\x82")) == (
        (":method", "GET"),
    )
    assert decoder.table_size == 0
    assert decoder.decode(bytearray(b"\x82")) == ((":method", "GET"),)  # type: ignore[arg-type]


def test_decoder_requires_size_update_after_lowering_the_maximum() -> None:
    decoder = Decoder()
    decoder.decode(b"\x82")  # cached
    decoder.max_table_size = 100
    for block in (b"\x82", b"", b"\x82" + size_update(100)):
        with pytest.raises(CompressionError, match="must start with"):
            decoder.decode(block)
    with pytest.raises(CompressionError, match="above the maximum"):
        decoder.decode(size_update(101) + b"\x82")
    assert decoder.decode(size_update(100) + b"\x82") == ((":method", "GET"),)
    assert decoder.decode(b"\x82") == ((":method", "GET"),)
    decoder.max_table_size = 4096  # raising needs no update
    assert decoder.decode(b"\x82") == ((":method", "GET"),)


def test_decoder_evicts_and_drops_too_big_entries() -> None:
    decoder = Decoder(max_table_size=100)
    decoder.decode(literal(b"a", b"x" * 30, 0x40) + literal(b"b", b"y" * 30, 0x40))
    assert decoder.dynamic_table() == [("b", "y" * 30)]
    assert decoder.table_size == 63
    decoder.decode(literal(b"c", b"z" * 100, 0x40))  # bigger than the table: empties it
    assert decoder.dynamic_table() == []
    assert decoder.table_size == 0


# -- header list size


def test_header_list_size_limit() -> None:
    block = literal(b"name", b"v" * 60)  # 4 + 60 + 32 = 96
    assert Decoder(max_header_list_size=96).decode(block) == (("name", "v" * 60),)
    with pytest.raises(HeaderListTooLargeError) as info:
        Decoder(max_header_list_size=95).decode(block)
    assert info.value.size == 96
    assert not isinstance(info.value, CompressionError)
    # Non-ASCII octets count as octets, not as characters.
    raw = "é".encode()
    with pytest.raises(HeaderListTooLargeError):
        Decoder(max_header_list_size=32 + 1 + len(raw) - 1).decode(literal(b"a", raw))


def test_header_list_too_large_keeps_the_table_in_sync() -> None:
    decoder = Decoder(max_header_list_size=100)
    block = literal(b"a", b"1" * 40, 0x40) + literal(b"b", b"2" * 40, 0x40)
    with pytest.raises(HeaderListTooLargeError) as info:
        decoder.decode(block)
    assert info.value.size == 2 * 73
    assert decoder.dynamic_table() == [("b", "2" * 40), ("a", "1" * 40)]
    assert decoder.decode(b"\xbe") == (("b", "2" * 40),)
    # A cached block is checked against the current limit.
    assert decoder.decode(b"\xbf") == (("a", "1" * 40),)
    decoder.max_header_list_size = 50
    with pytest.raises(HeaderListTooLargeError):
        decoder.decode(b"\xbf")


def test_hpack_bomb() -> None:
    """4 KB in the table, then 100 000 one-octet references to it: 400 MB of headers."""
    big = literal(b"x", b"a" * 4000, 0x40)
    block = big + b"\xbe" * 100_000
    decoder = Decoder()
    started = time.perf_counter()
    with pytest.raises(HeaderListTooLargeError) as info:
        decoder.decode(block)
    assert time.perf_counter() - started < 2.0
    assert info.value.size == 4033 * 100_001
    headers, size = Decoder()._decode(block)
    assert len(headers) == 65536 // 4033 and size == info.value.size
    # The connection goes on.
    assert decoder.decode(b"\xbe\x82") == (("x", "a" * 4000), (":method", "GET"))


# -- encoder policy


def test_encoder_policy() -> None:
    encoder = Encoder()
    decoder = Decoder()

    def first_octet(headers: Headers, sensitive: frozenset[str] | None = None) -> int:
        block = encoder.encode(headers, sensitive=sensitive)
        assert decoder.decode(block) == headers
        return block[0]

    assert first_octet(((":method", "POST"),)) == 0x83
    assert first_octet((("content-type", "application/grpc"),)) == 0x5F  # indexed, name 31
    assert first_octet((("content-type", "application/grpc"),)) == 0xBE
    assert first_octet((("grpc-timeout", "1S"),)) == 0x00  # not indexed, literal name
    assert first_octet((("content-length", "12"),)) == 0x0F  # not indexed, name 28
    assert first_octet((("authorization", "Bearer x"),)) == 0x1F  # never indexed, name 23
    assert first_octet((("cookie", "short"),)) == 0x1F  # never indexed, name 32
    assert first_octet((("x-secret", "1"),), frozenset({"x-secret"})) == 0x10
    assert first_octet((("x-big", "v" * 2000),)) == 0x00  # > a quarter of the table
    assert encoder.dynamic_table() == [("content-type", "application/grpc")]
    assert first_octet((("x-new", "1"),)) == 0x40
    assert first_octet((("x-new", "2"),)) == 0x7E  # name from the dynamic table (62)
    assert first_octet((("grpc-timeout", "2S"),)) == 0x00
    assert encoder.dynamic_table() == decoder.dynamic_table()


def test_encoder_size_updates() -> None:
    encoder = Encoder()
    decoder = Decoder()
    decoder.decode(encoder.encode((("a", "1"), ("b", "2"))))
    encoder.set_max_table_size(4096)  # unchanged: no update
    assert encoder.encode((("a", "1"),)) == b"\xbf"
    encoder.set_max_table_size(40)
    decoder.max_table_size = 40
    block = encoder.encode((("a", "1"),))
    assert block.startswith(size_update(40))
    assert decoder.decode(block) == (("a", "1"),)
    # The older entry was evicted; a 34-octet field is too big to index in a 40-octet table.
    assert decoder.dynamic_table() == encoder.dynamic_table() == [("b", "2")]
    # Lowered then raised before a block: the minimum, then the final size.
    encoder.set_max_table_size(0)
    encoder.set_max_table_size(1000)
    decoder.max_table_size = 1000
    block = encoder.encode((("a", "1"),))
    assert block.startswith(size_update(0) + size_update(1000))
    assert decoder.decode(block) == (("a", "1"),)
    assert encoder.table_size == decoder.table_size == 34
    # Only the next block carries the update.
    assert encoder.encode((("a", "1"),)) == b"\xbe"
    # The encoder never uses more than its cap.
    encoder.set_max_table_size(1 << 20)
    assert encoder.max_table_size == ENCODER_TABLE_SIZE_CAP
    assert encoder.encode((("a", "1"),)).startswith(size_update(ENCODER_TABLE_SIZE_CAP))
    with pytest.raises(ValueError, match="negative"):
        encoder.set_max_table_size(-1)


# -- caches

GRPC_REQUEST: Headers = (
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/helloworld.Greeter/SayHello"),
    (":authority", "localhost:50051"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
    ("grpc-accept-encoding", "identity,deflate,gzip"),
    ("user-agent", "grpc-python-puregrpc/0.1"),
)


def test_encoder_block_cache() -> None:
    encoder = Encoder()
    decoder = Decoder()
    first = encoder.encode(GRPC_REQUEST)  # inserts: not cached
    assert GRPC_REQUEST not in encoder._blocks
    second = encoder.encode(GRPC_REQUEST)
    assert second != first and GRPC_REQUEST in encoder._blocks
    third = encoder.encode(list(GRPC_REQUEST))
    assert third is second
    for block in (first, second):
        assert decoder.decode(block) == GRPC_REQUEST
    # A table change invalidates the cached block; the new encoding is still right.
    decoder.decode(encoder.encode((("x-other", "1"),)))
    fourth = encoder.encode(GRPC_REQUEST)
    assert fourth != second
    assert decoder.decode(fourth) == GRPC_REQUEST
    assert encoder.encode(GRPC_REQUEST) is fourth
    # `sensitive` is part of the key.
    sensitive = encoder.encode(GRPC_REQUEST, sensitive=frozenset({"user-agent"}))
    assert sensitive != fourth
    assert decoder.decode(sensitive) == GRPC_REQUEST
    assert encoder.encode(GRPC_REQUEST, sensitive=frozenset({"user-agent"})) is sensitive
    assert encoder.encode(GRPC_REQUEST) is fourth


def test_decoder_block_cache() -> None:
    encoder = Encoder()
    decoder = Decoder()
    first = encoder.encode(GRPC_REQUEST)
    second = encoder.encode(GRPC_REQUEST)
    assert decoder.decode(first) == GRPC_REQUEST  # changes the table: not cached
    result = decoder.decode(second)
    assert result == GRPC_REQUEST
    assert decoder.decode(bytes(second)) is result
    assert decoder.decode(memoryview(second)) is result
    decoder.decode(encoder.encode((("x-other", "1"),)))  # table change
    again = encoder.encode(GRPC_REQUEST)
    assert again != second  # the new entry shifted the dynamic indexes
    assert decoder.decode(again) == GRPC_REQUEST
    assert decoder.decode(again) is decoder.decode(again)


def test_varying_timeout_round_trips_and_keeps_the_table() -> None:
    encoder = Encoder()
    decoder = Decoder()
    for i in range(700):
        headers = (*GRPC_REQUEST, ("grpc-timeout", f"{i * 7919 % 100000}u"))
        assert decoder.decode(encoder.encode(headers)) == headers
    assert decoder.dynamic_table() == encoder.dynamic_table()
    assert len(encoder.dynamic_table()) == 6  # not grpc-timeout
    assert len(encoder._blocks) <= 256 and len(encoder._fields) <= 256
    assert len(decoder._blocks) <= 256 and len(decoder._strings) <= 256


# -- round trips

NAMES = [
    ":path",
    ":authority",
    "content-type",
    "grpc-timeout",
    "authorization",
    "cookie",
    "user-agent",
    "x-a",
    "x-b",
]
names = st.sampled_from(NAMES) | st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)
values = st.sampled_from(["", "1", "application/grpc", "x" * 300]) | st.binary(max_size=40).map(
    lambda raw: raw.decode("utf-8", "surrogateescape")
)
header_lists = st.lists(st.tuples(names, values), max_size=12).map(tuple)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_round_trip_sequence(data: st.DataObject) -> None:
    encoder = Encoder()
    decoder = Decoder(max_header_list_size=1 << 30)
    for _ in range(data.draw(st.integers(1, 12))):
        if data.draw(st.integers(0, 4)) == 0:
            size = data.draw(st.sampled_from([0, 64, 100, 256, 1000, 4096, 8192]))
            encoder.set_max_table_size(size)
            decoder.max_table_size = size
            continue
        headers = data.draw(header_lists)
        sensitive = data.draw(st.none() | st.frozensets(st.sampled_from(NAMES)))
        for _ in range(data.draw(st.integers(1, 2))):
            assert decoder.decode(encoder.encode(headers, sensitive=sensitive)) == headers
            assert decoder.dynamic_table() == encoder.dynamic_table()
            assert decoder.table_size == encoder.table_size


def raw_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    return [
        (n.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
        for n, v in headers
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(header_lists, min_size=1, max_size=6))
def test_interop_with_hpack_package(blocks: list[Headers]) -> None:
    ours = Encoder()
    theirs_decoder = hpack.Decoder(max_header_list_size=1 << 30)
    theirs = hpack.Encoder()
    our_decoder = Decoder(max_header_list_size=1 << 30)
    for headers in blocks:
        decoded = theirs_decoder.decode(ours.encode(headers), raw=True)
        assert [(bytes(n), bytes(v)) for n, v in decoded] == raw_headers(headers)
        assert our_decoder.decode(theirs.encode(raw_headers(headers))) == headers


def test_static_table() -> None:
    assert len(STATIC_TABLE) == 62
    assert STATIC_TABLE[1] == (":authority", "")
    assert STATIC_TABLE[61] == ("www-authenticate", "")
    for index in range(1, 62):
        assert Decoder().decode(bytes((0x80 | index,))) == (STATIC_TABLE[index],)


# -- per-call values (grpc-timeout): shapes and `Decoder.split`

TIMEOUT_AT = 4  # where a gRPC stub puts grpc-timeout: after the pseudo-headers


def with_timeout(value: str, base: Headers = GRPC_REQUEST, at: int = TIMEOUT_AT) -> Headers:
    return (*base[:at], ("grpc-timeout", value), *base[at:])


def expected_split(headers: Headers) -> tuple[Headers, str, int] | None:
    positions = [i for i, (name, _) in enumerate(headers) if name == "grpc-timeout"]
    if not positions:
        return None
    base = tuple(field for field in headers if field[0] != "grpc-timeout")
    return base, headers[positions[0]][1], positions[0]


def test_decoder_shape_cache_and_split() -> None:
    encoder = Encoder()
    decoder = Decoder()
    bases = set()
    for i in range(300):
        headers = with_timeout(f"{i * 7919 % 100000}u")
        block = encoder.encode(headers)
        assert decoder.decode(block) == headers
        assert decoder.split == expected_split(headers)
        assert decoder.split is not None
        bases.add(id(decoder.split[0]))
    assert len(decoder._shapes) == 1  # every block after the first two came from the shape
    assert len(bases) == 1  # one interned base: the same object every time
    assert not decoder._blocks or all(
        not any(name == "grpc-timeout" for name, _ in hit[1]) for hit in decoder._blocks.values()
    )
    # Huffman-coded and empty values, and a block without the field.
    block = encoder.encode(with_timeout("7S"))
    at = block.index(b"\x027S")
    for value in ("", "1S", "99999999n"):
        huffman = bytes((0x80 | len(huffman_encode(value.encode())),)) + huffman_encode(
            value.encode()
        )
        assert decoder.decode(block[:at] + huffman + block[at + 3 :]) == with_timeout(value)
        assert decoder.split == expected_split(with_timeout(value))
    assert decoder.decode(encoder.encode(GRPC_REQUEST)) == GRPC_REQUEST
    assert decoder.split is None


def test_decoder_shape_is_not_reused_after_the_table_changed() -> None:
    """A shape's octets mean something else once the dynamic table has changed."""
    decoder = Decoder()
    reference = Decoder()
    timeout = literal(b"grpc-timeout", b"1S")
    steps = [
        literal(b"x-a", b"first", 0x40),  # index 62 is now x-a: first
        b"\xbe" + timeout,  # learns the shape "\xbe" + head
        b"\xbe" + literal(b"grpc-timeout", b"2S"),  # from the shape
        literal(b"x-a", b"second", 0x40),  # index 62 is now x-a: second
        b"\xbe" + literal(b"grpc-timeout", b"3S"),  # same octets as the shape, new meaning
        size_update(0),  # empties the table
        size_update(4096) + literal(b"x-b", b"third", 0x40),
        b"\xbe" + literal(b"grpc-timeout", b"4S"),
    ]
    for block in steps:
        assert decoder.decode(block) == reference._decode(block)[0]
        assert decoder.dynamic_table() == reference.dynamic_table()
    assert decoder.decode(b"\xbe" + literal(b"grpc-timeout", b"5S")) == (
        ("x-b", "third"),
        ("grpc-timeout", "5S"),
    )
    # A lowered SETTINGS_HEADER_TABLE_SIZE: the next block must start with a size update,
    # cached shape or not.
    decoder.max_table_size = 100
    with pytest.raises(CompressionError, match="must start with"):
        decoder.decode(b"\xbe" + literal(b"grpc-timeout", b"6S"))


def test_decoder_shape_head_inside_a_value() -> None:
    """The octets of the volatile literal's head may occur inside another field's value."""
    head = literal(b"grpc-timeout", b"")[:-1]
    decoder = Decoder()
    reference = Decoder()
    for i in range(6):
        prefix = literal(b"x-v", head + str(i % 2).encode() + head)
        for block in (
            prefix + literal(b"grpc-timeout", f"{i}S".encode()) + b"\x83",
            literal(b"grpc-timeout", f"{i}S".encode()) + prefix,
            prefix + prefix,
            head + b"\x01",  # a valid literal by itself
            head,  # truncated: no value
            head + b"\x7f\x00" + b"v" * 127,  # long value: not a cached shape
        ):
            try:
                want = reference._decode(block)[0]
            except CompressionError:
                with pytest.raises(CompressionError):
                    decoder.decode(block)
                continue
            assert decoder.decode(block) == want
            assert decoder.split == expected_split(want)


def test_decoder_shape_checks_the_header_list_size() -> None:
    encoder = Encoder()
    decoder = Decoder(max_header_list_size=10_000)
    for value in ("1S", "2S", "3S"):
        assert decoder.decode(encoder.encode(with_timeout(value))) == with_timeout(value)
    size = sum(len(n) + len(v) + 32 for n, v in with_timeout("4S"))
    decoder.max_header_list_size = size - 1
    with pytest.raises(HeaderListTooLargeError) as info:
        decoder.decode(encoder.encode(with_timeout("4S")))
    assert info.value.size == size
    decoder.max_header_list_size = size
    assert decoder.decode(encoder.encode(with_timeout("4S"))) == with_timeout("4S")
    # Invalid Huffman code in the value of a shaped block is a compression error.
    block = encoder.encode(with_timeout("5S"))
    at = block.index(b"\x025S")
    with pytest.raises(CompressionError, match=r"EOS|padding"):
        decoder.decode(block[:at] + b"\x84\xff\xff\xff\xff" + block[at + 3 :])


def test_decoder_split_of_indexed_and_repeated_timeouts() -> None:
    """Peers that index grpc-timeout (grpc-go, grpcio, h2) and repeat it."""
    theirs = hpack.Encoder()
    decoder = Decoder()
    bases = set()
    for i in range(200):
        headers = with_timeout(f"{i % 7}S")  # indexed references once seen
        if i % 50 == 49:
            headers = (*headers, ("grpc-timeout", "1H"))  # two of them
        assert decoder.decode(theirs.encode(list(headers))) == headers
        assert decoder.split == expected_split(headers)
        bases.add(id(decoder.split[0]) if decoder.split else 0)
    assert len(bases) == 1


def test_encoder_shape_cache() -> None:
    encoder = Encoder()
    decoder = Decoder()
    for i in range(300):
        headers = with_timeout(f"{i}m")
        block = encoder.encode(headers)
        assert decoder.decode(block) == headers
    assert len(encoder._shapes) == 1
    assert not encoder._blocks  # no block with a grpc-timeout value
    assert all(key[0] != "grpc-timeout" for key in encoder._fields)
    # `cached_block`: for values made of letters and digits, no longer than seen before.
    cached = encoder.cached_block(with_timeout("1m"))
    assert cached is not None and decoder.decode(cached) == with_timeout("1m")
    assert encoder.cached_block(with_timeout("1 m")) is None  # encode would take it
    assert encoder.cached_block(with_timeout("12345m")) is None  # longer than any before
    assert decoder.decode(encoder.encode(with_timeout("12345m"))) == with_timeout("12345m")
    assert encoder.cached_block(with_timeout("12346m")) is not None
    assert encoder.cached_block(with_timeout("x" * 17)) is None
    assert decoder.decode(encoder.encode(with_timeout("x" * 17))) == with_timeout("x" * 17)
    # Other positions, other fields, `sensitive`: not from the shape, still right.
    for headers in (
        with_timeout("2m", at=5),
        with_timeout("2m", GRPC_REQUEST[:-1]),
        (*with_timeout("2m"), ("grpc-timeout", "3m")),
    ):
        assert encoder.cached_block(headers) is None
        assert decoder.decode(encoder.encode(headers)) == headers
    block = encoder.encode(with_timeout("4m"), sensitive=frozenset({"grpc-timeout"}))
    assert block[block.index(b"\x10") :].startswith(b"\x10")  # never indexed
    assert decoder.decode(block) == with_timeout("4m")
    # A table change invalidates the shape.
    decoder.decode(encoder.encode((("x-other", "1"),)))
    assert encoder.cached_block(with_timeout("5m")) is None
    for value in ("5m", "6m"):
        assert decoder.decode(encoder.encode(with_timeout(value))) == with_timeout(value)
    assert decoder.dynamic_table() == encoder.dynamic_table()
    encoder.set_max_table_size(1000)
    decoder.max_table_size = 1000
    assert encoder.cached_block(with_timeout("7m")) is None
    assert decoder.decode(encoder.encode(with_timeout("7m"))) == with_timeout("7m")


SENSITIVE = frozenset({"grpc-timeout", "user-agent"})
timeout_values = (
    st.from_regex(r"[0-9]{1,8}[HMSmun]", fullmatch=True)
    | st.sampled_from(["", " 1S", "1S\r\n", "x" * 40, "1\x00S"])
    | st.binary(max_size=20).map(lambda raw: raw.decode("utf-8", "surrogateescape"))
)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_cached_decode_matches_uncached(data: st.DataObject) -> None:
    """Block, shape and string caches against a decoder that decodes every block afresh (and
    the `hpack` package), on block sequences from our encoder, or one that indexes every field
    (grpc-go and grpcio index grpc-timeout), with per-call timeouts, other blocks and table
    size updates."""
    encoder = Encoder()
    if data.draw(st.booleans()):
        encoder._index_all = True
        encoder._huffman = data.draw(st.booleans())
    decoder = Decoder(max_header_list_size=1 << 30)
    reference = Decoder(max_header_list_size=1 << 30)
    independent = hpack.Decoder(max_header_list_size=1 << 30)
    base = data.draw(header_lists)
    at = data.draw(st.integers(0, len(base)))
    for _ in range(data.draw(st.integers(1, 25))):
        action = data.draw(st.integers(0, 9))
        if action == 0:
            size = data.draw(st.sampled_from([0, 64, 100, 256, 1000, 4096]))
            encoder.set_max_table_size(size)
            decoder.max_table_size = reference.max_table_size = size
            independent.header_table_size = size
            continue
        if action == 1:
            headers = data.draw(header_lists)
        else:
            headers = with_timeout(data.draw(timeout_values), base, at)
        block = encoder.encode(headers, sensitive=data.draw(st.none() | st.just(SENSITIVE)))
        got = decoder.decode(block)
        assert got == headers
        assert got == reference._decode(block)[0]
        decoded = independent.decode(block, raw=True)
        assert [(bytes(n), bytes(v)) for n, v in decoded] == raw_headers(headers)
        assert decoder.split == expected_split(headers)
        assert decoder.dynamic_table() == reference.dynamic_table()
        assert decoder.table_size == reference.table_size


# -- runs: peers that index every grpc-timeout value (grpc-go, grpcio, the hpack package)


def counting_decoder(**kwargs: int) -> tuple[Decoder, list[int]]:
    """A Decoder whose `_decode` (the field-by-field loop) counts its calls."""
    decoder = Decoder(**kwargs)
    calls: list[int] = []
    loop = decoder._decode

    def counted(data: bytes, *args: Any) -> tuple[Headers, int]:
        calls.append(len(data))
        return loop(data, *args)

    decoder._decode = counted  # type: ignore[method-assign,assignment]
    return decoder, calls


@pytest.mark.parametrize("table_size", [4096, 1500])
def test_decoder_run_of_an_indexing_peer(table_size: int) -> None:
    """grpc-go's blocks: the same indexed fields, every dynamic index one higher than in the
    last block, then the new timeout as a literal with incremental indexing (its name the
    previous timeout's entry); evictions make it send the other fields as literals again."""
    encoder = Encoder(table_size)
    encoder._index_all = True
    decoder, calls = counting_decoder(max_table_size=table_size)
    reference = Decoder(table_size)
    bases = set()
    for i in range(400):
        headers = with_timeout(f"{5499999 - i * 7919 % 100000}u", at=len(GRPC_REQUEST))
        block = encoder.encode(headers)
        assert decoder.decode(block) == headers == reference._decode(block)[0]
        assert decoder.split == expected_split(headers)
        assert decoder.split is not None
        bases.add(id(decoder.split[0]))
        assert decoder.dynamic_table() == reference.dynamic_table() == encoder.dynamic_table()
    assert len(calls) < 400 * (0.05 if table_size == 4096 else 0.2)  # mostly from the run
    assert len(bases) == 1


def test_decoder_run_across_long_indexes() -> None:
    """Dynamic indexes that cross 126/127 (one octet to two) and 254/255 (two to three)."""
    encoder = hpack.Encoder()
    encoder.header_table_size = 65536
    decoder, calls = counting_decoder(max_table_size=65536)
    reference = Decoder(65536)
    filler = [(f"x-{i}".encode(), b"v") for i in range(150)]
    blocks = [encoder.encode(filler)]
    base = raw_headers(GRPC_REQUEST)
    for i in range(300):
        blocks.append(encoder.encode([*base, (b"grpc-timeout", f"{i}m".encode())]))
    for block in blocks:
        got = decoder.decode(block)
        assert got == reference._decode(block)[0]
        assert decoder.dynamic_table() == reference.dynamic_table()
    assert got == with_timeout("299m", at=len(GRPC_REQUEST))
    assert len(calls) < 20


def test_decoder_run_with_a_bad_literal_or_limit() -> None:
    """A block that begins like the run but ends badly fails as a fresh decode would; one
    over the header list size limit still updates the table."""

    def warm() -> tuple[Decoder, bytes, Encoder]:
        encoder = Encoder()
        encoder._index_all = True
        decoder = Decoder(max_header_list_size=1000)
        for i in range(5):
            decoder.decode(encoder.encode(with_timeout(f"{i}S", at=len(GRPC_REQUEST))))
        assert decoder._runs
        return decoder, encoder.encode(with_timeout("77S", at=len(GRPC_REQUEST))), encoder

    good = warm()[1]
    assert good[-4] & 0x7F == 3  # the length of "77S", as it is sent
    for bad in (good[:-1], good + b"\x00", good[:-4] + b"\x83\xff\xff\xff", good[:-4] + b"\x7f"):
        decoder = warm()[0]
        with pytest.raises(CompressionError):
            decoder.decode(bad)
    decoder, good, encoder = warm()
    decoder.max_header_list_size = 450
    with pytest.raises(HeaderListTooLargeError):
        decoder.decode(good)
    decoder.max_header_list_size = 1000
    assert decoder.dynamic_table() == encoder.dynamic_table()
    again = with_timeout("78S", at=len(GRPC_REQUEST))
    assert decoder.decode(encoder.encode(again)) == again
    assert decoder.split == expected_split(again)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_runs_match_fresh_decode(data: st.DataObject) -> None:
    """The run cache (with the block, shape and string caches) against a fresh decode of
    every block and the `hpack` package, on long sequences from encoders that index every
    field, varying timeouts included, with small tables (evictions), two alternating bases,
    other blocks and table size updates."""
    size = data.draw(st.sampled_from([0, 100, 256, 600, 1500, 4096, 20000]))
    use_hpack = data.draw(st.booleans())
    ours = Encoder(size)
    ours._index_all = True
    ours._huffman = data.draw(st.booleans())
    theirs = hpack.Encoder()
    theirs.header_table_size = size
    decoder = Decoder(size, max_header_list_size=1 << 30)
    reference = Decoder(size, max_header_list_size=1 << 30)
    independent = hpack.Decoder(max_header_list_size=1 << 30)
    independent.max_allowed_table_size = independent.header_table_size = size
    bases = [data.draw(header_lists), data.draw(header_lists)]
    # (grpc-go puts grpc-timeout last)
    ats = [data.draw(st.just(len(base)) | st.integers(0, len(base))) for base in bases]
    for _ in range(data.draw(st.integers(1, 120))):
        action = data.draw(st.integers(0, 39))
        if action == 0 and not use_hpack:
            new_size = data.draw(st.sampled_from([0, 64, 256, 1000, 4096]))
            ours.set_max_table_size(new_size)
            decoder.max_table_size = reference.max_table_size = new_size
            independent.max_allowed_table_size = new_size
            continue
        if action == 1:
            headers = data.draw(header_lists)
        else:
            which = 1 if action < 6 else 0
            headers = with_timeout(data.draw(timeout_values), bases[which], ats[which])
        if use_hpack:
            block = theirs.encode(raw_headers(headers))
        else:
            block = ours.encode(headers)
        got = decoder.decode(block)
        assert got == headers
        assert got == reference._decode(block)[0]
        decoded = independent.decode(block, raw=True)
        assert [(bytes(n), bytes(v)) for n, v in decoded] == raw_headers(headers)
        assert decoder.split == expected_split(headers)
        assert decoder.dynamic_table() == reference.dynamic_table()
        assert decoder.table_size == reference.table_size
