"""Multi-callables: what `channel.unary_unary(path, ...)` returns and generated stubs call; each
call of one makes a call object (`puregrpc._client.call`)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._vocab.metadata import MetadataLike
from .call import (
    One,
    StreamStreamCall,
    StreamUnaryCall,
    UnaryStreamCall,
    UnaryUnaryCall,
    _Call,
)

if TYPE_CHECKING:
    from .channel import Channel

Req = TypeVar("Req")
Resp = TypeVar("Resp")
_C = TypeVar("_C", bound="_Call[Any, Any]")


class _MultiCallable(Generic[Req, Resp]):
    __slots__ = ("_channel", "_deserialize", "_method", "_serialize")

    def __init__(
        self,
        channel: Channel,
        method: str,
        request_serializer: Callable[[Req], bytes] | None,
        response_deserializer: Callable[[bytes], Resp] | None,
    ) -> None:
        self._channel = channel
        self._method = method
        self._serialize = request_serializer
        self._deserialize = response_deserializer

    def _new(
        self,
        kind: type[_C],
        requests: One[Req] | AsyncIterable[Req] | Iterable[Req] | None,
        timeout: float | None,
        metadata: MetadataLike | None,
        compression: str | None,
        wait_for_ready: bool | None,
    ) -> _C:
        return kind(
            self._channel, self._method, self._serialize, self._deserialize,
            requests, timeout, metadata, compression, bool(wait_for_ready),
        )  # fmt: skip


class UnaryUnaryMultiCallable(_MultiCallable[Req, Resp]):
    def __call__(
        self,
        request: Req,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
        compression: str | None = None,
        wait_for_ready: bool | None = None,
        **_: Any,
    ) -> UnaryUnaryCall[Req, Resp]:
        return UnaryUnaryCall(
            self._channel, self._method, self._serialize, self._deserialize,
            One(request), timeout, metadata, compression, bool(wait_for_ready),
        )  # fmt: skip


class UnaryStreamMultiCallable(_MultiCallable[Req, Resp]):
    def __call__(
        self,
        request: Req,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
        compression: str | None = None,
        wait_for_ready: bool | None = None,
        **_: Any,
    ) -> UnaryStreamCall[Req, Resp]:
        return self._new(
            UnaryStreamCall, One(request), timeout, metadata, compression, wait_for_ready
        )


class StreamUnaryMultiCallable(_MultiCallable[Req, Resp]):
    def __call__(
        self,
        request_iterator: AsyncIterable[Req] | Iterable[Req] | None = None,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
        compression: str | None = None,
        wait_for_ready: bool | None = None,
        **_: Any,
    ) -> StreamUnaryCall[Req, Resp]:
        return self._new(
            StreamUnaryCall, request_iterator, timeout, metadata, compression, wait_for_ready
        )


class StreamStreamMultiCallable(_MultiCallable[Req, Resp]):
    def __call__(
        self,
        request_iterator: AsyncIterable[Req] | Iterable[Req] | None = None,
        *,
        timeout: float | None = None,
        metadata: MetadataLike | None = None,
        compression: str | None = None,
        wait_for_ready: bool | None = None,
        **_: Any,
    ) -> StreamStreamCall[Req, Resp]:
        return self._new(
            StreamStreamCall, request_iterator, timeout, metadata, compression, wait_for_ready
        )
