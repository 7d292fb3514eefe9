"""The gRPC interop test client (grpc/grpc doc/interop-test-descriptions.md, "Client").

``python -m interop.client --server_host=H --server_port=N --test_case=NAME|all
[--use_tls --ca_file=F --server_host_override=HOST]``

One case: exit status 0 when it passes, 1 with the reason on stderr when it fails. ``all`` runs
every case, prints ``PASS name`` or ``FAIL name: reason`` for each, and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import puregrpc
from interop.protos.grpc.testing import empty_pb2, messages_pb2, test_grpc
from puregrpc import RpcError, StatusCode

ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"
INITIAL_VALUE = "test_initial_metadata_value"
TRAILING_VALUE = b"\xab\xab\xab"
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
CASE_TIMEOUT = 10.0

SimpleRequest = messages_pb2.SimpleRequest
OutRequest = messages_pb2.StreamingOutputCallRequest
OutResponse = messages_pb2.StreamingOutputCallResponse
InRequest = messages_pb2.StreamingInputCallRequest
Params = messages_pb2.ResponseParameters
BoolValue = messages_pb2.BoolValue


class CaseFailedError(Exception):
    """A test case's assertion did not hold."""


def check(condition: bool, reason: str) -> None:
    if not condition:
        raise CaseFailedError(reason)


def payload(size: int) -> messages_pb2.Payload:
    return messages_pb2.Payload(body=bytes(size))


def check_body(response_payload: messages_pb2.Payload, size: int) -> None:
    body = response_payload.body
    check(len(body) == size, f"payload body is {len(body)} bytes, expected {size}")
    check(body == bytes(size), "payload body is not all zeros")


@dataclass
class Peer:
    """The stubs the cases call, on one channel."""

    channel: puregrpc.Channel
    test: test_grpc.TestServiceStub
    unimplemented: test_grpc.UnimplementedServiceStub

    @classmethod
    def on(cls, channel: puregrpc.Channel) -> Peer:
        return cls(
            channel,
            test_grpc.TestServiceStub(channel),
            test_grpc.UnimplementedServiceStub(channel),
        )


async def expect_error(call: Awaitable[object], code: StatusCode, what: str) -> RpcError:
    """Await `call`; the RpcError it must end with (CaseFailedError on any other outcome)."""
    try:
        await call
    except RpcError as error:
        check(error.code() == code, f"{what}: got {error.code().name}, expected {code.name}")
        return error
    raise CaseFailedError(f"{what}: succeeded, expected {code.name}")


def large_request(**fields: object) -> SimpleRequest:
    return SimpleRequest(response_size=314159, payload=payload(271828), **fields)  # type: ignore[arg-type]


async def empty_unary(peer: Peer) -> None:
    response = await peer.test.EmptyCall(empty_pb2.Empty())
    check(isinstance(response, empty_pb2.Empty), "response is not an Empty")


async def large_unary(peer: Peer) -> None:
    response = await peer.test.UnaryCall(large_request())
    check_body(response.payload, 314159)


async def client_compressed_unary(peer: Peer) -> None:
    probe = peer.test.UnaryCall(large_request(expect_compressed=BoolValue(value=True)))
    await expect_error(probe, StatusCode.INVALID_ARGUMENT, "uncompressed probe")
    response = await peer.test.UnaryCall(
        large_request(expect_compressed=BoolValue(value=True)), compression="gzip"
    )
    check_body(response.payload, 314159)
    response = await peer.test.UnaryCall(large_request(expect_compressed=BoolValue(value=False)))
    check_body(response.payload, 314159)


async def server_compressed_unary(peer: Peer) -> None:
    for compressed in (True, False):
        call = peer.test.UnaryCall(large_request(response_compressed=BoolValue(value=compressed)))
        response = await call
        check(
            call.last_message_compressed() is compressed,
            f"response_compressed={compressed} but the compressed flag is "
            f"{call.last_message_compressed()}",
        )
        check_body(response.payload, 314159)


async def client_streaming(peer: Peer) -> None:
    sizes = (27182, 8, 1828, 45904)
    response = await peer.test.StreamingInputCall(InRequest(payload=payload(n)) for n in sizes)
    check(
        response.aggregated_payload_size == 74922,
        f"aggregated_payload_size is {response.aggregated_payload_size}, expected 74922",
    )


async def client_compressed_streaming(peer: Peer) -> None:
    probe = peer.test.StreamingInputCall(
        [InRequest(expect_compressed=BoolValue(value=True), payload=payload(27182))]
    )
    await expect_error(probe, StatusCode.INVALID_ARGUMENT, "uncompressed probe")
    call = peer.test.StreamingInputCall(compression="gzip")
    await call.write(InRequest(expect_compressed=BoolValue(value=True), payload=payload(27182)))
    call.disable_next_message_compression()
    await call.write(InRequest(expect_compressed=BoolValue(value=False), payload=payload(45904)))
    await call.done_writing()
    response = await call
    check(
        response.aggregated_payload_size == 73086,
        f"aggregated_payload_size is {response.aggregated_payload_size}, expected 73086",
    )


