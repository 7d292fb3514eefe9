"""Unit tests of the gRPC wire vocabulary: grpc-timeout (W5), grpc-message percent-encoding
(W16), Length-Prefixed-Message framing (W12), metadata (W9, W10), the RST_STREAM and HTTP
status maps (W20, W18), message compression (C1, S2) and channel targets (N1-N3)."""

from __future__ import annotations

import base64
import gzip
import itertools
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puregrpc._http2 import ErrorCode
from puregrpc._vocab.codes import StatusCode, status_code
from puregrpc._vocab.deadline import decode_timeout, encode_timeout
from puregrpc._vocab.errors import (
    DecompressedTooLargeError,
    FramingError,
    MessageTooLargeError,
    MetadataError,
    TargetError,
    TimeoutFormatError,
)
from puregrpc._vocab.metadata import Metadata, check_key, check_pair, decode_binary
from puregrpc._wire.compression import ACCEPT_ENCODING, CODECS, IDENTITY, parse_accept_encoding
from puregrpc._wire.framing import PREFIX_SIZE, MessageDecoder, frame_message
from puregrpc._wire.status_mapping import status_for_http, status_for_reset
from puregrpc._wire.status_text import decode_message, encode_message
from puregrpc._wire.targets import DEFAULT_PORT, parse_target

# --------------------------------------------------------------------------- W5 grpc-timeout


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1H", 3600.0),
        ("2M", 120.0),
        ("3S", 3.0),
        ("4m", 0.004),
        ("5u", 0.000005),
        ("6n", 0.000000006),
        ("99999999S", 99_999_999.0),  # 8 digits: the most W5 allows
        ("00000001S", 1.0),
        ("0S", 0.0),
    ],
)
def test_timeout_decodes_every_unit(text: str, seconds: float) -> None:
    assert decode_timeout(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "S",  # no digits
        "1",  # no unit
        "10",  # a digit where the unit goes
        "1s",  # units are case-sensitive: 's' is not one
        "1h",
        "1x",
        "123456789S",  # 9 digits (W5: at most 8)
        "-1S",
        "+1S",
        "1.5S",
        " 1S",
        "1S ",
        "1 S",
        "0x1S",
        "\uff11S",  # a full-width digit: str.isdigit() but not ASCII
        "\u0663S",  # an Arabic-Indic digit
    ],
)
def test_timeout_malformed_values_are_refused(text: str) -> None:
    with pytest.raises(TimeoutFormatError):
        decode_timeout(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1e-9, "1n"),
        (0.05, "50000000n"),
        (0.1, "100000u"),  # 100000000n would be 9 digits
        (1.5, "1500000u"),
        (100.0, "100000m"),
        (100_000.0, "100000S"),
        (1e9, "16666667M"),  # 16666666.67 minutes, rounded up
        (4e11, "99999999H"),  # beyond what 8 digits of hours can say: the largest value
        (float("inf"), "99999999H"),
    ],
)
def test_timeout_encodes_with_the_finest_unit_that_fits(seconds: float, text: str) -> None:
    assert encode_timeout(seconds) == text


def test_timeout_encoding_rounds_up_and_stays_within_8_digits() -> None:
    # A fraction of the unit rounds up: the peer never sees a shorter deadline than ours.
    assert encode_timeout(1.5e-9) == "2n"
    assert encode_timeout(1e9 / 60 * 60 + 0.5) == "16666667M"
    for seconds in (1e-9, 3.3e-7, 0.123456789, 1.0, 59.9999, 3599.5, 123456.789, 1e8, 3.5e11):
        text = encode_timeout(seconds)
        assert len(text) <= 9, text
        assert text[:-1].isdigit() and text[-1] in "HMSmun"
        assert decode_timeout(text) >= seconds * (1 - 1e-12)


@pytest.mark.parametrize("seconds", [0.0, -1.0, -1e9])
def test_timeout_expired_encodes_as_the_smallest_positive_value(seconds: float) -> None:
    assert encode_timeout(seconds) == "1n"


# --------------------------------------------------------------------------- W16 grpc-message

# The interop special_status_message case: whitespace controls, a BMP and a non-BMP character.
SPECIAL = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"


