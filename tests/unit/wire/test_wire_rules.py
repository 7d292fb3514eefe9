"""The rules `puregrpc._wire` holds once for every path: content-type classification (W6),
listen addresses and memory targets, trailers <-> Status both ways (W16, W17, S4),
`grpc-retry-pushback-ms`, the response head checks (W15, W18, C5), request heads (W6, C4),
the codec (C8, send and receive limits), the exception -> Status mapping (W20, W25), unary
cardinality (S2) and the response coding (C7)."""

from __future__ import annotations

import pytest

from puregrpc._http2 import ErrorCode
from puregrpc._vocab.codes import StatusCode
from puregrpc._vocab.errors import (
    ConnectionLostError,
    DecodeError,
    DecompressedTooLargeError,
    FramingError,
    MessageTooLargeError,
    StreamResetError,
    TargetError,
)
from puregrpc._vocab.metadata import Metadata
from puregrpc._vocab.status import Status
from puregrpc._wire.cardinality import extra_message, no_message
from puregrpc._wire.codec import decode_message, encode_message
from puregrpc._wire.compression import (
    CODECS,
    check_compression,
    parse_accept_encoding,
    response_encoding,
)
from puregrpc._wire.content_type import ContentType, classify, is_grpc
from puregrpc._wire.framing import frame_message
from puregrpc._wire.request_head import RequestHead
from puregrpc._wire.response_head import (
    PLAIN_RESPONSE_HEADERS,
    check_response_head,
    is_trailers_only,
    plain_metadata,
    response_headers,
)
from puregrpc._wire.status_mapping import never_processed, status_for_error
from puregrpc._wire.targets import parse_listen_address, parse_target
from puregrpc._wire.trailers import OK, OK_TRAILERS, retry_pushback, status_from, trailers_for


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("application/grpc", ContentType.GRPC),
        ("application/grpc+proto", ContentType.GRPC),
        ("application/grpc+json; charset=utf-8", ContentType.GRPC),
        ("application/grpc+", ContentType.OTHER),
        ("application/grpc-web", ContentType.GRPC_WEB),
        ("application/grpc-web+proto", ContentType.GRPC_WEB),
        ("application/grpc-web-text", ContentType.GRPC_WEB_TEXT),
        ("application/grpc-web-text+proto", ContentType.GRPC_WEB_TEXT),
        ("application/connect+proto", ContentType.CONNECT),
        ("application/connect", ContentType.OTHER),
        ("application/proto", ContentType.CONNECT),
        ("application/json", ContentType.CONNECT),
        ("application/grp", ContentType.OTHER),
        ("APPLICATION/GRPC", ContentType.OTHER),  # W6 compares as written
        ("", ContentType.OTHER),
        (None, ContentType.OTHER),
    ],
)
def test_content_types_are_classified(value: str | None, kind: ContentType) -> None:
    assert classify(value) is kind
    assert is_grpc(value) == (kind is ContentType.GRPC)


def test_grpc_web_is_not_served_as_native_grpc() -> None:
    head = RequestHead.parse(
        ((":method", "POST"), (":path", "/s/M"), ("content-type", "application/grpc-web+proto"))
    )
    assert head.http_status == 415 and head.problem is not None  # W6, until gRPC-Web is served


def test_request_heads_are_checked_in_order() -> None:
    base = ((":method", "POST"), (":path", "/s/M"), ("content-type", "application/grpc"))
    ok = RequestHead.parse((*base, ("grpc-accept-encoding", "gzip, identity"), ("k", "v")))
    assert ok.problem is None and ok.path == "/s/M" and ok.accept == {"gzip", "identity"}
    assert ok.metadata == Metadata([("k", "v")])
    get = RequestHead.parse(((":method", "GET"), *base[1:]))
    assert get.problem is not None and get.problem.code == StatusCode.UNIMPLEMENTED
    snappy = RequestHead.parse((*base, ("grpc-encoding", "snappy")))  # C4
    assert snappy.problem is not None and snappy.problem.code == StatusCode.UNIMPLEMENTED
    assert snappy.http_status == 200


def test_accept_encoding_has_one_parser() -> None:
    assert parse_accept_encoding(None) == {"identity"}
    assert parse_accept_encoding("gzip,,deflate ") == {"gzip", "deflate"}
    assert check_compression(None) == "identity"
    with pytest.raises(ValueError, match="unknown compression"):
        check_compression("snappy")


@pytest.mark.parametrize(
    ("address", "hosts", "port", "unix", "memory"),
    [
        ("127.0.0.1:50051", ("127.0.0.1",), 50051, None, None),
        ("[::1]:0", ("::1",), 0, None, None),
        (":50051", ("::", "0.0.0.0"), 50051, None, None),
        ("[::]:7", ("::", "0.0.0.0"), 7, None, None),
        ("unix:/tmp/x.sock", (), 0, "/tmp/x.sock", None),
        ("unix:///tmp/x.sock", (), 0, "/tmp/x.sock", None),
        ("memory:svc", (), 0, None, "svc"),
    ],
)
def test_listen_addresses(
    address: str, hosts: tuple[str, ...], port: int, unix: str | None, memory: str | None
) -> None:
    listen = parse_listen_address(address)
    assert (listen.hosts, listen.port, listen.unix_path, listen.memory_name) == (
        hosts,
        port,
        unix,
        memory,
    )


@pytest.mark.parametrize("address", ["localhost", "host:http", "host:70000", "unix:", "memory:"])
def test_bad_listen_addresses_are_refused(address: str) -> None:
    with pytest.raises(TargetError):
        parse_listen_address(address)


