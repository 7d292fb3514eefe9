"""The ``puregrpc list | describe | call | health`` command line client.

Most tests run the CLI in-process (`puregrpc._cli.run` with in-memory stdin/stdout/stderr) with
the server in the test's own event loop; a few run ``python -m puregrpc`` as a subprocess for
the real exit status and stdin pipe.

Servers: grpcio with grpcio-reflection (v1alpha only: proves the v1 -> v1alpha fallback), the
grpc-go hello server (its reflection is v1alpha in grpc-go 1.33; it registers health too), and
puregrpc's own server serving tests/cli/echo.proto, described to the CLI with ``--proto``, with
puregrpc's reflection and health services when those modules exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import io
import json
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from google.protobuf import descriptor_pool, message_factory
from support.free_threaded import HAVE_GRPCIO
from support.marks import needs_grpcio
from support.peers.build import PythonMessages, PythonStubs
from support.peers.peers import GrpcioHelloServicer

import puregrpc
from puregrpc._cli.main import run as cli_run
from puregrpc._cli.protos import compile_protos, pool_from_set
from puregrpc._cli.reflection_client import ReflectionClient, SymbolNotFoundError

if HAVE_GRPCIO or TYPE_CHECKING:  # no grpcio on free-threaded CPython: its tests skip there
    import grpc
    from grpc_reflection.v1alpha import reflection as grpcio_reflection
if TYPE_CHECKING:
    from support.tls import Certs

pytest_plugins = ["support.peers.fixtures", "support.tls"]  # go_hello_server, hello_*; certs

HERE = Path(__file__).parent
PROTO_DIR = HERE
ECHO_PROTO = PROTO_DIR / "echo.proto"
REPO_SRC = HERE.parents[1] / "src"
PROTO_ARGS = ["--proto", str(ECHO_PROTO), "-I", str(PROTO_DIR)]
ECHO_METHODS = ["Unary", "ServerStream", "ClientStream", "Bidi"]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines()]


async def cli(*argv: str, stdin: str = "") -> Result:
    """Run the CLI in this event loop."""
    out, err = io.StringIO(), io.StringIO()
    code = await cli_run(list(argv), out, err, io.StringIO(stdin))
    result = Result(code, out.getvalue(), err.getvalue())
    assert "Traceback" not in result.err, result.err
    return result


def assert_one_error_line(result: Result, code: int, starts: str) -> None:
    assert result.code == code, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(starts), result.err


def free_port() -> int:
    """A port nothing listens on (once the socket is closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- servers


@contextlib.asynccontextmanager
async def grpcio_reflection_server(stubs: PythonStubs) -> AsyncIterator[str]:
    """grpcio serving HelloService with grpcio-reflection; yields its address."""
    server = grpc.aio.server()
    stubs.pb2_grpc.add_HelloServiceServicer_to_server(GrpcioHelloServicer(stubs), server)
    enable_reflection: Any = grpcio_reflection.enable_server_reflection  # untyped
    enable_reflection(["hello.HelloService", grpcio_reflection.SERVICE_NAME], server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)
        await server.wait_for_termination()


@functools.cache
def echo_pool() -> descriptor_pool.DescriptorPool:
    """echo.proto compiled by protoc (as `--proto` does) into a private pool."""
    return pool_from_set(compile_protos([str(ECHO_PROTO)], [str(PROTO_DIR)]))


def echo_class(name: str) -> Any:
    """A message class of echo.proto."""
    return message_factory.GetMessageClass(echo_pool().FindMessageTypeByName(f"clitest.{name}"))


class EchoServicer:
    def __init__(self) -> None:
        self.reply = echo_class("EchoReply")

    def _header(self, context: Any) -> str:
        return str(context.invocation_metadata().get("x-echo", ""))

    async def Unary(self, request: Any, context: Any) -> Any:
        if request.HasField("fail_with"):
            await context.abort(puregrpc.StatusCode(request.fail_with), "asked to fail")
        return self.reply(text=request.text, mood=request.mood, header=self._header(context))

    async def ServerStream(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for index in range(request.repeat):
            yield self.reply(text=request.text, index=index)

    async def ClientStream(self, requests: AsyncIterator[Any], context: Any) -> Any:
        texts = [request.text async for request in requests]
        return self.reply(text=" ".join(texts), index=len(texts))

    async def Bidi(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        index = 0
        async for request in requests:
            yield self.reply(text=request.text.upper(), index=index)
            index += 1


def echo_service() -> puregrpc.ServiceDefinition:
    servicer = EchoServicer()
    request, reply = echo_class("EchoRequest"), echo_class("EchoReply")
    codec = (request.FromString, reply.SerializeToString)
    return puregrpc.ServiceDefinition(
        "clitest.Echo",
        {
            "Unary": puregrpc.unary_unary_handler(servicer.Unary, *codec),
            "ServerStream": puregrpc.unary_stream_handler(servicer.ServerStream, *codec),
            "ClientStream": puregrpc.stream_unary_handler(servicer.ClientStream, *codec),
            "Bidi": puregrpc.stream_stream_handler(servicer.Bidi, *codec),
        },
    )


@contextlib.asynccontextmanager
async def puregrpc_server(
    *services: puregrpc.ServiceDefinition, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    server = puregrpc.Server(ssl_context=ssl_context)
    for service in services:
        server.add_service(service)
    port = await server.start("127.0.0.1:0")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=1.0)


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[str]:
    async with puregrpc_server(echo_service()) as address:
        yield address


# -- grpcio with grpcio-reflection (v1alpha)


@needs_grpcio
async def test_list_describe_call_via_grpcio_reflection(hello_stubs: PythonStubs) -> None:
    async with grpcio_reflection_server(hello_stubs) as address:
        listed = await cli("list", address)
        assert listed == Result(
            0, "grpc.reflection.v1alpha.ServerReflection\nhello.HelloService\n", ""
        )

        methods = await cli("list", address, "hello.HelloService")
        assert methods == Result(0, "hello.HelloService.SayHello\n", "")

        service = await cli("describe", address, "hello.HelloService")
        assert service.code == 0, service
        assert service.out == (
            "hello.HelloService is a service:\n"
            "service HelloService {\n"
            "  rpc SayHello ( .hello.HelloRequest ) returns ( .hello.HelloResponse );\n"
            "}\n"
        )
        request = await cli("describe", address, "hello.HelloRequest")
        assert request.out == (
            "hello.HelloRequest is a message:\nmessage HelloRequest {\n  string name = 1;\n}\n"
        )
        method = await cli("describe", address, "hello.HelloService/SayHello")
        assert method.out == (
            "hello.HelloService.SayHello is a method:\n"
            "rpc SayHello ( .hello.HelloRequest ) returns ( .hello.HelloResponse );\n"
        )

        called = await cli("call", address, "hello.HelloService/SayHello", '{"name": "Alice"}')
        assert called == Result(0, '{"message": "Hello, Alice"}\n', "")
        dotted = await cli(
            "call", address, "hello.HelloService.SayHello", "-", stdin='{"name":\n"Bo"}'
        )
        assert dotted.json_lines == [{"message": "Hello, Bo"}]
        empty = await cli("call", address, "hello.HelloService/SayHello", "--emit-defaults")
        assert empty.json_lines == [{"message": "Hello, "}]


@needs_grpcio
async def test_errors_against_grpcio(hello_stubs: PythonStubs) -> None:
    async with grpcio_reflection_server(hello_stubs) as address:
        no_service = await cli("call", address, "hello.Nope/SayHello", "{}")
        assert_one_error_line(no_service, 1, "puregrpc: error: unknown symbol hello.Nope")
        listed = await cli("list", address, "hello.Nope")
        assert_one_error_line(listed, 1, "puregrpc: error: unknown symbol hello.Nope")
        no_method = await cli("call", address, "hello.HelloService/Nope", "{}")
        assert_one_error_line(
            no_method, 1, "puregrpc: error: unknown method Nope in service hello.HelloService"
        )
        no_symbol = await cli("describe", address, "hello.Missing")
        assert_one_error_line(no_symbol, 1, "puregrpc: error: unknown symbol hello.Missing")

        for bad, why in [
            ('{"name": ', "malformed JSON request"),
            ("[1, 2]", "the request must be a JSON object"),
            ('{"nom": "x"}', "request does not fit hello.HelloRequest"),
            ('{"name": 5}', "request does not fit hello.HelloRequest"),
        ]:
            result = await cli("call", address, "hello.HelloService/SayHello", bad)
            assert_one_error_line(result, 1, f"puregrpc: error: {why}")

        bad_header = await cli("list", address, "-H", "no colon here")
        assert_one_error_line(bad_header, 1, "puregrpc: error: bad header 'no colon here'")
        upper = await cli("list", address, "-H", "x-bad: caf\u00e9")
        assert_one_error_line(upper, 1, "puregrpc: error: bad header")

        # A server without health: the status of the RPC, 64 + UNIMPLEMENTED.
        health = await cli("health", address)
        assert_one_error_line(health, 64 + 12, "ERROR: UNIMPLEMENTED: ")


@needs_grpcio
async def test_reflection_falls_back_to_v1alpha(hello_stubs: PythonStubs) -> None:
    async with (
        grpcio_reflection_server(hello_stubs) as address,
        puregrpc.Channel(address) as channel,
        ReflectionClient(channel, timeout=5.0) as client,
    ):
        assert "hello.HelloService" in await client.list_services()
        assert client.version == "grpc.reflection.v1alpha"
        await client.load_symbol("hello.HelloService.SayHello")  # a method: via its service
        method = client.pool.FindMethodByName("hello.HelloService.SayHello")
        assert method.input_type.full_name == "hello.HelloRequest"


async def test_server_without_reflection(hello_messages: PythonMessages) -> None:
    async with puregrpc_server(echo_service()) as address:
        result = await cli("list", address)
    assert_one_error_line(
        result, 1, "puregrpc: error: the server does not support reflection (UNIMPLEMENTED"
    )
    assert "--proto" in result.err


async def test_unreachable_server() -> None:
    address = f"127.0.0.1:{free_port()}"
    for argv in (
        ["list", address],
        ["call", address, "clitest.Echo/Unary", *PROTO_ARGS],
        ["health", address],
    ):
        result = await cli(*argv)
        assert_one_error_line(result, 64 + 14, "ERROR: UNAVAILABLE: failed to connect")


async def test_usage_errors() -> None:
    assert (await cli()).code == 2
    missing = await cli("call")
    assert missing.code == 2
    assert "required" in missing.err
    assert (await cli("list", "x:1", "--timeout", "0")).code == 2
    helped = await cli("call", "--help")
    assert helped.code == 0
    assert "64+CODE" in helped.out
    conflict = await cli("list", "127.0.0.1:1", "--plaintext", "--tls")
    assert_one_error_line(conflict, 1, "puregrpc: error: --plaintext cannot go with --tls")
    half = await cli("list", "127.0.0.1:1", "--cert", "c.pem")
    assert_one_error_line(half, 1, "puregrpc: error: --cert and --key go together")
    address = await cli("list", "unix:")
    assert_one_error_line(address, 1, "puregrpc: error: bad address")
    no_file = await cli("list", "127.0.0.1:1", "--proto", "nowhere.proto")
    assert_one_error_line(no_file, 1, "puregrpc: error: no such file: nowhere.proto")


# -- puregrpc's server, schema from --proto


async def test_list_and_describe_with_proto_files() -> None:
    address = f"127.0.0.1:{free_port()}"  # listing from files needs no server
    listed = await cli("list", address, *PROTO_ARGS)
    assert listed == Result(0, "clitest.Echo\n", "")
    methods = await cli("list", address, "clitest.Echo", *PROTO_ARGS)
    assert methods.out.splitlines() == [f"clitest.Echo.{name}" for name in ECHO_METHODS]
    service = await cli("describe", address, "clitest.Echo", *PROTO_ARGS)
    assert service.out.splitlines()[1:] == [
        "service Echo {",
        "  rpc Unary ( .clitest.EchoRequest ) returns ( .clitest.EchoReply );",
        "  rpc ServerStream ( .clitest.EchoRequest ) returns ( stream .clitest.EchoReply );",
        "  rpc ClientStream ( stream .clitest.EchoRequest ) returns ( .clitest.EchoReply );",
        "  rpc Bidi ( stream .clitest.EchoRequest ) returns ( stream .clitest.EchoReply );",
        "}",
    ]
    request = await cli("describe", address, "clitest.EchoRequest", *PROTO_ARGS)
    assert request.out.splitlines() == [
        "clitest.EchoRequest is a message:",
        "message EchoRequest {",
        "  string text = 1;",
        "  int32 repeat = 2;",
        "  .clitest.Mood mood = 3;",
        "  map<string, int32> counts = 4;",
        "  oneof extra {",
        "    string note = 5;",
        "    .google.protobuf.Timestamp at = 6;",
        "  }",
        "  optional int32 fail_with = 7;",
        "  .clitest.EchoRequest.Inner inner = 8;",
        "  message Inner {",
        "    repeated string tags = 1;",
        "  }",
        "}",
    ]
    mood = await cli("describe", address, "clitest.Mood", *PROTO_ARGS)
    assert mood.out.splitlines() == [
        "clitest.Mood is an enum:",
        "enum Mood {",
        "  MOOD_UNSPECIFIED = 0;",
        "  HAPPY = 1;",
        "  GRUMPY = 2;",
        "}",
    ]
    everything = await cli("describe", address, *PROTO_ARGS)
    assert everything.out.startswith("clitest.Echo is a service:\nservice Echo {\n")


async def test_four_call_kinds_with_proto_files() -> None:
    async with echo_server() as address:
        request = {
            "text": "hi",
            "mood": "HAPPY",
            "counts": {"a": 1},
            "at": "2024-01-02T03:04:05Z",
            "inner": {"tags": ["x"]},
        }
        unary = await cli(
            "call", address, "clitest.Echo/Unary", json.dumps(request), "-H", "X-Echo: v1",
            *PROTO_ARGS,
        )  # fmt: skip
        assert unary == Result(0, '{"text": "hi", "mood": "HAPPY", "header": "v1"}\n', "")

        server_stream = await cli(
            "call", address, "clitest.Echo/ServerStream", '{"text": "s", "repeat": 3}',
            *PROTO_ARGS,
        )  # fmt: skip
        assert server_stream.json_lines == [
            {"text": "s"},
            {"text": "s", "index": 1},
            {"text": "s", "index": 2},
        ]
        none = await cli("call", address, "clitest.Echo/ServerStream", '{"text": "s"}', *PROTO_ARGS)
        assert none == Result(0, "", "")

        lines = '{"text": "a"}\n\n{"text": "b"}\n{"text": "c"}\n'
        client_stream = await cli(
            "call", address, "clitest.Echo/ClientStream", "-", *PROTO_ARGS, stdin=lines
        )
        assert client_stream.json_lines == [{"text": "a b c", "index": 3}]
        no_requests = await cli("call", address, "clitest.Echo/ClientStream", *PROTO_ARGS)
        assert no_requests.json_lines == [{}]
        one_request = await cli(
            "call", address, "clitest.Echo/ClientStream", '{"text": "x"}', *PROTO_ARGS
        )
        assert one_request.json_lines == [{"text": "x", "index": 1}]

        bidi = await cli("call", address, "clitest.Echo/Bidi", "-", *PROTO_ARGS, stdin=lines)
        assert bidi.json_lines == [
            {"text": "A"},
            {"text": "B", "index": 1},
            {"text": "C", "index": 2},
        ]


async def test_call_errors_with_proto_files() -> None:
    async with echo_server() as address:
        failed = await cli("call", address, "clitest.Echo/Unary", '{"failWith": 7}', *PROTO_ARGS)
        assert_one_error_line(failed, 64 + 7, "ERROR: PERMISSION_DENIED: asked to fail")

        bad_line = '{"text": "a"}\n{"text": \n'
        for method in ("ClientStream", "Bidi"):
            result = await cli(
                "call", address, f"clitest.Echo/{method}", "-", *PROTO_ARGS, stdin=bad_line
            )
            assert result.code == 1, result
            assert result.err.splitlines()[-1].startswith("puregrpc: error: malformed JSON")

        no_service = await cli("call", address, "clitest.Nope/Unary", *PROTO_ARGS)
        assert_one_error_line(no_service, 1, "puregrpc: error: unknown service clitest.Nope")
        no_method = await cli("call", address, "clitest.Echo/Nope", *PROTO_ARGS)
        assert_one_error_line(no_method, 1, "puregrpc: error: unknown method Nope")
        enum = await cli("call", address, "clitest.Echo/Unary", '{"mood": "SAD"}', *PROTO_ARGS)
        assert_one_error_line(enum, 1, "puregrpc: error: request does not fit")

    # A server that never answers in time: DEADLINE_EXCEEDED from --timeout.
    async def slow(request: Any, context: Any) -> Any:
        await asyncio.sleep(10)
        return request

    request = echo_class("EchoRequest")
    definition = puregrpc.ServiceDefinition(
        "clitest.Echo",
        {
            "Unary": puregrpc.unary_unary_handler(
                slow, request.FromString, request.SerializeToString
            )
        },
    )
    async with puregrpc_server(definition) as address:
        late = await cli("call", address, "clitest.Echo/Unary", "--timeout", "0.2", *PROTO_ARGS)
    assert_one_error_line(late, 64 + 4, "ERROR: DEADLINE_EXCEEDED: ")


async def test_tls(certs: Certs) -> None:
    context = puregrpc.server_ssl_context(
        certs.server.cert,
        certs.server.key,
        root_certificates=certs.ca.cert,
        require_client_auth=True,
    )
    async with puregrpc_server(echo_service(), ssl_context=context) as address:
        call = ["call", address, "clitest.Echo/Unary", '{"text": "tls"}', *PROTO_ARGS]
        identity = ["--cert", str(certs.client.cert_path), "--key", str(certs.client.key_path)]
        mutual = await cli(*call, "--cacert", str(certs.ca.cert_path), *identity)
        assert mutual == Result(0, '{"text": "tls"}\n', "")
        unverified = await cli(*call, "--insecure", *identity)
        assert unverified == Result(0, '{"text": "tls"}\n', "")

        anonymous = await cli(*call, "--cacert", str(certs.ca.cert_path))
        assert_one_error_line(anonymous, 64 + 14, "ERROR: UNAVAILABLE: ")
        untrusted = await cli(*call, "--cacert", str(certs.other_ca.cert_path), *identity)
        assert_one_error_line(untrusted, 64 + 14, "ERROR: UNAVAILABLE: ")
        plaintext = await cli(*call)
        assert plaintext.code >= 64, plaintext
        assert len(plaintext.err.splitlines()) == 1, plaintext
        missing = await cli(*call, "--cacert", "/nonexistent/ca.pem")
        assert_one_error_line(missing, 1, "puregrpc: error: cannot set up TLS: ")


async def test_debug_shows_traceback() -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["list", f"127.0.0.1:{free_port()}", "--debug"]
    assert await cli_run(argv, out, err, io.StringIO()) == 64 + 14
    assert "Traceback" in err.getvalue()
    assert err.getvalue().splitlines()[-1].startswith("ERROR: UNAVAILABLE: ")


# -- grpc-go: reflection v1alpha and health


async def test_go_server(go_hello_server: int) -> None:
    address = f"127.0.0.1:{go_hello_server}"
    listed = await cli("list", address)
    assert listed.code == 0, listed
    assert listed.out.splitlines() == [
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "hello.HelloService",
    ]
    methods = await cli("list", address, "grpc.health.v1.Health")
    assert "grpc.health.v1.Health.Check" in methods.out.splitlines()
    called = await cli("call", address, "hello.HelloService/SayHello", '{"name": "Go"}')
    assert called == Result(0, '{"message": "Hello, Go"}\n', "")
    described = await cli("describe", address, "hello.HelloResponse")
    assert described.out.splitlines()[-2:] == ["  string message = 1;", "}"]

    assert await cli("health", address) == Result(0, "SERVING\n", "")
    assert await cli("health", address, "hello.HelloService") == Result(0, "SERVING\n", "")
    unknown = await cli("health", address, "no.Such")
    assert_one_error_line(unknown, 64 + 5, "ERROR: NOT_FOUND: ")


# -- puregrpc's own reflection and health services (when they exist)


def _module_or_skip(name: str) -> Any:
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} does not exist yet")
    return importlib.import_module(name)


async def test_puregrpc_health() -> None:
    health = _module_or_skip("puregrpc.health")
    server = puregrpc.Server()
    server.add_service(echo_service())
    servicer = health.add_to_server(server)
    servicer.set("clitest.Echo", health.NOT_SERVING)
    port = await server.start("127.0.0.1:0")
    address = f"127.0.0.1:{port}"
    try:
        assert await cli("health", address) == Result(0, "SERVING\n", "")
        assert await cli("health", address, "clitest.Echo") == Result(3, "NOT_SERVING\n", "")
        servicer.set("clitest.Echo", health.SERVING)
        assert await cli("health", address, "clitest.Echo") == Result(0, "SERVING\n", "")
        unknown = await cli("health", address, "no.Such")
        assert_one_error_line(unknown, 64 + 5, "ERROR: NOT_FOUND: ")
    finally:
        await server.stop(grace=1.0)


async def test_puregrpc_reflection(hello_messages: PythonMessages) -> None:
    """Reflection v1 served by puregrpc for hello.proto (its classes are in the default pool)."""
    reflection = _module_or_skip("puregrpc.reflection")
    server = puregrpc.Server()
    pb2 = hello_messages.pb2

    async def say_hello(request: Any, context: Any) -> Any:
        return pb2.HelloResponse(message=f"Hello, {request.name}")

    server.add_service(
        puregrpc.ServiceDefinition(
            "hello.HelloService",
            {
                "SayHello": puregrpc.unary_unary_handler(
                    say_hello, pb2.HelloRequest.FromString, pb2.HelloResponse.SerializeToString
                )
            },
        )
    )
    reflection.add_to_server(server)
    port = await server.start("127.0.0.1:0")
    address = f"127.0.0.1:{port}"
    try:
        listed = await cli("list", address)
        assert listed.code == 0, listed
        assert "hello.HelloService" in listed.out.splitlines()
        assert "grpc.reflection.v1.ServerReflection" in listed.out.splitlines()
        described = await cli("describe", address, "hello.HelloService")
        assert "rpc SayHello ( .hello.HelloRequest ) returns ( .hello.HelloResponse );" in (
            described.out
        )
        called = await cli("call", address, "hello.HelloService/SayHello", '{"name": "Py"}')
        assert called == Result(0, '{"message": "Hello, Py"}\n', "")
        async with (
            puregrpc.Channel(address) as channel,
            ReflectionClient(channel, timeout=5.0) as client,
        ):
            await client.load_symbol("hello.HelloRequest")
            assert client.version == "grpc.reflection.v1"  # no fallback needed
            with pytest.raises(SymbolNotFoundError, match="NOT_FOUND"):
                await client.load_symbol("no.such.Thing")
            await client.load_symbol("hello.HelloService")  # the stream goes on after errors
            assert client.pool.FindServiceByName("hello.HelloService").methods[0].name == (
                "SayHello"
            )
    finally:
        await server.stop(grace=1.0)


# -- as a subprocess: the real exit status, stdin and stdout


async def run_process(*argv: str, stdin: str = "") -> Result:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "puregrpc",
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_SRC,  # this checkout's puregrpc, installed or not
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


@needs_grpcio
async def test_subprocess_exit_status(hello_stubs: PythonStubs) -> None:
    async with grpcio_reflection_server(hello_stubs) as address:
        ok = await run_process("call", address, "hello.HelloService/SayHello", '{"name": "P"}')
        assert ok == Result(0, '{"message": "Hello, P"}\n', "")
        bad = await run_process("call", address, "hello.HelloService/SayHello", "{")
        assert bad.code == 1
        assert bad.err.startswith("puregrpc: error: malformed JSON request")
        assert "Traceback" not in bad.err
    async with echo_server() as address:
        lines = '{"text": "x"}\n{"text": "y"}\n'
        streamed = await run_process(
            "call", address, "clitest.Echo/Bidi", "-", *PROTO_ARGS, stdin=lines
        )
        assert streamed == Result(0, '{"text": "X"}\n{"text": "Y", "index": 1}\n', "")
        failed = await run_process(
            "call", address, "clitest.Echo/Unary", '{"fail_with": 9}', *PROTO_ARGS
        )
        assert failed == Result(73, "", "ERROR: FAILED_PRECONDITION: asked to fail\n")
    gone = await run_process("health", address)
    assert gone.code == 78
    assert gone.err.startswith("ERROR: UNAVAILABLE: ")
    assert len(gone.err.splitlines()) == 1