def test_message_percent_encoding_of_the_interop_special_status_message() -> None:
    encoded = encode_message(SPECIAL)
    assert encoded.isascii()
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    assert encoded.startswith("%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA")
    assert "%F0%9F%98%88" in encoded
    assert decode_message(encoded) == SPECIAL


@pytest.mark.parametrize(
    "text",
    ["", "plain ascii", "100%", "%%", "%41 is not A", "caf\u00e9", "\x00\x7f", "\u263a\U0001f608"],
)
def test_message_round_trip(text: str) -> None:
    encoded = encode_message(text)
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    assert decode_message(encoded) == text


def test_message_encoding_leaves_unreserved_bytes_alone_and_escapes_percent() -> None:
    printable = "".join(chr(c) for c in range(0x20, 0x7F) if c != 0x25)
    assert encode_message(printable) == printable
    assert encode_message("50%") == "50%25"
    assert encode_message("\x7f") == "%7F"


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("%", "%"),
        ("100%", "100%"),
        ("%4", "%4"),
        ("a%4", "a%4"),
        ("%zz", "%zz"),
        ("%G0 and %0G", "%G0 and %0G"),
        ("%%41", "%A"),
        ("%e2%98%ba lower-case hex", "\u263a lower-case hex"),
        ("%41%", "A%"),
    ],
)
def test_message_invalid_escapes_are_kept_not_an_error(text: str, decoded: str) -> None:
    assert decode_message(text) == decoded


def test_message_escapes_of_invalid_utf8_are_not_dropped() -> None:
    # W16: decoders must neither fail nor drop the message.
    assert decode_message("bad %FF byte") == "bad \ufffd byte"
    # Raw (unescaped) bytes that are not UTF-8 come in as surrogate escapes from HPACK.
    raw = b"raw \xff byte".decode("utf-8", "surrogateescape")
    assert decode_message(raw) == "raw \ufffd byte"


# --------------------------------------------------------------------------- W12 framing


def test_frame_message_prefix_is_flag_and_big_endian_length() -> None:
    assert frame_message(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert frame_message(b"abc", compressed=True) == b"\x01\x00\x00\x00\x03abc"
    assert frame_message(b"") == b"\x00\x00\x00\x00\x00"
    assert frame_message(b"x" * 0x010203)[:PREFIX_SIZE] == b"\x00\x00\x01\x02\x03"


def test_decoder_reassembles_messages_split_at_every_byte() -> None:
    stream = frame_message(b"hello") + frame_message(b"") + frame_message(b"zip", True)
    boundaries = {10, 15, len(stream)}  # where one message ends and nothing is buffered
    decoder = MessageDecoder(1024)
    out: list[tuple[bool, bytes]] = []
    for i in range(len(stream)):
        out += decoder.feed(stream[i : i + 1])
        assert decoder.pending == (i + 1 not in boundaries)
    assert out == [(False, b"hello"), (False, b""), (True, b"zip")]


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(st.tuples(st.booleans(), st.binary(max_size=300)), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=12),
)
def test_decoder_gives_the_same_messages_however_the_stream_is_cut(
    messages: list[tuple[bool, bytes]], cuts: list[int]
) -> None:
    # W13: DATA frame boundaries are not message boundaries.
    stream = b"".join(frame_message(payload, flag) for flag, payload in messages)
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    decoder = MessageDecoder(1024)
    out: list[tuple[bool, bytes]] = []
    for start, stop in itertools.pairwise(points):
        out += decoder.feed(stream[start:stop])
    assert out == messages
    assert not decoder.pending


def test_decoder_returns_every_message_of_one_chunk_and_keeps_the_partial_one() -> None:
    stream = frame_message(b"one") + frame_message(b"two") + frame_message(b"three")
    decoder = MessageDecoder(1024)
    assert decoder.feed(stream[:-2]) == [(False, b"one"), (False, b"two")]
    assert decoder.pending
    assert decoder.feed(stream[-2:]) == [(False, b"three")]
    assert not decoder.pending


