"""A gRPC server reflection client (RF1-RF4) filling a private `DescriptorPool`.

One ``ServerReflectionInfo`` stream serves every question of a session. It is opened on
``grpc.reflection.v1`` first; a server answering UNIMPLEMENTED before any reply gets the same
question again on ``grpc.reflection.v1alpha`` (grpc-go before 1.45, grpcio-reflection). Both
versions have the same messages on the wire, so one pair of message classes serves both.

Files come back as serialized FileDescriptorProtos; those they import that the server did not
send (RF3 allows skipping files already sent) are asked for by name, and failing that taken
from the well-known types bundled with protobuf. They are added to the pool dependencies first.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from .._client.call import StreamStreamCall
from .._client.channel import Channel
from .._vocab.codes import StatusCode
from .._vocab.errors import RpcError
from .._vocab.metadata import Metadata
from .protos import BYTES, INT32, MESSAGE, REPEATED, STRING, CliError, build_pool, field, message

PACKAGES = ("grpc.reflection.v1", "grpc.reflection.v1alpha")
SERVICE = "ServerReflection"
METHOD = "ServerReflectionInfo"


def _reflection_file() -> descriptor_pb2.FileDescriptorProto:
    """grpc/reflection/v1/reflection.proto, rebuilt field for field."""
    package = PACKAGES[0]

    def ref(name: str) -> str:
        return f".{package}.{name}"

    file = descriptor_pb2.FileDescriptorProto(
        name="puregrpc/cli/reflection.proto", package=package, syntax="proto3"
    )
    file.message_type.extend(
        [
            message(
                "ServerReflectionRequest",
                [
                    field("host", 1, STRING),
                    field("file_by_filename", 3, STRING, oneof=0),
                    field("file_containing_symbol", 4, STRING, oneof=0),
                    field(
                        "file_containing_extension",
                        5,
                        MESSAGE,
                        ref("ExtensionRequest"),
                        oneof=0,
                    ),
                    field("all_extension_numbers_of_type", 6, STRING, oneof=0),
                    field("list_services", 7, STRING, oneof=0),
                ],
                ["message_request"],
            ),
            message(
                "ExtensionRequest",
                [field("containing_type", 1, STRING), field("extension_number", 2, INT32)],
            ),
            message(
                "ServerReflectionResponse",
                [
                    field("valid_host", 1, STRING),
                    field("original_request", 2, MESSAGE, ref("ServerReflectionRequest")),
                    field(
                        "file_descriptor_response",
                        4,
                        MESSAGE,
                        ref("FileDescriptorResponse"),
                        oneof=0,
                    ),
                    field(
                        "all_extension_numbers_response",
                        5,
                        MESSAGE,
                        ref("ExtensionNumberResponse"),
                        oneof=0,
                    ),
                    field(
                        "list_services_response",
                        6,
                        MESSAGE,
                        ref("ListServiceResponse"),
                        oneof=0,
                    ),
                    field("error_response", 7, MESSAGE, ref("ErrorResponse"), oneof=0),
                ],
                ["message_response"],
            ),
            message(
                "FileDescriptorResponse",
                [field("file_descriptor_proto", 1, BYTES, label=REPEATED)],
            ),
            message(
                "ExtensionNumberResponse",
                [
                    field("base_type_name", 1, STRING),
                    field("extension_number", 2, INT32, label=REPEATED),
                ],
            ),
            message(
                "ListServiceResponse",
                [field("service", 1, MESSAGE, ref("ServiceResponse"), label=REPEATED)],
            ),
            message("ServiceResponse", [field("name", 1, STRING)]),
            message(
                "ErrorResponse",
                [field("error_code", 1, INT32), field("error_message", 2, STRING)],
            ),
        ]
    )
    return file


_POOL = build_pool(_reflection_file())
Request: Any = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{PACKAGES[0]}.ServerReflectionRequest")
)
Response: Any = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{PACKAGES[0]}.ServerReflectionResponse")
)


class ReflectionUnsupportedError(CliError):
    """The server has no reflection service (UNIMPLEMENTED on every version)."""


class SymbolNotFoundError(CliError):
    """The server's reflection does not know a symbol."""


def _error_text(response: Any) -> str:
    error = response.error_response
    try:
        name = StatusCode(error.error_code).name
    except ValueError:
        name = str(error.error_code)
    return f"{name}: {error.error_message}" if error.error_message else name


def _bundled_file(name: str) -> descriptor_pb2.FileDescriptorProto | None:
    """A well-known type file (``google/protobuf/*.proto``) as shipped with protobuf."""
    if not name.startswith("google/protobuf/") or not name.endswith(".proto"):
        return None
    module = name.removesuffix(".proto").replace("/", ".") + "_pb2"
    with contextlib.suppress(ImportError):
        importlib.import_module(module)
    try:
        found = descriptor_pool.Default().FindFileByName(name)
    except KeyError:
        return None
    proto = descriptor_pb2.FileDescriptorProto()
    found.CopyToProto(proto)
    return proto