async def server_streaming(peer: Peer) -> None:
    sizes = [31415, 9, 2653, 58979]
    request = OutRequest(response_parameters=[Params(size=n) for n in sizes])
    responses = [r async for r in peer.test.StreamingOutputCall(request)]
    check(len(responses) == 4, f"{len(responses)} responses, expected 4")
    for response, size in zip(responses, sizes, strict=True):
        check_body(response.payload, size)


async def server_compressed_streaming(peer: Peer) -> None:
    request = OutRequest(
        response_parameters=[
            Params(size=31415, compressed=BoolValue(value=True)),
            Params(size=92653, compressed=BoolValue(value=False)),
        ]
    )
    call = peer.test.StreamingOutputCall(request)
    for size, compressed in ((31415, True), (92653, False)):
        response = await call.read()
        check(response is not None, "fewer than 2 responses")
        assert response is not None
        check(
            call.last_message_compressed() is compressed,
            f"response of {size} bytes: compressed flag {call.last_message_compressed()}, "
            f"expected {compressed}",
        )
        check_body(response.payload, size)
    check(await call.read() is None, "more than 2 responses")


async def ping_pong(peer: Peer) -> None:
    sizes = [(31415, 27182), (9, 8), (2653, 1828), (58979, 45904)]
    call = peer.test.FullDuplexCall()
    for response_size, request_size in sizes:
        await call.write(
            OutRequest(
                response_parameters=[Params(size=response_size)], payload=payload(request_size)
            )
        )
        response = await call.read()
        check(response is not None, "the stream ended early")
        assert response is not None
        check_body(response.payload, response_size)
    await call.done_writing()
    check(await call.read() is None, "more than 4 responses")
    check(await call.code() == StatusCode.OK, f"status {(await call.code()).name}")


async def empty_stream(peer: Peer) -> None:
    call = peer.test.FullDuplexCall()
    await call.done_writing()
    responses = [r async for r in call]
    check(not responses, f"{len(responses)} responses, expected none")
    check(await call.code() == StatusCode.OK, f"status {(await call.code()).name}")


async def custom_metadata(peer: Peer) -> None:
    metadata: list[tuple[str, str | bytes]] = [
        (ECHO_INITIAL, INITIAL_VALUE),
        (ECHO_TRAILING, TRAILING_VALUE),
    ]

    async def check_echo(call: test_grpc.TestServiceStub | object, what: str) -> None:
        assert isinstance(call, puregrpc.UnaryUnaryCall | puregrpc.StreamStreamCall)
        initial = await call.initial_metadata()
        check(
            initial.get(ECHO_INITIAL) == INITIAL_VALUE,
            f"{what}: initial metadata {ECHO_INITIAL} = {initial.get(ECHO_INITIAL)!r}",
        )
        trailing = await call.trailing_metadata()
        check(
            trailing.get(ECHO_TRAILING) == TRAILING_VALUE,
            f"{what}: trailing metadata {ECHO_TRAILING} = {trailing.get(ECHO_TRAILING)!r}",
        )

    unary = peer.test.UnaryCall(large_request(), metadata=metadata)
    check_body((await unary).payload, 314159)
    await check_echo(unary, "UnaryCall")
    request = OutRequest(response_parameters=[Params(size=314159)], payload=payload(271828))
    duplex = peer.test.FullDuplexCall(metadata=metadata)
    await duplex.write(request)
    await duplex.done_writing()
    responses = [r async for r in duplex]
    check(len(responses) == 1, f"FullDuplexCall: {len(responses)} responses, expected 1")
    check_body(responses[0].payload, 314159)
    await check_echo(duplex, "FullDuplexCall")


async def _status_echo(peer: Peer, message: str) -> None:
    status = messages_pb2.EchoStatus(code=2, message=message)
    error = await expect_error(
        peer.test.UnaryCall(SimpleRequest(response_status=status)), StatusCode.UNKNOWN, "UnaryCall"
    )
    check(error.details() == message, f"UnaryCall: message {error.details()!r}")
    duplex = peer.test.FullDuplexCall()
    await duplex.write(OutRequest(response_status=status))
    await duplex.done_writing()
    error = await expect_error(_drain(duplex), StatusCode.UNKNOWN, "FullDuplexCall")
    check(error.details() == message, f"FullDuplexCall: message {error.details()!r}")