def test_decoder_refuses_an_oversized_message_from_its_prefix_alone() -> None:
    decoder = MessageDecoder(100)
    assert decoder.feed(frame_message(b"x" * 100)) == [(False, b"x" * 100)]  # exactly the max
    with pytest.raises(MessageTooLargeError, match=r"101 vs\. 100"):
        decoder.feed(b"\x00\x00\x00\x00\x65")  # 101 declared: no payload needed to refuse
    huge = MessageDecoder(4 * 1024 * 1024)
    with pytest.raises(MessageTooLargeError):
        huge.feed(b"\x00\xff\xff\xff\xff")  # 4 GiB declared, never buffered


def test_decoder_prefix_split_before_the_length_is_known_is_buffered() -> None:
    decoder = MessageDecoder(10)
    assert decoder.feed(b"\x00\x00\x00") == []
    assert decoder.pending
    with pytest.raises(MessageTooLargeError):
        decoder.feed(b"\x00\x0b")


@pytest.mark.parametrize("flag", [2, 0x80, 0xFF])
def test_decoder_refuses_a_compressed_flag_other_than_0_or_1(flag: int) -> None:
    decoder = MessageDecoder(1024)
    with pytest.raises(FramingError, match="compressed-flag"):
        decoder.feed(bytes([flag]) + b"\x00\x00\x00\x01x")


# --------------------------------------------------------------------------- W9, W10 metadata


@pytest.mark.parametrize(
    "key", ["", "Upper", "x y", "x:y", "caf\u00e9", "x/y", ":path", "content-type", "te"]
)
def test_metadata_invalid_or_reserved_keys_are_refused(key: str) -> None:
    with pytest.raises(MetadataError):
        check_key(key)


@pytest.mark.parametrize(
    "key", ["grpc-status", "grpc-message", "grpc-timeout", "grpc-encoding", "user-agent"]
)
def test_metadata_protocol_headers_cannot_be_set_by_the_application(key: str) -> None:
    with pytest.raises(MetadataError, match="reserved"):
        Metadata([(key, "x")])


def test_metadata_valid_keys_and_values() -> None:
    md = Metadata([("a-b_c.9", "printable ~ ascii"), ("x-bin", b"\x00\xff"), ("empty", "")])
    assert md.get("a-b_c.9") == "printable ~ ascii"
    assert md.get("x-bin") == b"\x00\xff"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("x", "tab\there"),  # outside %x20-7E
        ("x", "new\nline"),
        ("x", "caf\u00e9"),
        ("x", "\x7f"),
        ("x", b"bytes for a non-bin key"),
        ("x-bin", "str for a -bin key"),
    ],
)
def test_metadata_invalid_values_are_refused(key: str, value: str | bytes) -> None:
    with pytest.raises(MetadataError):
        check_pair(key, value)


def test_metadata_binary_is_sent_unpadded() -> None:
    headers = Metadata([("x-bin", b"\x00\x01"), ("y-bin", b"\x00\x01\x02"), ("z", "v")])
    assert headers.to_headers() == [("x-bin", "AAE"), ("y-bin", "AAEC"), ("z", "v")]


@pytest.mark.parametrize("text", ["AAE=", "AAE", "AA==", "AA"])
def test_metadata_binary_accepts_padded_and_unpadded(text: str) -> None:
    expected = base64.b64decode(text + "=" * (-len(text) % 4))
    assert decode_binary(text) == expected
    assert Metadata.from_headers([("k-bin", text)]).get("k-bin") == expected


def test_metadata_binary_splits_comma_joined_values_before_decoding() -> None:
    md = Metadata.from_headers([("k-bin", "AAE=,AgM"), ("k-bin", "BAU, Bgc=")])
    assert md.get_all("k-bin") == [b"\x00\x01", b"\x02\x03", b"\x04\x05", b"\x06\x07"]


def test_metadata_binary_round_trip_through_headers() -> None:
    values = [bytes(range(n)) for n in range(8)] + [b"\xff" * 7, b"\xab\xab\xab"]
    md = Metadata([("k-bin", v) for v in values])
    assert Metadata.from_headers(md.to_headers()).get_all("k-bin") == values


