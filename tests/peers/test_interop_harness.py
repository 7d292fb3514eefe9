"""The interop harness checked with peers only: grpc-go and grpcio talking to each other through
the fixtures in peers/fixtures.py. These prove the harness; puregrpc's client and server take
a peer's place in the interop tests proper."""

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import pytest
from support.free_threaded import HAVE_GRPCIO
from support.marks import needs_grpcio
from support.peers.build import PythonStubs
from support.peers.peers import GoHelloClient, GrpcioHelloClient

if HAVE_GRPCIO or TYPE_CHECKING:  # no grpcio on free-threaded CPython: its tests skip there
    import grpc

pytest_plugins = ["support.peers.fixtures"]
pytestmark = pytest.mark.peer

GrpcioServer = Callable[[], AbstractAsyncContextManager[int]]


def test_go_client_to_go_server(go_hello_server: int, run_go_hello_client: GoHelloClient) -> None:
    done = run_go_hello_client.sync(f"127.0.0.1:{go_hello_server}", "Alice")
    assert (done.returncode, done.stdout, done.stderr) == (0, "Greeting: Hello, Alice\n", "")


@needs_grpcio
async def test_grpcio_client_to_go_server(
    go_hello_server: int, grpcio_hello_client: GrpcioHelloClient
) -> None:
    assert await grpcio_hello_client(f"127.0.0.1:{go_hello_server}", "Alice") == "Hello, Alice"


@needs_grpcio
async def test_go_client_to_grpcio_server(
    grpcio_hello_server: GrpcioServer, run_go_hello_client: GoHelloClient
) -> None:
    async with grpcio_hello_server() as port:
        done = await run_go_hello_client(f"127.0.0.1:{port}", "Alice")
    assert (done.returncode, done.stdout, done.stderr) == (0, "Greeting: Hello, Alice\n", "")


@needs_grpcio
async def test_grpcio_client_to_grpcio_server(
    grpcio_hello_server: GrpcioServer, grpcio_hello_client: GrpcioHelloClient
) -> None:
    async with grpcio_hello_server() as port:
        assert await grpcio_hello_client(f"127.0.0.1:{port}", "Bob") == "Hello, Bob"


@needs_grpcio
async def test_go_client_reports_status_code(run_go_hello_client: GoHelloClient) -> None:
    """A server without HelloService: the Go client prints UNIMPLEMENTED and exits 1."""
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        done = await run_go_hello_client(f"127.0.0.1:{port}", "Alice")
    finally:
        await server.stop(grace=None)
        await server.wait_for_termination()
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: code=UNIMPLEMENTED message=")


def test_go_client_unreachable(run_go_hello_client: GoHelloClient) -> None:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = run_go_hello_client.sync(f"127.0.0.1:{port}", "Alice", timeout=2.0)
    assert done.returncode == 1
    assert done.stderr.startswith("error: code=UNAVAILABLE message=")


@needs_grpcio
async def test_go_server_health_service(go_hello_server: int) -> None:
    """grpc-go's health service answers SERVING for the server and for hello.HelloService."""
    service = b"hello.HelloService"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{go_hello_server}") as channel:
        check: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        # HealthCheckRequest{service}, answered by HealthCheckResponse{status: SERVING (1)}.
        assert await check(b"", timeout=5.0) == b"\x08\x01"
        assert await check(b"\x0a" + bytes([len(service)]) + service, timeout=5.0) == b"\x08\x01"


@needs_grpcio
def test_generated_python_stubs(hello_stubs: PythonStubs) -> None:
    pb2, pb2_grpc = hello_stubs.pb2, hello_stubs.pb2_grpc
    assert (hello_stubs.directory / "hello_pb2.pyi").is_file()
    service = pb2.DESCRIPTOR.services_by_name["HelloService"]
    assert service.full_name == "hello.HelloService"
    assert [m.name for m in service.methods] == ["SayHello"]
    request = pb2.HelloRequest(name="Alice")
    assert pb2.HelloRequest.FromString(request.SerializeToString()) == request
    assert request.SerializeToString() == b"\x0a\x05Alice"
    for name in ("HelloServiceStub", "HelloServiceServicer", "add_HelloServiceServicer_to_server"):
        assert hasattr(pb2_grpc, name)
