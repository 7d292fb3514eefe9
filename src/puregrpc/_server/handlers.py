"""How a server knows its methods: method handlers and service definitions."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from .context import ServicerContext

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class Cardinality(enum.Enum):
    UNARY_UNARY = "unary_unary"
    UNARY_STREAM = "unary_stream"
    STREAM_UNARY = "stream_unary"
    STREAM_STREAM = "stream_stream"

    @property
    def request_streaming(self) -> bool:
        return self in (Cardinality.STREAM_UNARY, Cardinality.STREAM_STREAM)

    @property
    def response_streaming(self) -> bool:
        return self in (Cardinality.UNARY_STREAM, Cardinality.STREAM_STREAM)


class MethodHandler(Generic[Req, Resp]):
    """A method's behaviour with its (de)serializers; build one with the `*_handler` helpers."""

    __slots__ = (
        "behaviour",
        "cardinality",
        "request_deserializer",
        "request_streaming",
        "response_serializer",
        "response_streaming",
    )

    def __init__(
        self,
        cardinality: Cardinality,
        behaviour: Callable[..., Any],
        request_deserializer: Callable[[bytes], Req] | None,
        response_serializer: Callable[[Resp], bytes] | None,
    ) -> None:
        self.cardinality = cardinality
        self.request_streaming = cardinality.request_streaming
        self.response_streaming = cardinality.response_streaming
        self.behaviour = behaviour
        self.request_deserializer = request_deserializer
        self.response_serializer = response_serializer


def unary_unary_handler(
    behaviour: Callable[[Req, ServicerContext[Req, Resp]], Awaitable[Resp]],
    request_deserializer: Callable[[bytes], Req] | None = None,
    response_serializer: Callable[[Resp], bytes] | None = None,
) -> MethodHandler[Req, Resp]:
    return MethodHandler(
        Cardinality.UNARY_UNARY, behaviour, request_deserializer, response_serializer
    )


def unary_stream_handler(
    behaviour: Callable[[Req, ServicerContext[Req, Resp]], AsyncIterator[Resp]],
    request_deserializer: Callable[[bytes], Req] | None = None,
    response_serializer: Callable[[Resp], bytes] | None = None,
) -> MethodHandler[Req, Resp]:
    return MethodHandler(
        Cardinality.UNARY_STREAM, behaviour, request_deserializer, response_serializer
    )


def stream_unary_handler(
    behaviour: Callable[[AsyncIterator[Req], ServicerContext[Req, Resp]], Awaitable[Resp]],
    request_deserializer: Callable[[bytes], Req] | None = None,
    response_serializer: Callable[[Resp], bytes] | None = None,
) -> MethodHandler[Req, Resp]:
    return MethodHandler(
        Cardinality.STREAM_UNARY, behaviour, request_deserializer, response_serializer
    )


def stream_stream_handler(
    behaviour: Callable[[AsyncIterator[Req], ServicerContext[Req, Resp]], AsyncIterator[Resp]],
    request_deserializer: Callable[[bytes], Req] | None = None,
    response_serializer: Callable[[Resp], bytes] | None = None,
) -> MethodHandler[Req, Resp]:
    return MethodHandler(
        Cardinality.STREAM_STREAM, behaviour, request_deserializer, response_serializer
    )


class ServiceDefinition:
    """A service's full name (`package.Service`) and its methods by name."""

    __slots__ = ("methods", "name")

    def __init__(self, name: str, methods: Mapping[str, MethodHandler[Any, Any]]) -> None:
        self.name = name
        self.methods = dict(methods)

    def paths(self) -> dict[str, MethodHandler[Any, Any]]:
        """`/package.Service/Method` -> handler."""
        return {f"/{self.name}/{method}": handler for method, handler in self.methods.items()}
