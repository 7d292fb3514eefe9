"""``puregrpc list | describe | call | health``: talk to any gRPC server from the shell.

Method and message definitions come from the server's reflection service (``grpc.reflection.v1``,
falling back to ``v1alpha``) or, with ``--proto``, from .proto files compiled by protoc.
Requests and responses are protobuf's canonical JSON.

`run` is the asynchronous entry (for callers that already run an event loop, such as tests);
`main` wraps it with `asyncio.run`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import io
import json
import ssl
import sys
import threading
import traceback
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, TextIO

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

from .._client.channel import Channel
from .._transport.credentials import channel_ssl_context
from .._vocab.codes import StatusCode
from .._vocab.errors import MetadataError, RpcError
from .._vocab.metadata import Metadata
from .describe import describe, find_symbol
from .protos import (
    ENUM,
    STRING,
    CliError,
    build_pool,
    compile_protos,
    field,
    message,
    pool_from_set,
    services_in,
)
from .reflection_client import ReflectionClient

PROG = "puregrpc"
COMMANDS = ("list", "describe", "call", "health")
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_SERVING = 3
EXIT_STATUS_BASE = 64
REFLECTION_TIMEOUT = 30.0

EXIT_STATUS_HELP = f"""\
exit status:
  0        success (health: the service is SERVING)
  {EXIT_ERROR}        the command failed before or outside an RPC: bad JSON, unknown service
           or method, no reflection on the server and no --proto, unreadable files ...
  {EXIT_USAGE}        bad command line
  {EXIT_NOT_SERVING}        health: the server answered, with a status other than SERVING
  64+CODE  an RPC ended with gRPC status CODE, e.g. 78 = 64+14 UNAVAILABLE (server unreachable),
           68 = 64+4 DEADLINE_EXCEEDED, 76 = 64+12 UNIMPLEMENTED
