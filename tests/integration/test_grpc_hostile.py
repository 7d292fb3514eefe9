"""Bad input, end to end, against hand-driven raw HTTP/2 peers.

* A raw client (`H2ClientConnection`) sends malformed gRPC requests to our `puregrpc.Server`;
  each must end with the status the spec gives, and the SAME connection must keep serving.
* A raw server (`serve_h2`, or `ScriptedServer` on the sans-IO engine when resets and
  connection loss are needed) sends malformed responses to our `puregrpc.Channel`.

Requirement ids are those of ../shared/spec/grpc-checklist.md (W*, C*, S*).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from support.grpc_util import EchoService, running_server
from support.h2_binding import (
    H2ClientConnection,
    H2ConnectionLostError,
    H2Request,
    H2Response,
    H2StreamResetError,
    serve_h2,
)
from support.scripted_server import RESPONSE_HEAD, RawStream, scripted

import puregrpc
from puregrpc import RpcError, StatusCode
from puregrpc._http2 import (
    ErrorCode,
    H2Config,
)
from puregrpc._wire.framing import frame_message
from puregrpc._wire.status_text import decode_message, encode_message

UNARY = "/test.Echo/Unary"
GRPC = (("content-type", "application/grpc"), ("te", "trailers"))
SMALL_LIMIT = 1024  # the server's max receive size in these tests

# =========================================================================== raw client -> Server


@contextlib.asynccontextmanager
async def raw_client() -> AsyncIterator[tuple[H2ClientConnection, EchoService]]:
    """Our server (receive limit SMALL_LIMIT) and one raw HTTP/2 connection to it."""
    async with running_server(max_receive_message_length=SMALL_LIMIT) as (port, service):
        conn = await H2ClientConnection.connect("127.0.0.1", port)
        try:
            yield conn, service
        finally:
            await conn.close()


async def send(
    conn: H2ClientConnection,
    body: bytes | AsyncIterator[bytes] = b"",
    headers: Sequence[tuple[str, str]] = GRPC,
    path: str = UNARY,
    method: str = "POST",
) -> H2Response:
    return await asyncio.wait_for(conn.request(method, path, headers, body), 10)


def status_of(response: H2Response) -> tuple[StatusCode, str]:
    """The gRPC status of a response: from the trailers, or the only header block."""
    block = response.trailers if response.trailers is not None else response.headers
    fields = dict(block)
    assert "grpc-status" in fields, f"no grpc-status in {block!r}"
    return StatusCode(int(fields["grpc-status"])), decode_message(fields.get("grpc-message", ""))


async def assert_still_serves(conn: H2ClientConnection) -> None:
    """A well-formed call on the same connection still works (the connection survived)."""
    assert not conn.closed
    response = await send(conn, frame_message(b"still here"))
    assert response.status == 200
    assert response.body == frame_message(b"still here")
    assert status_of(response) == (StatusCode.OK, "")


async def test_raw_client_baseline_call_works() -> None:
    async with raw_client() as (conn, service):
        response = await send(conn, frame_message(b"hi"), (*GRPC, ("x-k", "v")))
        assert dict(response.headers)["content-type"].startswith("application/grpc")
        assert response.body == frame_message(b"hi")
        assert status_of(response) == (StatusCode.OK, "")
        assert service.seen_metadata is not None and service.seen_metadata.get("x-k") == "v"
        await assert_still_serves(conn)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/json", "application/grp", "APPLICATION/GRPC"]
)
async def test_content_type_not_grpc_is_http_415(content_type: str | None) -> None:
    # W6: "If Content-Type does not begin with application/grpc, servers SHOULD respond 415".
    headers = [("te", "trailers")]
    if content_type is not None:
        headers.append(("content-type", content_type))
    async with raw_client() as (conn, _):
        response = await send(conn, frame_message(b"x"), headers)
        assert response.status == 415
        assert response.body == b""
        code, _message = status_of(response)
        assert code != StatusCode.OK
        await assert_still_serves(conn)


@pytest.mark.parametrize("encoding", ["snappy", "br", "GZIP", "gzip, deflate"])
async def test_unknown_request_encoding_is_unimplemented_with_accept_list(encoding: str) -> None:
    # C4: UNIMPLEMENTED, and grpc-accept-encoding lists what we accept, never the rejected one.
    async with raw_client() as (conn, _):
        body = frame_message(b"x", compressed=True)
        response = await send(conn, body, (*GRPC, ("grpc-encoding", encoding)))
        assert response.status == 200
        code, message = status_of(response)
        assert code == StatusCode.UNIMPLEMENTED
        assert encoding in message
        accepted = {a.strip() for a in dict(response.headers)["grpc-accept-encoding"].split(",")}
        assert {"identity", "gzip", "deflate"} <= accepted
        assert encoding not in accepted
        await assert_still_serves(conn)


@pytest.mark.parametrize("encoding", [None, "identity"])
async def test_compressed_flag_without_encoding_is_internal(encoding: str | None) -> None:
    # C8: Compressed-Flag 1 without a non-identity grpc-encoding is INTERNAL.
    headers = list(GRPC)
    if encoding is not None:
        headers.append(("grpc-encoding", encoding))
    async with raw_client() as (conn, _):
        response = await send(conn, frame_message(gzip.compress(b"x"), compressed=True), headers)
        assert status_of(response)[0] == StatusCode.INTERNAL
        await assert_still_serves(conn)


async def test_compressed_request_in_a_declared_encoding_is_accepted() -> None:
    async with raw_client() as (conn, _):
        body = frame_message(gzip.compress(b"zipped"), compressed=True)
        response = await send(conn, body, (*GRPC, ("grpc-encoding", "gzip")))
        assert response.body == frame_message(b"zipped")
        assert status_of(response) == (StatusCode.OK, "")


async def test_corrupt_compressed_request_is_internal() -> None:
    # S2: decompression failure is INTERNAL.
    async with raw_client() as (conn, _):
        body = frame_message(b"definitely not gzip", compressed=True)
        response = await send(conn, body, (*GRPC, ("grpc-encoding", "gzip")))
        assert status_of(response)[0] == StatusCode.INTERNAL
        await assert_still_serves(conn)


async def test_request_decompression_bomb_is_resource_exhausted() -> None:
    # S2: a message larger than the limit, here only once inflated (1 MiB vs. 1 KiB).
    async with raw_client() as (conn, _):
        bomb = gzip.compress(b"\x00" * (1 << 20))
        assert len(bomb) < SMALL_LIMIT * 2
        body = frame_message(bomb, compressed=True)
        response = await send(conn, body, (*GRPC, ("grpc-encoding", "gzip")))
        assert status_of(response)[0] == StatusCode.RESOURCE_EXHAUSTED
        await assert_still_serves(conn)


@pytest.mark.parametrize("timeout", ["abc", "123456789S", "1x", "-1S", "1.5S", "S", "1"])
async def test_malformed_grpc_timeout_is_an_error_status(timeout: str) -> None:
    # W5: a value that is not 1-8 ASCII digits and a unit is refused (INTERNAL, as grpc-go).
    async with raw_client() as (conn, _):
        response = await send(conn, frame_message(b"x"), (*GRPC, ("grpc-timeout", timeout)))
        code, message = status_of(response)
        assert code == StatusCode.INTERNAL
        assert "grpc-timeout" in message
        await assert_still_serves(conn)


@pytest.mark.parametrize("timeout", ["100m", "50000u", "0S"])
async def test_grpc_timeout_expiry_is_deadline_exceeded(timeout: str) -> None:
    # W21: the server tracks grpc-timeout and ends the call DEADLINE_EXCEEDED.
    async with raw_client() as (conn, _):
        headers = (*GRPC, ("grpc-timeout", timeout))
        response = await send(conn, frame_message(b"sleep"), headers)
        assert status_of(response)[0] == StatusCode.DEADLINE_EXCEEDED
        await assert_still_serves(conn)


async def test_connection_lost_cancels_the_server_handler() -> None:
    # W25: a broken connection cancels server calls.
    async with raw_client() as (conn, service):
        task = asyncio.ensure_future(send(conn, frame_message(b"sleep")))
        await asyncio.sleep(0.2)
        assert not service.cancelled.is_set()
        conn._protocol.abort()
        await asyncio.wait_for(service.cancelled.wait(), 5)
        with pytest.raises(H2ConnectionLostError):
            await task


async def test_unary_with_zero_request_messages_is_unimplemented() -> None:
    # S2: request cardinality violation -> UNIMPLEMENTED.
    async with raw_client() as (conn, _):
        response = await send(conn, b"")  # END_STREAM on the HEADERS frame
        assert status_of(response)[0] == StatusCode.UNIMPLEMENTED
        await assert_still_serves(conn)


async def test_unary_with_two_request_messages_is_unimplemented() -> None:
    async with raw_client() as (conn, _):
        response = await send(conn, frame_message(b"one") + frame_message(b"two"))
        assert response.body == b""  # the handler never ran
        assert status_of(response)[0] == StatusCode.UNIMPLEMENTED
        await assert_still_serves(conn)


async def test_request_over_the_receive_limit_is_resource_exhausted() -> None:
    # S2: message larger than the configured limit.
    async with raw_client() as (conn, _):
        response = await send(conn, frame_message(b"x" * (SMALL_LIMIT + 1)))
        code, message = status_of(response)
        assert code == StatusCode.RESOURCE_EXHAUSTED
        assert str(SMALL_LIMIT) in message
        # Exactly the limit is fine.
        response = await send(conn, frame_message(b"y" * SMALL_LIMIT))
        assert response.body == frame_message(b"y" * SMALL_LIMIT)
        await assert_still_serves(conn)


async def test_oversized_request_is_refused_from_its_prefix_alone() -> None:
    # W12: the limit is enforced on the declared length, before any payload is buffered:
    # the client sends a 5-byte prefix announcing 4 GiB and never sends the payload.
    never = asyncio.Event()

    async def prefix_then_stall() -> AsyncIterator[bytes]:
        yield b"\x00\xff\xff\xff\xff"
        await never.wait()

    async with raw_client() as (conn, _):
        response = await send(conn, prefix_then_stall())
        assert status_of(response)[0] == StatusCode.RESOURCE_EXHAUSTED
        await assert_still_serves(conn)


@pytest.mark.parametrize(
    "body",
    [
        frame_message(b"hello")[:-2],  # payload cut short
        b"\x00\x00\x00",  # prefix cut short
        frame_message(b"ok") + b"\x00",  # a whole message, then a stray byte
    ],
)
async def test_truncated_request_message_then_end_stream_is_internal(body: bytes) -> None:
    async with raw_client() as (conn, _):
        response = await send(conn, body)
        assert status_of(response)[0] == StatusCode.INTERNAL
        await assert_still_serves(conn)


@pytest.mark.parametrize("flag", [2, 0x80])
async def test_invalid_compressed_flag_is_internal(flag: int) -> None:
    # W12: Compressed-Flag is 0 or 1.
    async with raw_client() as (conn, _):
        response = await send(conn, bytes([flag]) + frame_message(b"x")[1:])
        assert status_of(response)[0] == StatusCode.INTERNAL
        await assert_still_serves(conn)


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_method_other_than_post_is_refused(method: str) -> None:
    # W2: :method is POST. (The spec gives no status; we answer UNIMPLEMENTED.)
    async with raw_client() as (conn, service):
        response = await send(conn, b"", method=method)
        code, message = status_of(response)
        assert code == StatusCode.UNIMPLEMENTED
        assert method in message
        assert service.seen_metadata is None  # the handler never ran
        await assert_still_serves(conn)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/noslash",
        "/test.Echo",
        "/test.Echo/",
        "//Unary",
        "/test.Echo/Unary/",
        "/test.Echo/unary",  # case-sensitive (W2)
        "/test.echo/Unary",
        "/test.Echo/Unary?x=1",
        "*",
        "/" + "a" * 10_000,
    ],
)
async def test_unknown_method_path_shapes_are_unimplemented(path: str) -> None:
    async with raw_client() as (conn, _):
        response = await send(conn, frame_message(b"x"), path=path)
        assert response.status == 200
        assert status_of(response)[0] == StatusCode.UNIMPLEMENTED
        await assert_still_serves(conn)


@pytest.mark.parametrize(
    "headers",
    [
        GRPC,  # UNIMPLEMENTED whose message quotes the 5000-byte path
        (("content-type", "text/" + "x" * 5000),),  # HTTP 415 whose message quotes it
    ],
    ids=["unimplemented", "http-415"],
)
async def test_status_beyond_the_clients_header_list_limit_resets_the_stream(
    headers: Sequence[tuple[str, str]],
) -> None:
    # W11: a client may limit Trailers-Only / trailers (here to 4 KiB). A status that cannot
    # fit is not sent half-way, nor dropped leaving the call hanging: the stream is reset
    # (INTERNAL_ERROR -> INTERNAL by W20), and the connection goes on.
    async with running_server() as (port, _):
        config = H2Config(client_side=True, max_header_list_size=4096)
        conn = await H2ClientConnection.connect("127.0.0.1", port, config)
        try:
            path = "/" + "a" * 5000
            with pytest.raises(H2StreamResetError) as caught:
                await send(conn, frame_message(b"x"), headers, path=path)
            assert caught.value.error_code == ErrorCode.INTERNAL_ERROR
            await assert_still_serves(conn)
        finally:
            await conn.close()


@pytest.mark.parametrize("value", ["!!!not base64!!!", "a", "AAE=,???", "===="])
async def test_invalid_base64_in_binary_metadata_does_not_break_the_call(value: str) -> None:
    # W10 leaves undecodable -bin values to the implementation: we keep the call going and hand
    # the handler bytes (the decodable parts decoded, the rest as raw bytes).
    async with raw_client() as (conn, service):
        response = await send(conn, frame_message(b"x"), (*GRPC, ("x-bad-bin", value)))
        assert status_of(response) == (StatusCode.OK, "")
        assert service.seen_metadata is not None
        values = service.seen_metadata.get_all("x-bad-bin")
        assert values and all(isinstance(v, bytes) for v in values)
        await assert_still_serves(conn)


async def test_binary_metadata_padded_unpadded_and_comma_joined_reach_the_handler() -> None:
    # W10: accept padded and unpadded; split on "," before decoding.
    async with raw_client() as (conn, service):
        headers = (*GRPC, ("x-a-bin", "AAE="), ("x-b-bin", "AAE"), ("x-c-bin", "AAE,AgM="))
        response = await send(conn, frame_message(b"x"), headers)
        assert status_of(response) == (StatusCode.OK, "")
        md = service.seen_metadata
        assert md is not None
        assert md.get("x-a-bin") == b"\x00\x01"
        assert md.get("x-b-bin") == b"\x00\x01"
        assert md.get_all("x-c-bin") == [b"\x00\x01", b"\x02\x03"]


async def test_status_message_is_percent_encoded_on_the_wire() -> None:
    # W16: the server's grpc-message is percent-encoded printable ASCII.
    async with raw_client() as (conn, _):
        response = await send(conn, frame_message(b"abort"))
        assert response.trailers is None  # an immediate error: Trailers-Only (W17)
        raw = dict(response.headers)["grpc-message"]
        assert raw == "no such thing %E2%98%BA"
        assert status_of(response) == (StatusCode.NOT_FOUND, "no such thing \u263a")


async def test_every_bad_request_in_turn_on_one_connection() -> None:
    # The connection survives a whole sequence of bad requests, interleaved and concurrent.
    async with raw_client() as (conn, _):
        bad = [
            send(conn, frame_message(b"x"), [("content-type", "text/plain")]),
            send(conn, frame_message(b"x", True), (*GRPC, ("grpc-encoding", "snappy"))),
            send(conn, frame_message(b"x", True)),
            send(conn, frame_message(b"x"), (*GRPC, ("grpc-timeout", "bad"))),
            send(conn, b""),
            send(conn, frame_message(b"x" * 5000)),
            send(conn, frame_message(b"x")[:-1]),
            send(conn, b"", method="GET"),
            send(conn, frame_message(b"x"), path="/"),
        ]
        good = [send(conn, frame_message(str(i).encode())) for i in range(5)]
        responses = await asyncio.gather(*bad, *good)
        assert responses[0].status == 415
        assert all(status_of(r)[0] != StatusCode.OK for r in responses[1 : len(bad)])
        for i, response in enumerate(responses[len(bad) :]):
            assert response.body == frame_message(str(i).encode())
        await assert_still_serves(conn)


# =========================================================================== raw server -> Channel

Handler = Callable[[H2Request], Awaitable[H2Response]]


def answer(response: H2Response) -> Handler:
    async def handler(request: H2Request) -> H2Response:
        return response

    return handler


@contextlib.asynccontextmanager
async def raw_server(
    handler: Handler, max_receive: int = 4 * 1024 * 1024
) -> AsyncIterator[puregrpc.Channel]:
    server = await serve_h2(handler)
    try:
        async with puregrpc.Channel(
            f"127.0.0.1:{server.port}", max_receive_message_length=max_receive
        ) as channel:
            yield channel
    finally:
        await server.close(grace=1.0)


async def unary_error(channel: puregrpc.Channel, request: bytes = b"req") -> RpcError:
    call = channel.unary_unary(UNARY)(request, timeout=10)
    with pytest.raises(RpcError) as caught:
        await call
    error = caught.value
    assert await call.code() == error.code()  # the call object agrees with the exception
    return error


OK_HEAD = (("content-type", "application/grpc"),)
OK_TRAILERS = (("grpc-status", "0"),)


async def test_raw_server_baseline_response_is_read() -> None:
    response = H2Response(200, OK_HEAD, frame_message(b"pong"), OK_TRAILERS)
    async with raw_server(answer(response)) as channel:
        assert await channel.unary_unary(UNARY)(b"ping", timeout=10) == b"pong"


@pytest.mark.parametrize(
    ("http", "code"),
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
        (418, StatusCode.UNKNOWN),
        (302, StatusCode.UNKNOWN),
    ],
)
@pytest.mark.parametrize("with_body", [True, False])
async def test_non_200_without_grpc_status_is_mapped(
    http: int, code: StatusCode, with_body: bool
) -> None:
    # W18 and doc/http-grpc-status-mapping.md.
    body = b"<html>proxy error</html>" if with_body else b""
    response = H2Response(http, (("content-type", "text/html"),), body)
    async with raw_server(answer(response)) as channel:
        error = await unary_error(channel)
        assert error.code() == code
        assert str(http) in error.details()


async def test_non_200_with_grpc_status_uses_the_grpc_status() -> None:
    # http-grpc-status-mapping.md: "If grpc-status was provided, it must be used."
    response = H2Response(
        503, (("content-type", "application/grpc"), ("grpc-status", "5"), ("grpc-message", "gone"))
    )
    async with raw_server(answer(response)) as channel:
        error = await unary_error(channel)
        assert (error.code(), error.details()) == (StatusCode.NOT_FOUND, "gone")


@pytest.mark.parametrize("content_type", ["text/html", "application/json", None])
async def test_200_with_a_non_grpc_content_type_is_unknown(content_type: str | None) -> None:
    # W18: a non-gRPC content-type is synthesized into a status (UNKNOWN).
    headers = (("content-type", content_type),) if content_type else ()
    response = H2Response(200, headers, b"<html>hello</html>")
    async with raw_server(answer(response)) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.UNKNOWN


@pytest.mark.parametrize(
    "response",
    [
        # a message, then trailers without grpc-status
        H2Response(200, OK_HEAD, frame_message(b"x"), (("x-other", "1"),)),
        # a message, then END_STREAM on DATA: no trailers at all
        H2Response(200, OK_HEAD, frame_message(b"x")),
        # a single header block with END_STREAM and no grpc-status
        H2Response(200, OK_HEAD),
    ],
    ids=["trailers-without-status", "no-trailers", "headers-only"],
)
async def test_response_without_grpc_status_is_unknown(response: H2Response) -> None:
    # W16 (grpc-status is always sent) and W18: missing -> synthesized UNKNOWN.
    async with raw_server(answer(response)) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.UNKNOWN


async def test_trailers_only_with_percent_encoded_message() -> None:
    # W17 and W16: one HEADERS with END_STREAM carrying the status and trailing metadata.
    response = H2Response(
        200,
        (
            ("content-type", "application/grpc"),
            ("grpc-status", "5"),
            ("grpc-message", "%E2%98%BA not %zz found 100%"),
            ("x-trailer", "t"),
        ),
    )
    async with raw_server(answer(response)) as channel:
        call = channel.unary_unary(UNARY)(b"x", timeout=10)
        with pytest.raises(RpcError) as caught:
            await call
        assert caught.value.code() == StatusCode.NOT_FOUND
        assert caught.value.details() == "\u263a not %zz found 100%"
        assert caught.value.trailing_metadata().get("x-trailer") == "t"
        assert len(await call.initial_metadata()) == 0


async def test_interop_special_status_message_from_a_raw_server() -> None:
    # The special_status_message interop case, client side.
    text = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
    response = H2Response(
        200, (*OK_HEAD, ("grpc-status", "2"), ("grpc-message", encode_message(text)))
    )
    async with raw_server(answer(response)) as channel:
        error = await unary_error(channel)
        assert (error.code(), error.details()) == (StatusCode.UNKNOWN, text)


@pytest.mark.parametrize(
    "raw",
    ["abc", "5x", "x5", "+5", "-1", "17", "99", "0x5", "5.0", "", "\u0665", "9" * 30],
)
@pytest.mark.parametrize("trailers_only", [True, False])
async def test_unparseable_or_out_of_range_grpc_status_is_unknown(
    raw: str, trailers_only: bool
) -> None:
    # S2: "error parsing returned status" -> UNKNOWN; codes beyond 0-16 are UNKNOWN too.
    status = (("grpc-status", raw),)
    if trailers_only:
        response = H2Response(200, (*OK_HEAD, *status))
    else:
        response = H2Response(200, OK_HEAD, frame_message(b"x"), status)
    async with raw_server(answer(response)) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.UNKNOWN


@pytest.mark.parametrize("encoding", ["snappy", "br", "GZIP"])
async def test_unknown_response_encoding_is_internal(encoding: str) -> None:
    # C5: an unsupported response algorithm fails the call with INTERNAL.
    response = H2Response(
        200,
        (*OK_HEAD, ("grpc-encoding", encoding)),
        frame_message(b"x", compressed=True),
        OK_TRAILERS,
    )
    async with raw_server(answer(response)) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.INTERNAL
        assert encoding in error.details()


@pytest.mark.parametrize("encoding", [None, "identity"])
async def test_compressed_response_without_encoding_is_internal(encoding: str | None) -> None:
    # C8, client side.
    headers = OK_HEAD if encoding is None else (*OK_HEAD, ("grpc-encoding", encoding))
    body = frame_message(gzip.compress(b"x"), compressed=True)
    async with raw_server(answer(H2Response(200, headers, body, OK_TRAILERS))) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.INTERNAL


async def test_compressed_response_in_the_declared_encoding_is_read() -> None:
    body = frame_message(gzip.compress(b"inflated"), compressed=True)
    headers = (*OK_HEAD, ("grpc-encoding", "gzip"))
    async with raw_server(answer(H2Response(200, headers, body, OK_TRAILERS))) as channel:
        assert await channel.unary_unary(UNARY)(b"x", timeout=10) == b"inflated"


async def test_corrupt_compressed_response_is_internal() -> None:
    headers = (*OK_HEAD, ("grpc-encoding", "gzip"))
    body = frame_message(b"not gzip", compressed=True)
    async with raw_server(answer(H2Response(200, headers, body, OK_TRAILERS))) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.INTERNAL


async def test_response_decompression_bomb_is_resource_exhausted() -> None:
    headers = (*OK_HEAD, ("grpc-encoding", "gzip"))
    body = frame_message(gzip.compress(b"\x00" * (1 << 20)), compressed=True)
    response = H2Response(200, headers, body, OK_TRAILERS)
    async with raw_server(answer(response), max_receive=SMALL_LIMIT) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.RESOURCE_EXHAUSTED


async def test_response_over_the_receive_limit_is_resource_exhausted() -> None:
    response = H2Response(200, OK_HEAD, frame_message(b"x" * (SMALL_LIMIT + 1)), OK_TRAILERS)
    async with raw_server(answer(response), max_receive=SMALL_LIMIT) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.RESOURCE_EXHAUSTED


async def test_two_responses_for_a_unary_call_is_unimplemented() -> None:
    # S2: response cardinality violation -> UNIMPLEMENTED.
    body = frame_message(b"one") + frame_message(b"two")
    async with raw_server(answer(H2Response(200, OK_HEAD, body, OK_TRAILERS))) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.UNIMPLEMENTED


async def test_no_response_with_ok_for_a_unary_call_is_unimplemented() -> None:
    async with raw_server(answer(H2Response(200, OK_HEAD, b"", OK_TRAILERS))) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    "body",
    [frame_message(b"hello")[:-1], b"\x00\x00", frame_message(b"ok") + b"\x00"],
    ids=["payload", "prefix", "stray-byte"],
)
async def test_truncated_response_message_is_internal(body: bytes) -> None:
    async with raw_server(answer(H2Response(200, OK_HEAD, body, OK_TRAILERS))) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.INTERNAL


@pytest.mark.parametrize("flag", [2, 0xFF])
async def test_invalid_response_compressed_flag_is_internal(flag: int) -> None:
    body = bytes([flag]) + frame_message(b"x")[1:]
    async with raw_server(answer(H2Response(200, OK_HEAD, body, OK_TRAILERS))) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.INTERNAL


@pytest.mark.parametrize("padded", [True, False])
async def test_status_details_bin_is_passed_through_as_rich(padded: bool) -> None:
    # S4: grpc-status-details-bin carries a serialized google.rpc.Status.
    rich = b"\x08\x05\x12\x09not found\xff\x00\x01"  # 16 bytes: base64 has padding
    text = base64.b64encode(rich).decode()
    if not padded:
        text = text.rstrip("=")
    assert padded == text.endswith("=")
    response = H2Response(
        200,
        (
            *OK_HEAD,
            ("grpc-status", "5"),
            ("grpc-message", "not found"),
            ("grpc-status-details-bin", text),
        ),
    )
    async with raw_server(answer(response)) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.NOT_FOUND
        assert error.status.rich == rich
        assert error.trailing_metadata().get("grpc-status-details-bin") is None


async def test_status_details_bin_in_trailers_after_a_message() -> None:
    rich = b"\x08\x03\x12\x03bad"
    trailers = (("grpc-status", "3"), ("grpc-status-details-bin", base64.b64encode(rich).decode()))
    response = H2Response(200, OK_HEAD, b"", trailers)
    async with raw_server(answer(response)) as channel:
        error = await unary_error(channel)
        assert (error.code(), error.status.rich) == (StatusCode.INVALID_ARGUMENT, rich)


RST_CASES = [
    (ErrorCode.NO_ERROR, StatusCode.INTERNAL),
    (ErrorCode.PROTOCOL_ERROR, StatusCode.INTERNAL),
    (ErrorCode.INTERNAL_ERROR, StatusCode.INTERNAL),
    (ErrorCode.FLOW_CONTROL_ERROR, StatusCode.INTERNAL),
    (ErrorCode.SETTINGS_TIMEOUT, StatusCode.INTERNAL),
    (ErrorCode.STREAM_CLOSED, StatusCode.INTERNAL),
    (ErrorCode.FRAME_SIZE_ERROR, StatusCode.INTERNAL),
    (ErrorCode.REFUSED_STREAM, StatusCode.UNAVAILABLE),
    (ErrorCode.CANCEL, StatusCode.CANCELLED),
    (ErrorCode.COMPRESSION_ERROR, StatusCode.INTERNAL),
    (ErrorCode.CONNECT_ERROR, StatusCode.INTERNAL),
    (ErrorCode.ENHANCE_YOUR_CALM, StatusCode.RESOURCE_EXHAUSTED),
    (ErrorCode.INADEQUATE_SECURITY, StatusCode.PERMISSION_DENIED),
    (ErrorCode.HTTP_1_1_REQUIRED, StatusCode.INTERNAL),
    (0x1337, StatusCode.INTERNAL),
]


@pytest.mark.parametrize(("rst", "code"), RST_CASES)
@pytest.mark.parametrize("after_headers", [False, True])
async def test_rst_stream_code_becomes_the_w20_status(
    rst: int, code: StatusCode, after_headers: bool
) -> None:
    # W20. REFUSED_STREAM is retried transparently once (RT7): it is refused both times here.
    attempts = 0

    async def script(stream: RawStream) -> None:
        nonlocal attempts
        attempts += 1
        if after_headers:
            stream.send_headers(RESPONSE_HEAD)
        stream.send_rst(rst)

    async with scripted(script) as channel:
        call = channel.unary_unary(UNARY)(b"x", timeout=10)
        with pytest.raises(RpcError) as caught:
            await call
        assert caught.value.code() == code
        assert await call.code() == code
        # Once the response headers are in, the call is committed: never retried (RT5).
        assert attempts == 1 if after_headers else 1 <= attempts <= 2


@pytest.mark.parametrize("kind", ["unary", "client-stream written and done", "bidi still open"])
async def test_a_refused_stream_is_sent_again_once_when_the_request_is_all_buffered(
    kind: str,
) -> None:
    # RT7: REFUSED_STREAM means the server never processed the stream; a call whose whole
    # request is still in its attempt's replay buffer goes again on a new stream, once.
    requests: list[str] = []

    async def script(stream: RawStream) -> None:
        if not requests:
            requests.append("refused")
            stream.send_rst(ErrorCode.REFUSED_STREAM)
            return
        requests.append("answered")
        stream.send_headers(RESPONSE_HEAD)
        stream.send_data(frame_message(b"ok"))
        stream.send_headers(OK_TRAILERS, end_stream=True)

    async with scripted(script) as channel:
        if kind == "unary":
            assert await channel.unary_unary(UNARY)(b"x", timeout=10) == b"ok"
        elif kind == "client-stream written and done":
            call = channel.stream_unary("/test.Echo/ClientStream")(timeout=10)
            await call.write(b"a")
            await call.write(b"b")
            await call.done_writing()
            assert await call == b"ok"
        else:
            bidi = channel.stream_stream("/test.Echo/Bidi")(timeout=10)
            await bidi.write(b"a")  # the request side is still open: not replayable
            with pytest.raises(RpcError) as caught:
                await bidi.read()
            assert caught.value.code() == StatusCode.UNAVAILABLE
            bidi.cancel()
    assert requests == (["refused"] if kind == "bidi still open" else ["refused", "answered"])


async def test_rst_stream_in_the_middle_of_a_server_stream() -> None:
    async def script(stream: RawStream) -> None:
        stream.send_headers(RESPONSE_HEAD)
        stream.send_data(frame_message(b"0") + frame_message(b"1"))
        stream.send_rst(ErrorCode.ENHANCE_YOUR_CALM)

    async with scripted(script) as channel:
        call = channel.unary_stream("/test.Echo/ServerStream")(b"", timeout=10)
        received = []
        with pytest.raises(RpcError) as caught:
            async for message in call:
                received.append(message)
        assert caught.value.code() == StatusCode.RESOURCE_EXHAUSTED
        assert received == [b"0", b"1"]


@pytest.mark.parametrize("stage", ["before-headers", "after-headers", "after-a-message"])
async def test_connection_dropped_mid_call_is_unavailable(stage: str) -> None:
    # W25: a broken connection fails client calls with UNAVAILABLE.
    async def script(stream: RawStream) -> None:
        if stage != "before-headers":
            stream.send_headers(RESPONSE_HEAD)
        if stage == "after-a-message":
            stream.send_data(frame_message(b"0"))
        stream.drop_connection()

    async with scripted(script) as channel:
        call = channel.unary_stream("/test.Echo/ServerStream")(b"", timeout=10)
        received = []
        with pytest.raises(RpcError) as caught:
            async for message in call:
                received.append(message)
        assert caught.value.code() == StatusCode.UNAVAILABLE
        assert received == ([b"0"] if stage == "after-a-message" else [])


async def test_channel_reconnects_after_the_connection_dropped() -> None:
    calls = 0

    async def script(stream: RawStream) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            stream.drop_connection()
            return
        stream.send_headers(RESPONSE_HEAD)
        stream.send_data(frame_message(b"pong"))
        stream.send_headers([("grpc-status", "0")], end_stream=True)

    async with scripted(script) as channel:
        error = await unary_error(channel)
        assert error.code() == StatusCode.UNAVAILABLE
        assert await channel.unary_unary(UNARY)(b"ping", timeout=10) == b"pong"


@pytest.mark.parametrize("separate_reads", [False, True])
async def test_full_response_then_rst_no_error_before_the_client_finished_is_ok(
    separate_reads: bool,
) -> None:
    # W19: a server that answers before the client's END_STREAM sends RST_STREAM(NO_ERROR)
    # right after its trailers; the client must report the status it got, not a reset.
    # (`separate_reads`: the reset arrives in a later read than the trailers.)
    async def script(stream: RawStream) -> None:
        stream.send_headers(RESPONSE_HEAD)
        stream.send_data(frame_message(b"early"))
        stream.send_headers([("grpc-status", "0")], end_stream=True)
        if separate_reads:
            await asyncio.sleep(0.1)
        stream.send_rst(ErrorCode.NO_ERROR)

    async with scripted(script) as channel:
        call = channel.stream_unary("/test.Echo/ClientStream")(timeout=10)
        await call.write(b"first")  # and never done_writing()
        await asyncio.sleep(0.3)  # the trailers and the reset are both in before we read
        assert await call == b"early"
        assert await call.code() == StatusCode.OK


@pytest.mark.parametrize("separate_reads", [False, True])
async def test_trailers_only_error_then_rst_no_error_before_the_client_finished(
    separate_reads: bool,
) -> None:
    async def script(stream: RawStream) -> None:
        head = (*RESPONSE_HEAD, ("grpc-status", "9"), ("grpc-message", "precondition"))
        stream.send_headers(head, end_stream=True)
        if separate_reads:
            await asyncio.sleep(0.1)
        stream.send_rst(ErrorCode.NO_ERROR)

    async with scripted(script) as channel:
        call = channel.stream_stream("/test.Echo/Bidi")(timeout=10)
        await call.write(b"first")
        await asyncio.sleep(0.3)
        with pytest.raises(RpcError) as caught:
            await call.read()
        assert caught.value.code() == StatusCode.FAILED_PRECONDITION
        assert caught.value.details() == "precondition"
