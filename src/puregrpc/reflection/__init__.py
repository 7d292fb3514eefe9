"""gRPC server reflection: ``grpc.reflection.v1.ServerReflection`` and its predecessor
``grpc.reflection.v1alpha.ServerReflection`` (RF1-RF3), for tools such as grpcurl and grpc_cli.

```python
puregrpc.reflection.add_to_server(server)  # after (or before) adding the other services
```

Answers, on one bidirectional stream, any number of requests:

* ``list_services``: the server's services (`puregrpc.Server.services` at the time of the
  request, reflection included), or the names given to `add_to_server`;
* ``file_by_filename``, ``file_containing_symbol`` (a service, method, message, enum, enum value,
  field, oneof or extension, nested or not), ``file_containing_extension``: the file's
  serialized ``FileDescriptorProto``, then those of its transitive dependencies, leaving out
  the dependencies already sent on the same stream;
* ``all_extension_numbers_of_type``: the numbers of the type's known extensions.

An unknown name gets an ``error_response`` with NOT_FOUND (5), and the stream goes on.

Descriptors come from protobuf's default descriptor pool, where the generated ``_pb2`` modules
register their files when imported, then from puregrpc's own pool (`puregrpc._protos.POOL`:
health and reflection). So import the ``_pb2`` module of every file declaring a service you
serve: a ``_grpc`` module imports only the ``_pb2`` modules of its message types, which may be
other files.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FileDescriptor

import puregrpc
from puregrpc import StatusCode
from puregrpc._protos import POOL
from puregrpc._protos.grpc.reflection.v1 import reflection_grpc, reflection_pb2
from puregrpc._protos.grpc.reflection.v1alpha import reflection_grpc as v1alpha_grpc
from puregrpc._protos.grpc.reflection.v1alpha import reflection_pb2 as v1alpha_pb2

__all__ = [
    "SERVICE_NAMES",
    "ReflectionServicer",
    "add_to_server",
]

SERVICE_NAMES = (
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
)
"""The names the reflection service is served under."""

Request = reflection_pb2.ServerReflectionRequest
Response = reflection_pb2.ServerReflectionResponse
Context = puregrpc.ServicerContext[Request, Response]
V1AlphaContext = puregrpc.ServicerContext[
    v1alpha_pb2.ServerReflectionRequest, v1alpha_pb2.ServerReflectionResponse
]

_LOOKUP_ERRORS = (KeyError, TypeError, ValueError)


class ReflectionServicer(reflection_grpc.ServerReflectionServicer):
    """Serves ``grpc.reflection.v1.ServerReflection`` from descriptor pools.

    `services`: the names ``list_services`` answers, or a function giving them at each request.
    `pools`: where files are looked for, in order (default: protobuf's default pool, then
    `puregrpc._protos.POOL`).
    """

    def __init__(
        self,
        services: Iterable[str] | Callable[[], Iterable[str]],
        *,
        pools: Sequence[descriptor_pool.DescriptorPool] | None = None,
    ) -> None:
        self._services = services if callable(services) else tuple(services)
        self._pools = tuple(pools) if pools is not None else (descriptor_pool.Default(), POOL)

    def service_names(self) -> list[str]:
        services = self._services
        return list(services() if callable(services) else services)

    async def ServerReflectionInfo(
        self, request_iterator: AsyncIterator[Request], context: Context
    ) -> AsyncIterator[Response]:
        sent: set[str] = set()
        async for request in request_iterator:
            yield self.respond(request, sent)

    def respond(self, request: Request, sent: set[str]) -> Response:
        """The answer to one request; `sent` holds the names of the files already sent on this
        stream, and gets those sent now."""
        response = Response(valid_host=request.host)
        response.original_request.CopyFrom(request)
        kind = request.WhichOneof("message_request")
        try:
            if kind == "list_services":
                listed = response.list_services_response
                for name in self.service_names():
                    listed.service.add(name=name)
            elif kind == "file_by_filename":
                self._add_files(response, self._file_by_name(request.file_by_filename), sent)
            elif kind == "file_containing_symbol":
                file = self._file_containing_symbol(request.file_containing_symbol)
                self._add_files(response, file, sent)
            elif kind == "file_containing_extension":
                extension = request.file_containing_extension
                file = self._file_containing_extension(
                    extension.containing_type, extension.extension_number
                )
                self._add_files(response, file, sent)
            elif kind == "all_extension_numbers_of_type":
                name = request.all_extension_numbers_of_type
                numbers = response.all_extension_numbers_response
                numbers.base_type_name = name
                numbers.extension_number.extend(self._extension_numbers(name))
            else:
                return _error(response, StatusCode.INVALID_ARGUMENT, "empty reflection request")
        except _NotFoundError as exc:
            return _error(response, StatusCode.NOT_FOUND, str(exc))
        return response

    # -- lookups (raising _NotFoundError)
    def _file_by_name(self, name: str) -> FileDescriptor:
        for pool in self._pools:
            try:
                return pool.FindFileByName(name)
            except _LOOKUP_ERRORS:
                continue
        raise _NotFoundError(f"file not found: {name}")

    def _file_containing_symbol(self, symbol: str) -> FileDescriptor:
        if symbol.startswith("."):
            # A fully-qualified name has no leading dot; protobuf's pure-Python pool would
            # strip it where its upb pool does not find the name.
            raise _NotFoundError(f"symbol not found: {symbol}")
        parent, _, member = symbol.rpartition(".")
        for pool in self._pools:
            try:
                return pool.FindFileContainingSymbol(symbol)
            except _LOOKUP_ERRORS:
                pass
            # A method or a oneof: not every descriptor pool implementation finds these by
            # name (the pure-Python one, the only one on free-threaded CPython, misses oneofs).
            try:
                service = pool.FindServiceByName(parent)
            except _LOOKUP_ERRORS:
                pass
            else:
                if member in service.methods_by_name:
                    return service.file
            try:
                message = pool.FindMessageTypeByName(parent)
            except _LOOKUP_ERRORS:
                continue
            if member in message.oneofs_by_name:
                return message.file
        raise _NotFoundError(f"symbol not found: {symbol}")

    def _file_containing_extension(self, containing_type: str, number: int) -> FileDescriptor:
        for pool in self._pools:
            try:
                message = pool.FindMessageTypeByName(containing_type)
                extension = pool.FindExtensionByNumber(message, number)
                return pool.FindFileContainingSymbol(extension.full_name)
            except _LOOKUP_ERRORS:
                continue
        raise _NotFoundError(f"extension {number} of {containing_type} not found")

    def _extension_numbers(self, containing_type: str) -> list[int]:
        for pool in self._pools:
            try:
                message = pool.FindMessageTypeByName(containing_type)
            except _LOOKUP_ERRORS:
                continue
            return sorted(extension.number for extension in pool.FindAllExtensions(message))
        raise _NotFoundError(f"type not found: {containing_type}")

    @staticmethod
    def _add_files(response: Response, file: FileDescriptor, sent: set[str]) -> None:
        """`file`, then its transitive dependencies not yet sent on the stream (breadth first)."""
        protos = response.file_descriptor_response.file_descriptor_proto
        protos.append(file.serialized_pb)
        sent.add(file.name)
        seen = {file.name}
        queue = list(file.dependencies)
        while queue:
            dependency = queue.pop(0)
            if dependency.name in seen:
                continue
            seen.add(dependency.name)
            if dependency.name not in sent:
                sent.add(dependency.name)
                protos.append(dependency.serialized_pb)
            queue.extend(dependency.dependencies)


class _NotFoundError(Exception):
    pass


def _error(response: Response, code: StatusCode, message: str) -> Response:
    response.error_response.error_code = int(code)
    response.error_response.error_message = message
    return response


class V1AlphaReflectionServicer(v1alpha_grpc.ServerReflectionServicer):
    """``grpc.reflection.v1alpha.ServerReflection``, answered by a `ReflectionServicer` (the
    messages of both versions are the same on the wire)."""

    def __init__(self, servicer: ReflectionServicer) -> None:
        self._servicer = servicer

    async def ServerReflectionInfo(
        self,
        request_iterator: AsyncIterator[v1alpha_pb2.ServerReflectionRequest],
        context: V1AlphaContext,
    ) -> AsyncIterator[v1alpha_pb2.ServerReflectionResponse]:
        sent: set[str] = set()
        async for request in request_iterator:
            response = self._servicer.respond(Request.FromString(request.SerializeToString()), sent)
            yield v1alpha_pb2.ServerReflectionResponse.FromString(response.SerializeToString())


def add_to_server(
    server: puregrpc.Server,
    service_names: Iterable[str] | None = None,
    *,
    pools: Sequence[descriptor_pool.DescriptorPool] | None = None,
) -> ReflectionServicer:
    """Serve reflection on `server` under both `SERVICE_NAMES`.

    ``list_services`` answers `service_names` (plus the reflection services) when given, else
    the services of `server` at the time of each request. `pools`: see `ReflectionServicer`.
    """
    services: Iterable[str] | Callable[[], Iterable[str]]
    if service_names is None:
        services = lambda: server.services  # noqa: E731
    else:
        names = list(service_names)
        services = names + [name for name in SERVICE_NAMES if name not in names]
    servicer = ReflectionServicer(services, pools=pools)
    reflection_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1alpha_grpc.add_ServerReflectionServicer_to_server(V1AlphaReflectionServicer(servicer), server)
    return servicer