errors go to stderr as one line: "ERROR: <STATUS_NAME>: <message>" for a gRPC status,
"{PROG}: error: <message>" otherwise (--debug adds the traceback)."""

# -- grpc.health.v1 (grpc/health/v1/health.proto), rebuilt for a private pool


def _health_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="puregrpc/cli/health.proto", package="grpc.health.v1", syntax="proto3"
    )
    file.message_type.append(message("HealthCheckRequest", [field("service", 1, STRING)]))
    response = message(
        "HealthCheckResponse",
        [field("status", 1, ENUM, ".grpc.health.v1.HealthCheckResponse.ServingStatus")],
    )
    status = response.enum_type.add(name="ServingStatus")
    for number, name in enumerate(("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")):
        status.value.add(name=name, number=number)
    file.message_type.append(response)
    return file


_HEALTH_POOL = build_pool(_health_file())
_HealthRequest: Any = message_factory.GetMessageClass(
    _HEALTH_POOL.FindMessageTypeByName("grpc.health.v1.HealthCheckRequest")
)
_HealthResponse: Any = message_factory.GetMessageClass(
    _HEALTH_POOL.FindMessageTypeByName("grpc.health.v1.HealthCheckResponse")
)
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


# -- command line


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    connection = common.add_argument_group("connection")
    connection.add_argument(
        "address", metavar="ADDR", help="host:port, [v6]:port, unix:/path (as Channel takes)"
    )
    connection.add_argument(
        "--plaintext",
        action="store_true",
        help="no TLS (the default unless a TLS option is given)",
    )
    connection.add_argument(
        "--tls", action="store_true", help="TLS, verifying the server with the system's roots"
    )
    connection.add_argument(
        "--cacert", metavar="FILE", help="TLS, verifying the server with these PEM roots"
    )
    connection.add_argument("--cert", metavar="FILE", help="TLS client certificate (PEM)")
    connection.add_argument("--key", metavar="FILE", help="TLS client private key (PEM)")
    connection.add_argument(
        "--insecure", action="store_true", help="TLS without verifying the server's certificate"
    )
    connection.add_argument(
        "--server-name", metavar="NAME", help="name the server's certificate must match (SNI)"
    )
    connection.add_argument("--authority", metavar="NAME", help=":authority of every request")
    connection.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="'KEY: VALUE'",
        help="request metadata (repeatable; values of -bin keys are base64)",
    )
    connection.add_argument(
        "--timeout",
        type=_positive,
        metavar="SECONDS",
        help="deadline of each RPC (reflection without it: "
        f"{REFLECTION_TIMEOUT:.0f} s; the call itself: none)",
    )
    schema = common.add_argument_group("schema (instead of server reflection)")
    schema.add_argument(
        "--proto",
        action="append",
        default=[],
        metavar="FILE",
        help=".proto file defining the services (repeatable)",
    )
    schema.add_argument(
        "-I",
        "--proto-path",
        dest="proto_path",
        action="append",
        default=[],
        metavar="DIR",
        help="import directory for --proto (repeatable; default: each file's directory)",
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks of failures")

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect and call gRPC servers, using server reflection or .proto files.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            parents=[common],
            help=summary,
            description=summary,
            epilog=EXIT_STATUS_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    listing = command("list", "list the services, or the methods of one service")
    listing.add_argument("service", nargs="?", metavar="SERVICE", help="e.g. hello.HelloService")
    describing = command(
        "describe", "show a service, method, message or enum as proto text (default: services)"
    )
    describing.add_argument(
        "symbol", nargs="?", metavar="SYMBOL", help="e.g. hello.HelloService, hello.HelloRequest"
    )
    calling = command(
        "call",
        "call a method; JSON request(s) in, one JSON response per line out",
    )
    calling.add_argument(
        "method", metavar="METHOD", help="pkg.Service/Method (or pkg.Service.Method)"
    )
    calling.add_argument(
        "data",
        nargs="?",
        metavar="JSON",
        help="the request as a JSON object (default: {}); '-' reads stdin: one object for "
        "unary requests, one object per line for client and bidi streams",
    )
    calling.add_argument(
        "--emit-defaults",
        action="store_true",
        help="print fields holding their default value too",
    )
    checking = command("health", "grpc.health.v1 Check: print the status, exit 0 only when SERVING")
    checking.add_argument(
        "service", nargs="?", default="", metavar="SERVICE", help="default: the whole server"
    )
    return parser


def _metadata(headers: Sequence[str]) -> Metadata:
    pairs: list[tuple[str, str | bytes]] = []
    for header in headers:
        key, colon, value = header.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not colon or not key:
            raise CliError(f"bad header {header!r}: expected 'key: value'")
        if key.endswith("-bin"):
            try:
                padded = value + "=" * (-len(value) % 4)
                pairs.append((key, base64.b64decode(padded, validate=True)))
            except binascii.Error:
                raise CliError(f"bad header {header!r}: -bin values are base64") from None
        else:
            pairs.append((key, value))
    try:
        return Metadata(pairs)
    except MetadataError as exc:
        raise CliError(f"bad header: {exc}") from None


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    tls = bool(args.tls or args.cacert or args.cert or args.key or args.insecure)
    if not tls:
        return None
    if args.plaintext:
        raise CliError("--plaintext cannot go with --tls, --cacert, --cert, --key or --insecure")
    if (args.cert is None) != (args.key is None):
        raise CliError("--cert and --key go together")
    try:
        context = channel_ssl_context(args.cacert, args.key, args.cert)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise CliError(f"cannot set up TLS: {exc}") from None
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _channel(args: argparse.Namespace) -> Channel:
    context = _ssl_context(args)
    try:
        return Channel(
            args.address,
            ssl_context=context,
            authority=args.authority,
            server_hostname=args.server_name,
        )
    except ValueError as exc:
        raise CliError(f"bad address {args.address!r}: {exc}") from None


# -- where descriptors come from


class _Source(Protocol):
    pool: descriptor_pool.DescriptorPool

    async def list_services(self) -> list[str]: ...

    async def load_symbol(self, symbol: str) -> None: ...

    async def close(self) -> None: ...


class _ProtoFiles:
    """Descriptors from ``--proto`` files."""

    def __init__(self, files: list[descriptor_pb2.FileDescriptorProto]) -> None:
        self._files = files
        self.pool = pool_from_set(files)

    async def list_services(self) -> list[str]:
        return services_in(self._files)

    async def load_symbol(self, symbol: str) -> None:
        pass

    async def close(self) -> None:
        pass


def _source(args: argparse.Namespace, channel: Channel, metadata: Metadata) -> _Source:
    if args.proto:
        return _ProtoFiles(compile_protos(args.proto, args.proto_path))
    if args.proto_path:
        raise CliError("-I/--proto-path needs --proto")
    return ReflectionClient(channel, metadata=metadata, timeout=args.timeout or REFLECTION_TIMEOUT)


async def _service(source: _Source, name: str) -> Any:
    await source.load_symbol(name)
    try:
        return source.pool.FindServiceByName(name)
    except KeyError:
        raise CliError(f"unknown service {name}") from None


def _split_method(text: str) -> tuple[str, str]:
    path = text.strip().lstrip("/")
    if "/" in path:
        service, _, method = path.rpartition("/")
    else:
        service, _, method = path.rpartition(".")
    if not service or not method:
        raise CliError(f"bad method {text!r}: expected pkg.Service/Method")
    return service, method


# -- commands


async def _list(args: argparse.Namespace, source: _Source, out: TextIO) -> int:
    if args.service is None:
        names = await source.list_services()
    else:
        service = await _service(source, args.service)
        names = [method.full_name for method in service.methods]
    for name in names:
        print(name, file=out)
    return EXIT_OK


async def _describe(args: argparse.Namespace, source: _Source, out: TextIO) -> int:
    symbols = [args.symbol.replace("/", ".")] if args.symbol else await source.list_services()
    texts = []
    for symbol in symbols:
        await source.load_symbol(symbol)
        found = find_symbol(source.pool, symbol)
        if found is None:
            raise CliError(f"unknown symbol {symbol}")
        texts.append(describe(*found))
    print("\n\n".join(texts), file=out)
    return EXIT_OK


def _parse_request(text: str, cls: Any, pool: descriptor_pool.DescriptorPool) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"malformed JSON request: {exc}") from None
    if not isinstance(value, dict):
        raise CliError(f"the request must be a JSON object, not {type(value).__name__}")
    try:
        return json_format.ParseDict(value, cls(), descriptor_pool=pool)
    except json_format.ParseError as exc:
        raise CliError(f"request does not fit {cls.DESCRIPTOR.full_name}: {exc}") from None


def _in_memory(stream: TextIO) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return True
    return False


async def _lines(stdin: TextIO) -> AsyncIterator[str]:
    """Lines of stdin as they come. A real file is read by a daemon thread so that the event
    loop (and the call's responses) keeps running; in-memory text is read directly."""
    if _in_memory(stdin):
        for line in stdin:
            yield line
        return
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        try:
            for line in stdin:
                put(line)
        finally:
            put(None)

    threading.Thread(target=pump, name="puregrpc-stdin", daemon=True).start()
    while (item := await queue.get()) is not None:
        yield item


async def _call(
    args: argparse.Namespace,
    source: _Source,
    channel: Channel,
    metadata: Metadata,
    out: TextIO,
    stdin: TextIO,
) -> int:
    service_name, method_name = _split_method(args.method)
    service = await _service(source, service_name)
    method = service.methods_by_name.get(method_name)
    if method is None:
        raise CliError(f"unknown method {method_name} in service {service_name}")
    await source.close()  # reflection is done: free its stream before the call
    pool = source.pool
    request_class: Any = message_factory.GetMessageClass(method.input_type)
    response_class: Any = message_factory.GetMessageClass(method.output_type)
    path = f"/{service.full_name}/{method.name}"
    serialize, deserialize = request_class.SerializeToString, response_class.FromString
    options: dict[str, Any] = {"metadata": metadata, "timeout": args.timeout}

    def show(response: Any) -> None:
        text = json_format.MessageToJson(
            response,
            indent=None,
            descriptor_pool=pool,
            always_print_fields_with_no_presence=args.emit_defaults,
        )
        print(text, file=out, flush=True)

    if not method.client_streaming:
        text = "{}" if args.data is None else args.data
        if text == "-":
            text = stdin.read()
        request = _parse_request(text, request_class, pool)
        if method.server_streaming:
            stream_call = channel.unary_stream(path, serialize, deserialize)(request, **options)
            async for response in stream_call:
                show(response)
        else:
            show(await channel.unary_unary(path, serialize, deserialize)(request, **options))
        return EXIT_OK

    if method.server_streaming:
        call: Any = channel.stream_stream(path, serialize, deserialize)(**options)
    else:
        call = channel.stream_unary(path, serialize, deserialize)(**options)
    failures: list[CliError] = []

    async def requests() -> AsyncIterator[Any]:
        if args.data == "-":
            async for line in _lines(stdin):
                if line.strip():
                    yield _parse_request(line, request_class, pool)
        elif args.data is not None:
            yield _parse_request(args.data, request_class, pool)

    async def write_all() -> None:
        try:
            async for request in requests():
                await call.write(request)
            await call.done_writing()
        except RpcError:
            pass  # the reading side reports the call's status
        except CliError as exc:
            failures.append(exc)
            call.cancel()

    writer = asyncio.create_task(write_all())
    try:
        if method.server_streaming:
            async for response in call:
                show(response)
        else:
            show(await call)
    except RpcError:
        if failures:
            raise failures[0] from None
        raise
    finally:
        if not writer.done():
            writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    if failures:
        raise failures[0]
    return EXIT_OK


async def _health(
    args: argparse.Namespace, channel: Channel, metadata: Metadata, out: TextIO
) -> int:
    check = channel.unary_unary(
        HEALTH_CHECK, _HealthRequest.SerializeToString, _HealthResponse.FromString
    )
    response = await check(
        _HealthRequest(service=args.service), metadata=metadata, timeout=args.timeout
    )
    values = _HealthResponse.DESCRIPTOR.enum_types_by_name["ServingStatus"].values_by_number
    value = values.get(response.status)
    name = value.name if value is not None else str(response.status)
    print(name, file=out)
    return EXIT_OK if name == "SERVING" else EXIT_NOT_SERVING


async def _dispatch(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    metadata = _metadata(args.headers)
    async with _channel(args) as channel:
        if args.command == "health":
            if args.proto or args.proto_path:
                raise CliError("health needs no --proto or -I")
            return await _health(args, channel, metadata, out)
        source = _source(args, channel, metadata)
        try:
            if args.command == "list":
                return await _list(args, source, out)
            if args.command == "describe":
                return await _describe(args, source, out)
            return await _call(args, source, channel, metadata, out, stdin)
        finally:
            await source.close()


# -- entry points


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


async def run(
    argv: Sequence[str],
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run one command (``argv`` starts with its name); the exit status."""
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = _parser().parse_args(list(argv))
    except SystemExit as exc:  # --help, or a usage error argparse already reported
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return await _dispatch(args, out, sys.stdin if stdin is None else stdin)
    except RpcError as exc:
        if args.debug:
            traceback.print_exc(file=err)
        code = exc.code()
        name = code.name if isinstance(code, StatusCode) else str(code)
        print(f"ERROR: {name}: {_one_line(exc.details())}", file=err)
        return EXIT_STATUS_BASE + int(code)
    except CliError as exc:
        if args.debug:
            traceback.print_exc(file=err)
        print(f"{PROG}: error: {_one_line(str(exc))}", file=err)
        return EXIT_ERROR
    except Exception as exc:
        if args.debug:
            traceback.print_exc(file=err)
        print(f"{PROG}: error: {type(exc).__name__}: {_one_line(str(exc))}", file=err)
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """The ``puregrpc list|describe|call|health`` entry; the exit status."""
    try:
        return asyncio.run(run(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