class ReflectionClient:
    """Asks a server's reflection service; `pool` holds every file received so far."""

    def __init__(
        self,
        channel: Channel,
        *,
        metadata: Metadata | None = None,
        timeout: float | None = None,
    ) -> None:
        self.pool = descriptor_pool.DescriptorPool()
        self.version: str | None = None
        """The reflection package that answered (``grpc.reflection.v1`` or ``...v1alpha``)."""
        self._channel = channel
        self._metadata = metadata or Metadata()
        self._timeout = timeout
        self._package_index = 0
        self._call: StreamStreamCall[Any, Any] | None = None
        self._received: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        self._added: set[str] = set()

    async def __aenter__(self) -> ReflectionClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _open(self) -> StreamStreamCall[Any, Any]:
        package = PACKAGES[self._package_index]
        multicallable = self._channel.stream_stream(
            f"/{package}.{SERVICE}/{METHOD}",
            request_serializer=Request.SerializeToString,
            response_deserializer=Response.FromString,
        )
        return multicallable(metadata=self._metadata, timeout=self._timeout)

    async def ask(self, request: Any) -> Any:
        """One question, one answer (a ``ServerReflectionResponse``); RpcError on failure."""
        while True:
            if self._call is None:
                self._call = self._open()
            call = self._call
            try:
                await call.write(request)
                response = await call.read()
            except RpcError as exc:
                self._call = None
                if exc.code() != StatusCode.UNIMPLEMENTED or self.version is not None:
                    raise
                if self._package_index + 1 < len(PACKAGES):
                    self._package_index += 1
                    continue
                raise ReflectionUnsupportedError(
                    "the server does not support reflection (UNIMPLEMENTED for "
                    f"{' and '.join(PACKAGES)}): name the protos with --proto"
                ) from None
            if response is None:
                self._call = None
                raise CliError("the server ended the reflection stream without answering")
            self.version = PACKAGES[self._package_index]
            return response

    async def close(self) -> None:
        """Half-close the stream and let the server finish it."""
        call, self._call = self._call, None
        if call is None:
            return
        with contextlib.suppress(RpcError):
            await call.done_writing()
            while await call.read() is not None:
                pass

    async def list_services(self) -> list[str]:
        """Full names of the services the server offers."""
        response = await self.ask(Request(list_services="*"))
        kind = response.WhichOneof("message_response")
        if kind == "error_response":
            raise CliError(f"the server could not list its services: {_error_text(response)}")
        if kind != "list_services_response":
            raise CliError(f"unexpected reflection reply {kind} to list_services")
        return sorted(service.name for service in response.list_services_response.service)

    async def load_symbol(self, symbol: str) -> None:
        """Add the file defining ``symbol`` (and its imports) to `pool`.

        A symbol the server does not know is asked for again without its last component, so
        that methods and fields resolve through their service or message.
        """
        if self._known(symbol):
            return
        candidates = [symbol]
        if "." in symbol:
            candidates.append(symbol.rsplit(".", 1)[0])
        error = ""
        for candidate in candidates:
            response = await self.ask(Request(file_containing_symbol=candidate))
            kind = response.WhichOneof("message_response")
            if kind == "file_descriptor_response":
                await self._add_files(response.file_descriptor_response.file_descriptor_proto)
                return
            if kind != "error_response":
                raise CliError(f"unexpected reflection reply {kind} to file_containing_symbol")
            error = error or _error_text(response)
        raise SymbolNotFoundError(f"unknown symbol {symbol} (server reflection: {error})")

    def _known(self, symbol: str) -> bool:
        try:
            self.pool.FindFileContainingSymbol(symbol)
        except KeyError:
            return False
        return True

    def _receive(self, blobs: Any) -> list[str]:
        names = []
        for blob in blobs:
            try:
                file = descriptor_pb2.FileDescriptorProto.FromString(blob)
            except Exception as exc:
                raise CliError(f"the server sent a malformed file descriptor: {exc}") from None
            self._received.setdefault(file.name, file)
            names.append(file.name)
        return names

    async def _add_files(self, blobs: Any) -> None:
        for name in self._receive(blobs):
            await self._add(name, ())

    async def _add(self, name: str, chain: tuple[str, ...]) -> None:
        if name in self._added:
            return
        if name in chain:
            raise CliError(f"import cycle in the server's files: {' -> '.join((*chain, name))}")
        file = self._received.get(name) or await self._fetch(name)
        for dependency in file.dependency:
            await self._add(dependency, (*chain, name))
        try:
            self.pool.AddSerializedFile(file.SerializeToString())
        except (TypeError, ValueError) as exc:
            raise CliError(f"the server's file {name} does not build: {exc}") from None
        self._added.add(name)

    async def _fetch(self, name: str) -> descriptor_pb2.FileDescriptorProto:
        response = await self.ask(Request(file_by_filename=name))
        if response.WhichOneof("message_response") == "file_descriptor_response":
            self._receive(response.file_descriptor_response.file_descriptor_proto)
        file = self._received.get(name) or _bundled_file(name)
        if file is None:
            raise CliError(f"the server did not send {name}, which its files import")
        self._received[name] = file
        return file