def test_memory_targets() -> None:
    target = parse_target("memory:svc")
    assert target.memory_name == "svc" and target.unix_path is None
    with pytest.raises(TargetError):
        parse_target("memory:")


def test_trailers_and_status_round_trip() -> None:
    assert trailers_for(OK) is OK_TRAILERS
    assert trailers_for(Status(StatusCode.OK)) is OK_TRAILERS
    status = Status(
        StatusCode.NOT_FOUND,
        "no such thing: 100%",
        Metadata([("k", "v"), ("b-bin", b"\x00")]),
        b"r",
    )
    fields = trailers_for(status)
    assert ("grpc-status", "5") in fields and ("grpc-message", "no such thing: 100%25") in fields
    back = status_from(fields)
    assert back == status and back.rich == b"r"
    assert back.trailing_metadata == Metadata([("k", "v"), ("b-bin", b"\x00")])


def test_a_status_is_made_up_for_broken_trailers() -> None:  # W18
    assert status_from(()).code == StatusCode.UNKNOWN
    assert status_from(((":status", "503"),)).code == StatusCode.UNAVAILABLE
    assert status_from((("grpc-status", "x1"),)).code == StatusCode.UNKNOWN
    assert status_from((("grpc-status", "99"),)).code == StatusCode.UNKNOWN


def test_retry_pushback() -> None:
    assert retry_pushback(()) is None
    assert retry_pushback((("grpc-retry-pushback-ms", "250"),)) == 0.25
    assert retry_pushback((("grpc-retry-pushback-ms", "-1"),)) == -1.0  # do not retry
    assert retry_pushback((("grpc-retry-pushback-ms", "soon"),)) == -1.0


def test_response_heads() -> None:
    assert response_headers() is PLAIN_RESPONSE_HEADERS
    assert ("grpc-encoding", "gzip") in response_headers("gzip")
    assert plain_metadata(PLAIN_RESPONSE_HEADERS) == Metadata()
    assert plain_metadata((*PLAIN_RESPONSE_HEADERS, ("grpc-encoding", "gzip"))) is None
    gzipped = check_response_head((*PLAIN_RESPONSE_HEADERS, ("grpc-encoding", "gzip")))
    assert not isinstance(gzipped, Status) and gzipped[1] == "gzip"
    teapot = check_response_head(((":status", "418"),))
    assert isinstance(teapot, Status) and teapot.code == StatusCode.UNKNOWN
    html = check_response_head(((":status", "200"), ("content-type", "text/html")))
    assert isinstance(html, Status) and html.code == StatusCode.UNKNOWN
    snappy = check_response_head((*PLAIN_RESPONSE_HEADERS, ("grpc-encoding", "snappy")))
    assert isinstance(snappy, Status) and snappy.code == StatusCode.INTERNAL  # C5
    only = (*PLAIN_RESPONSE_HEADERS, ("grpc-status", "0"))
    assert is_trailers_only(only, True, None)
    assert not is_trailers_only(only, False, None)
    assert not is_trailers_only(PLAIN_RESPONSE_HEADERS, True, None)


def test_the_codec_applies_the_limits_and_the_flag_rule() -> None:
    framed = encode_message(b"abc" * 100, None, "gzip", compress=True)
    assert framed[0] == 1
    compressed = framed[5:]
    assert decode_message(True, compressed, "gzip", 1000, None) == b"abc" * 100
    assert encode_message(b"abc", None, "gzip", compress=False) == frame_message(b"abc")
    with pytest.raises(MessageTooLargeError, match="sent message larger than max"):
        encode_message(b"x" * 11, None, max_send=10)
    with pytest.raises(DecodeError, match="without grpc-encoding"):  # C8
        decode_message(True, compressed, "identity", 1000, None)
    with pytest.raises(DecompressedTooLargeError):
        decode_message(True, CODECS["gzip"].compress(b"x" * 2000), "gzip", 1000, None)
    with pytest.raises(DecodeError, match="decompression failed"):
        decode_message(True, b"not gzip", "gzip", 1000, None)

    def parse(data: bytes) -> bytes:
        raise ValueError("bad bytes")

    with pytest.raises(DecodeError, match="could not parse request: bad bytes"):
        decode_message(False, b"x", "identity", 1000, parse, "request")


def test_failures_map_to_one_status_each() -> None:
    assert status_for_error(FramingError("f")).code == StatusCode.INTERNAL
    assert status_for_error(MessageTooLargeError("m")).code == StatusCode.RESOURCE_EXHAUSTED
    assert status_for_error(ConnectionLostError("gone")).code == StatusCode.UNAVAILABLE  # W25
    refused = StreamResetError(1, ErrorCode.REFUSED_STREAM, "REFUSED_STREAM", True)
    assert status_for_error(refused).code == StatusCode.UNAVAILABLE  # W20
    assert never_processed(refused)
    assert not never_processed(StreamResetError(1, ErrorCode.REFUSED_STREAM, "R", False))
    assert not never_processed(StreamResetError(1, ErrorCode.CANCEL, "CANCEL", True))


def test_unary_sides_carry_exactly_one_message() -> None:  # S2
    assert no_message("request") == Status(StatusCode.UNIMPLEMENTED, "no request message")
    assert extra_message("response").code == StatusCode.UNIMPLEMENTED


def test_responses_are_never_compressed_with_what_the_client_cannot_read() -> None:  # C7
    assert response_encoding("gzip", frozenset({"identity", "gzip"})) == "gzip"
    assert response_encoding("gzip", frozenset({"identity", "deflate"})) == "identity"
    assert response_encoding("identity", frozenset({"gzip"})) == "identity"