def test_metadata_invalid_base64_does_not_fail_and_is_not_silently_emptied() -> None:
    # Not valid base64: the raw text is kept (the call goes on; nothing is invented).
    assert decode_binary("!!!") == b"!!!"
    assert decode_binary("a") == b"a"
    # URL-safe alphabet is tolerated.
    assert decode_binary("-_8") == b"\xfb\xff"


def test_metadata_from_headers_skips_pseudo_and_reserved_headers() -> None:
    md = Metadata.from_headers(
        [
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "0"),
            ("grpc-message", "x"),
            ("grpc-status-details-bin", "AAE"),
            ("x-custom", "kept"),
        ]
    )
    assert list(md) == [("x-custom", "kept")]


# --------------------------------------------------------------------------- S1 status numbers


def test_status_codes_outside_the_enum_are_unknown() -> None:
    assert status_code(5) == StatusCode.NOT_FOUND
    assert status_code(16) == StatusCode.UNAUTHENTICATED
    for value in (-1, 17, 99, 2**40):
        assert status_code(value) == StatusCode.UNKNOWN


# --------------------------------------------------------------------------- W20 RST_STREAM


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ErrorCode.NO_ERROR, StatusCode.INTERNAL),
        (ErrorCode.PROTOCOL_ERROR, StatusCode.INTERNAL),
        (ErrorCode.INTERNAL_ERROR, StatusCode.INTERNAL),
        (ErrorCode.FLOW_CONTROL_ERROR, StatusCode.INTERNAL),
        (ErrorCode.SETTINGS_TIMEOUT, StatusCode.INTERNAL),
        (ErrorCode.FRAME_SIZE_ERROR, StatusCode.INTERNAL),
        (ErrorCode.COMPRESSION_ERROR, StatusCode.INTERNAL),
        (ErrorCode.CONNECT_ERROR, StatusCode.INTERNAL),
        (ErrorCode.REFUSED_STREAM, StatusCode.UNAVAILABLE),
        (ErrorCode.CANCEL, StatusCode.CANCELLED),
        (ErrorCode.ENHANCE_YOUR_CALM, StatusCode.RESOURCE_EXHAUSTED),
        (ErrorCode.INADEQUATE_SECURITY, StatusCode.PERMISSION_DENIED),
        (ErrorCode.HTTP_1_1_REQUIRED, StatusCode.INTERNAL),
        (0xDEAD, StatusCode.INTERNAL),  # unknown codes
    ],
)
def test_rst_stream_code_to_status(code: int, status: StatusCode) -> None:
    assert status_for_reset(code) == status
    assert status_for_reset(int(code)) == status


# --------------------------------------------------------------------------- W18 HTTP status


@pytest.mark.parametrize(
    ("http", "status"),
    [
        (400, StatusCode.INTERNAL),
        (401, StatusCode.UNAUTHENTICATED),
        (403, StatusCode.PERMISSION_DENIED),
        (404, StatusCode.UNIMPLEMENTED),
        (429, StatusCode.UNAVAILABLE),
        (502, StatusCode.UNAVAILABLE),
        (503, StatusCode.UNAVAILABLE),
        (504, StatusCode.UNAVAILABLE),
        (500, StatusCode.UNKNOWN),
        (415, StatusCode.UNKNOWN),
        (302, StatusCode.UNKNOWN),
        (418, StatusCode.UNKNOWN),
    ],
)
def test_http_status_to_grpc_status(http: int, status: StatusCode) -> None:
    assert status_for_http(http) == status


# --------------------------------------------------------------------------- C1, S2 compression


@pytest.mark.parametrize("name", ["gzip", "deflate"])
@pytest.mark.parametrize("payload", [b"", b"x", b"squeeze " * 5000, bytes(range(256)) * 40])
def test_codec_round_trip(name: str, payload: bytes) -> None:
    codec = CODECS[name]
    assert codec.decompress(codec.compress(payload), len(payload)) == payload