async def _drain(call: AsyncIterable[OutResponse]) -> None:
    async for _ in call:
        pass


async def status_code_and_message(peer: Peer) -> None:
    await _status_echo(peer, "test status message")


async def special_status_message(peer: Peer) -> None:
    status = messages_pb2.EchoStatus(code=2, message=SPECIAL_MESSAGE)
    error = await expect_error(
        peer.test.UnaryCall(SimpleRequest(response_status=status)), StatusCode.UNKNOWN, "UnaryCall"
    )
    check(error.details() == SPECIAL_MESSAGE, f"message {error.details()!r}")


async def unimplemented_method(peer: Peer) -> None:
    call = peer.test.UnimplementedCall(empty_pb2.Empty())
    await expect_error(call, StatusCode.UNIMPLEMENTED, "TestService/UnimplementedCall")


async def unimplemented_service(peer: Peer) -> None:
    call = peer.unimplemented.UnimplementedCall(empty_pb2.Empty())
    await expect_error(call, StatusCode.UNIMPLEMENTED, "UnimplementedService/UnimplementedCall")


async def cancel_after_begin(peer: Peer) -> None:
    started = asyncio.Event()

    async def requests() -> AsyncIterator[InRequest]:
        started.set()  # the call has sent its headers and asks for its first message
        await asyncio.Event().wait()
        yield InRequest()

    call = peer.test.StreamingInputCall(requests())
    outcome = asyncio.ensure_future(expect_error(call, StatusCode.CANCELLED, "StreamingInputCall"))
    await started.wait()
    call.cancel()
    await outcome


async def cancel_after_first_response(peer: Peer) -> None:
    call = peer.test.FullDuplexCall()
    await call.write(OutRequest(response_parameters=[Params(size=31415)], payload=payload(27182)))
    response = await call.read()
    check(response is not None, "no response")
    call.cancel()
    check(await call.code() == StatusCode.CANCELLED, f"status {(await call.code()).name}")


async def timeout_on_sleeping_server(peer: Peer) -> None:
    call = peer.test.FullDuplexCall(timeout=0.001)
    with contextlib.suppress(RpcError):  # the deadline may pass before the request is written
        await call.write(OutRequest(payload=payload(27182)))
    await expect_error(_drain(call), StatusCode.DEADLINE_EXCEEDED, "FullDuplexCall")


CASES: dict[str, Callable[[Peer], Awaitable[None]]] = {
    f.__name__: f
    for f in (
        empty_unary,
        large_unary,
        client_streaming,
        server_streaming,
        ping_pong,
        empty_stream,
        custom_metadata,
        status_code_and_message,
        special_status_message,
        unimplemented_method,
        unimplemented_service,
        cancel_after_begin,
        cancel_after_first_response,
        timeout_on_sleeping_server,
        client_compressed_unary,
        server_compressed_unary,
        client_compressed_streaming,
        server_compressed_streaming,
    )
}


async def run_case(peer: Peer, name: str) -> str | None:
    """Run one case: None when it passes, else why it failed."""
    try:
        async with asyncio.timeout(CASE_TIMEOUT):
            await CASES[name](peer)
    except CaseFailedError as exc:
        return str(exc)
    except RpcError as exc:
        return f"RPC failed: {exc.code().name}: {exc.details()}"
    except TimeoutError:
        return f"no result within {CASE_TIMEOUT} s"
    return None


def _flag(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m interop.client", description=__doc__)
    parser.add_argument("--server_host", default="localhost")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--test_case", required=True, choices=[*CASES, "all"])
    parser.add_argument("--use_tls", type=_flag, nargs="?", const=True, default=False)
    parser.add_argument("--ca_file", help="CA certificates (PEM) to trust; system roots if unset")
    parser.add_argument(
        "--server_host_override", help="name for the TLS check and :authority (default: host)"
    )
    return parser.parse_args(argv)


def make_channel(args: argparse.Namespace) -> puregrpc.Channel:
    host = args.server_host
    target = f"[{host}]:{args.server_port}" if ":" in host else f"{host}:{args.server_port}"
    override = args.server_host_override
    if args.use_tls:
        return puregrpc.Channel(
            target,
            ssl_context=puregrpc.channel_ssl_context(args.ca_file),
            server_hostname=override,
            authority=override,
        )
    return puregrpc.Channel(target, authority=override)


async def run(args: argparse.Namespace) -> int:
    names = list(CASES) if args.test_case == "all" else [args.test_case]
    failed = 0
    async with make_channel(args) as channel:
        peer = Peer.on(channel)
        for name in names:
            reason = await run_case(peer, name)
            if reason is None:
                print(f"PASS {name}", flush=True)
            else:
                failed += 1
                print(f"FAIL {name}: {reason}", flush=True)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
