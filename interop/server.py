"""The gRPC interop test server (grpc/grpc doc/interop-test-descriptions.md, "Server").

``python -m interop.server --port=N [--use_tls --tls_cert_file=F --tls_key_file=F]``

Serves ``grpc.testing.TestService`` with every server feature the interop client cases use:
EmptyCall, UnaryCall (response_size, response_compressed, expect_compressed, response_status),
CacheableUnaryCall (answered like UnaryCall, no cache headers), StreamingInputCall,
StreamingOutputCall and FullDuplexCall (response sizes, interval_us, per-message compression),
HalfDuplexCall, Echo Status and Echo Metadata. ``UnimplementedCall`` is not served, so it
answers UNIMPLEMENTED like a method the server does not know. Prints ``listening on port N``
once it accepts connections (``--port=0`` picks a free port); stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import puregrpc
from interop.protos.grpc.testing import empty_pb2, messages_pb2, test_grpc
from puregrpc import StatusCode

ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"
COMPRESSION = "gzip"

Empty = empty_pb2.Empty
SimpleRequest = messages_pb2.SimpleRequest
SimpleResponse = messages_pb2.SimpleResponse
OutRequest = messages_pb2.StreamingOutputCallRequest
OutResponse = messages_pb2.StreamingOutputCallResponse
InRequest = messages_pb2.StreamingInputCallRequest
InResponse = messages_pb2.StreamingInputCallResponse
UnaryContext = puregrpc.ServicerContext[SimpleRequest, SimpleResponse]
OutContext = puregrpc.ServicerContext[OutRequest, OutResponse]


def _payload(size: int) -> messages_pb2.Payload:
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


async def _echo_metadata(context: puregrpc.ServicerContext[Any, Any]) -> None:
    """Echo Metadata: the initial value back in headers, the -bin value back in trailers."""
    metadata = context.invocation_metadata()
    initial = metadata.get(ECHO_INITIAL)
    if initial is not None:
        await context.send_initial_metadata([(ECHO_INITIAL, initial)])
    trailing = metadata.get(ECHO_TRAILING)
    if trailing is not None:
        context.set_trailing_metadata([(ECHO_TRAILING, trailing)])


async def _echo_status(
    context: puregrpc.ServicerContext[Any, Any], status: messages_pb2.EchoStatus
) -> None:
    """Echo Status: end the call with the status the request names (if not OK)."""
    if status.code == 0:
        return
    try:
        code = StatusCode(status.code)
    except ValueError:
        code = StatusCode.UNKNOWN
    await context.abort(code, status.message)


async def _require_compressed(
    context: puregrpc.ServicerContext[Any, Any], expect: messages_pb2.BoolValue
) -> None:
    """CompressedRequest: INVALID_ARGUMENT when the message should have come compressed."""
    if expect.value and not context.last_message_compressed():
        await context.abort(
            StatusCode.INVALID_ARGUMENT,
            "expected a compressed request message, got one uncompressed",
        )


class TestService(test_grpc.TestServiceServicer):
    """grpc.testing.TestService as the interop server features describe it."""

    async def EmptyCall(
        self, request: Empty, context: puregrpc.ServicerContext[Empty, Empty]
    ) -> Empty:
        await _echo_metadata(context)
        return Empty()

    async def UnaryCall(self, request: SimpleRequest, context: UnaryContext) -> SimpleResponse:
        await _echo_metadata(context)
        await _require_compressed(context, request.expect_compressed)
        await _echo_status(context, request.response_status)
        if request.response_type != messages_pb2.COMPRESSABLE:
            await context.abort(StatusCode.INVALID_ARGUMENT, "unsupported response_type")
        if request.response_compressed.value:
            context.set_compression(COMPRESSION)
        return SimpleResponse(payload=_payload(request.response_size))

    async def CacheableUnaryCall(
        self, request: SimpleRequest, context: UnaryContext
    ) -> SimpleResponse:
        return await self.UnaryCall(request, context)

    async def StreamingOutputCall(
        self, request: OutRequest, context: OutContext
    ) -> AsyncIterator[OutResponse]:
        await _echo_metadata(context)
        await _echo_status(context, request.response_status)
        async for response in _respond(request, context):
            yield response

    async def StreamingInputCall(
        self,
        request_iterator: AsyncIterator[InRequest],
        context: puregrpc.ServicerContext[InRequest, InResponse],
    ) -> InResponse:
        await _echo_metadata(context)
        total = 0
        async for request in request_iterator:
            await _require_compressed(context, request.expect_compressed)
            total += len(request.payload.body)
        return InResponse(aggregated_payload_size=total)

    async def FullDuplexCall(
        self, request_iterator: AsyncIterator[OutRequest], context: OutContext
    ) -> AsyncIterator[OutResponse]:
        await _echo_metadata(context)
        async for request in request_iterator:
            await _echo_status(context, request.response_status)
            async for response in _respond(request, context):
                yield response

    async def HalfDuplexCall(
        self, request_iterator: AsyncIterator[OutRequest], context: OutContext
    ) -> AsyncIterator[OutResponse]:
        await _echo_metadata(context)
        requests = [request async for request in request_iterator]
        for request in requests:
            await _echo_status(context, request.response_status)
            async for response in _respond(request, context):
                yield response

    async def UnimplementedCall(
        self, request: Empty, context: puregrpc.ServicerContext[Empty, Empty]
    ) -> Empty:
        # Never reached: definition() leaves the method out (the interop server does not have it).
        await context.abort(StatusCode.UNIMPLEMENTED, "UnimplementedCall")

    def definition(self) -> puregrpc.ServiceDefinition:
        """The service to add to a server: every method but UnimplementedCall."""
        service = test_grpc.TestService_definition(self)
        del service.methods["UnimplementedCall"]
        return service


async def _respond(request: OutRequest, context: OutContext) -> AsyncIterator[OutResponse]:
    """One response per ResponseParameters: after interval_us, compressed if asked."""
    if any(p.compressed.value for p in request.response_parameters):
        context.set_compression(COMPRESSION)
    for parameters in request.response_parameters:
        if parameters.interval_us > 0:
            await asyncio.sleep(parameters.interval_us / 1e6)
        if not parameters.compressed.value:
            context.disable_next_message_compression()
        yield OutResponse(payload=_payload(parameters.size))


def _flag(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m interop.server", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="port to listen on (0: any)")
    parser.add_argument(
        "--use_tls", type=_flag, nargs="?", const=True, default=False, help="serve TLS"
    )
    parser.add_argument("--tls_cert_file", help="certificate chain (PEM) for --use_tls")
    parser.add_argument("--tls_key_file", help="private key (PEM) for --use_tls")
    args = parser.parse_args(argv)
    if args.use_tls and not (args.tls_cert_file and args.tls_key_file):
        parser.error("--use_tls needs --tls_cert_file and --tls_key_file")
    return args


async def serve(args: argparse.Namespace) -> None:
    ssl_context = None
    if args.use_tls:
        ssl_context = puregrpc.server_ssl_context(args.tls_cert_file, args.tls_key_file)
    server = puregrpc.Server(ssl_context=ssl_context)
    server.add_service(TestService().definition())
    port = await server.start(f"[::]:{args.port}")
    print(f"listening on port {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.stop(grace=1.0)
        await server.wait_for_termination()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