def test_codec_formats_are_the_standard_ones() -> None:
    # gzip is RFC 1952 (readable by the gzip module); deflate is the zlib format (RFC 1950).
    assert gzip.decompress(CODECS["gzip"].compress(b"hello")) == b"hello"
    assert zlib.decompress(CODECS["deflate"].compress(b"hello")) == b"hello"
    assert CODECS["gzip"].decompress(gzip.compress(b"hi"), 10) == b"hi"
    assert CODECS["deflate"].decompress(zlib.compress(b"hi"), 10) == b"hi"


@pytest.mark.parametrize("name", ["gzip", "deflate"])
def test_codec_decompression_bomb_is_refused_at_the_limit(name: str) -> None:
    codec = CODECS[name]
    bomb = codec.compress(b"\x00" * (16 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    with pytest.raises(DecompressedTooLargeError):
        codec.decompress(bomb, 1024 * 1024)
    exact = codec.compress(b"a" * 1000)
    assert codec.decompress(exact, 1000) == b"a" * 1000
    with pytest.raises(DecompressedTooLargeError):
        codec.decompress(exact, 999)


@pytest.mark.parametrize("name", ["gzip", "deflate"])
def test_codec_corrupt_or_truncated_input_raises(name: str) -> None:
    codec = CODECS[name]
    good = codec.compress(b"some data " * 100)
    with pytest.raises(zlib.error):
        codec.decompress(good[: len(good) // 2], 10_000)
    with pytest.raises(zlib.error):
        codec.decompress(b"not compressed at all", 10_000)


def test_accept_encoding_lists_identity_and_every_codec() -> None:
    listed = parse_accept_encoding(ACCEPT_ENCODING)
    assert listed == {IDENTITY, "gzip", "deflate"}
    assert parse_accept_encoding(None) == {IDENTITY}
    assert parse_accept_encoding(" gzip , ,snappy") == {"gzip", "snappy"}


# --------------------------------------------------------------------------- N1-N3 targets


@pytest.mark.parametrize(
    ("target", "host", "port", "authority"),
    [
        ("localhost:50051", "localhost", 50051, "localhost:50051"),
        ("127.0.0.1:1", "127.0.0.1", 1, "127.0.0.1:1"),
        ("[::1]:8080", "::1", 8080, "[::1]:8080"),
        ("[::1]", "::1", DEFAULT_PORT, "[::1]:443"),
        ("::1", "::1", DEFAULT_PORT, "[::1]:443"),
        ("example.com", "example.com", 443, "example.com:443"),
        ("dns:example.com:9000", "example.com", 9000, "example.com:9000"),
        ("dns:///example.com:9000", "example.com", 9000, "example.com:9000"),
        ("dns://8.8.8.8/example.com:9000", "example.com", 9000, "example.com:9000"),
        ("dns:///example.com", "example.com", 443, "example.com:443"),
        ("ipv4:10.0.0.1:7", "10.0.0.1", 7, "10.0.0.1:7"),
        ("ipv6:[fe80::1]:7", "fe80::1", 7, "[fe80::1]:7"),
        ("host:65535", "host", 65535, "host:65535"),
    ],
)
def test_target_host_and_port(target: str, host: str, port: int, authority: str) -> None:
    parsed = parse_target(target)
    assert (parsed.host, parsed.port, parsed.unix_path) == (host, port, None)
    assert parsed.authority == authority
    assert parsed.display == target
    assert DEFAULT_PORT == 443  # N2


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("unix:/tmp/grpc.sock", "/tmp/grpc.sock"),
        ("unix:relative/grpc.sock", "relative/grpc.sock"),
        ("unix:///tmp/grpc.sock", "/tmp/grpc.sock"),
    ],
)
def test_target_unix(target: str, path: str) -> None:
    parsed = parse_target(target)
    assert parsed.unix_path == path
    assert parsed.authority == "localhost"


@pytest.mark.parametrize(
    "target",
    [
        "host:0",
        "host:65536",
        "host:99999999",
        "host:-1",
        "host:port",
        "host:8O",
        "host:\uff18\uff10",  # full-width digits
        "[::1]:abc",
        ":50051",
        "dns:///:50051",
        "unix:",
        "unix://",
        "",
    ],
)
def test_target_bad_ports_and_empty_hosts_are_refused(target: str) -> None:
    with pytest.raises(TargetError):
        parse_target(target)
