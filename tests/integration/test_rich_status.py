"""Rich error details (S4) between puregrpc, grpcio-status and our own client and server."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import pytest
from google.rpc import error_details_pb2
from support.free_threaded import HAVE_GRPCIO
from support.marks import needs_grpcio

import puregrpc
from puregrpc import RpcError, StatusCode, rich_status, status_details

if HAVE_GRPCIO or TYPE_CHECKING:  # no grpcio on free-threaded CPython: its tests skip there
    import grpc
    from grpc_status import rpc_status

Ctx = puregrpc.ServicerContext[bytes, bytes]


def _error_info() -> Any:
    return error_details_pb2.ErrorInfo(reason="QUOTA", domain="example.com", metadata={"k": "v"})


async def _refuse(request: bytes, context: Ctx) -> bytes:
    await context.abort_with_status(
        rich_status(StatusCode.RESOURCE_EXHAUSTED, "out of quota", [_error_info()])
    )


async def _serve() -> tuple[puregrpc.Server, int]:
    server = puregrpc.Server()
    server.add_service(
        puregrpc.ServiceDefinition("test.Rich", {"Do": puregrpc.unary_unary_handler(_refuse)})
    )
    return server, await server.start("127.0.0.1:0")


async def test_our_client_reads_our_servers_details() -> None:
    server, port = await _serve()
    try:
        async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(RpcError) as caught:
                await channel.unary_unary("/test.Rich/Do")(b"")
        error = caught.value
        assert error.code() == StatusCode.RESOURCE_EXHAUSTED
        proto = status_details(error)
        assert proto is not None
        assert proto.message == "out of quota"
        info = error_details_pb2.ErrorInfo()
        assert proto.details[0].Unpack(info)
        assert info == _error_info()
    finally:
        await server.stop()


@needs_grpcio
async def test_grpcio_status_reads_our_servers_details() -> None:
    server, port = await _serve()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            method: Any = channel.unary_unary("/test.Rich/Do")
            try:
                await method(b"")
            except grpc.aio.AioRpcError as exc:
                proto = rpc_status.from_call(exc)
                code = exc.code()
            else:
                pytest.fail("the call should have failed")
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert proto is not None
        info = error_details_pb2.ErrorInfo()
        assert proto.details[0].Unpack(info)
        assert info.reason == "QUOTA"
    finally:
        await server.stop()


@needs_grpcio
async def test_our_client_reads_grpcio_status_details() -> None:
    async def refuse(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        status = rpc_status.to_status(
            rich_status_pb(StatusCode.PERMISSION_DENIED, "nope", _error_info())
        )
        await context.abort_with_status(status)
        raise AssertionError("unreachable")

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "test.Rich", {"Do": grpc.unary_unary_rpc_method_handler(refuse)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
            try:
                await channel.unary_unary("/test.Rich/Do")(b"")
            except RpcError as exc:
                # Not pytest.raises: its traceback would keep grpcio's server (and thread) alive.
                code, proto = exc.code(), status_details(exc)
            else:
                pytest.fail("the call should have failed")
        assert code == StatusCode.PERMISSION_DENIED
        assert proto is not None and proto.message == "nope"
        info = error_details_pb2.ErrorInfo()
        assert proto.details[0].Unpack(info)
        assert info.domain == "example.com"
    finally:
        await server.stop(None)
        await server.wait_for_termination()
        del server
        gc.collect()  # grpcio's handler state holds cycles that keep its poller thread alive


def rich_status_pb(code: StatusCode, message: str, detail: Any) -> Any:
    from google.rpc import status_pb2

    proto = status_pb2.Status(code=int(code), message=message)
    proto.details.add().Pack(detail)
    return proto


def test_details_that_disagree_with_the_code_are_refused() -> None:
    status = rich_status(StatusCode.NOT_FOUND, "x")
    wrong = puregrpc.Status(StatusCode.INTERNAL, "x", rich=status.rich)
    with pytest.raises(ValueError):
        status_details(wrong)
    assert status_details(puregrpc.Status(StatusCode.INTERNAL, "plain")) is None
