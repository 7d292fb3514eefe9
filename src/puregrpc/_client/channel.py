"""The client's `Channel`: a virtual connection to a target. No I/O happens in the constructor
or until the first call.

A channel holds what its calls share: the target, the options and limits, the interceptors,
the request-header builder and the caches of response heads and trailers, the deadline queue of
unary calls, and the picker that gives each call a subchannel (one per address; for now one
address per target).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable
from typing import Any

from .._transport.credentials import ensure_alpn_h2
from .._transport.keepalive import MIN_KEEPALIVE_TIME, KeepalivePolicy
from .._vocab.caches import IdentityCache
from .._vocab.metadata import Metadata
from .._vocab.status import Status
from .._vocab.version import VERSION
from .._wire.compression import check_compression
from .._wire.request_head import RequestHeaders
from .._wire.response_head import Fields, plain_metadata
from .._wire.targets import Target, parse_target
from .._wire.trailers import status_from
from .deadlines import Deadlines
from .interceptors import ClientChain, ClientInterceptor
from .multicallable import (
    StreamStreamMultiCallable,
    StreamUnaryMultiCallable,
    UnaryStreamMultiCallable,
    UnaryUnaryMultiCallable,
)
from .picker import Picker, SingleSubchannelPicker
from .subchannel import Dialer, Subchannel, SubchannelSettings

USER_AGENT = f"grpc-python-puregrpc/{VERSION}"
DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024


class Channel:
    """A virtual connection to one target."""

    def __init__(
        self,
        target: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        authority: str | None = None,
        server_hostname: str | None = None,
        compression: str | None = None,
        max_receive_message_length: int = DEFAULT_MAX_RECEIVE,
        max_send_message_length: int | None = None,
        user_agent: str | None = None,
        options: Iterable[tuple[str, Any]] | None = None,
        interceptors: Iterable[ClientInterceptor] = (),
        keepalive_time: float | None = None,
        keepalive_timeout: float = 20.0,
        keepalive_without_calls: bool = False,
        _dialer: Dialer | None = None,
    ) -> None:
        self._chain = ClientChain(tuple(interceptors))
        keepalive: KeepalivePolicy | None = None
        if keepalive_time is not None:  # K1: infinite by default, never below 10 s
            keepalive = KeepalivePolicy(
                max(keepalive_time, MIN_KEEPALIVE_TIME), keepalive_timeout, keepalive_without_calls
            )
        self._target: Target = parse_target(target)
        if ssl_context is not None and self._target.memory_name is not None:
            raise ValueError("the in-memory transport carries no TLS: no ssl_context for memory:")
        tls = ensure_alpn_h2(ssl_context) if ssl_context is not None else None
        self._compression = check_compression(compression)
        self._max_receive = max_receive_message_length
        self._max_send = max_send_message_length
        self._options = dict(options or ())
        self._closed = False
        user_agent = f"{user_agent} {USER_AGENT}" if user_agent else USER_AGENT
        self._request_headers = RequestHeaders(
            "https" if tls is not None else "http",
            authority or self._target.authority,
            user_agent,
        )
        # The name the server's certificate must match (and SNI), when not the target host.
        settings = SubchannelSettings(
            tls, server_hostname, max_receive_message_length, keepalive, _dialer
        )
        self._subchannels = [Subchannel(self._target, settings)]
        self._picker: Picker = SingleSubchannelPicker(self._subchannels[0])
        # By the identity of the tuple the engine decoded (it returns the same object for a
        # repeated block): response heads found plain with their metadata (None: not plain),
        # and trailers with the status they carry.
        self._plain_heads: IdentityCache[Metadata | None] = IdentityCache()
        self._trailer_statuses: IdentityCache[Status] = IdentityCache()
        self._deadlines: Deadlines | None = None

    # -- what calls share
    def _pick(self, method: str) -> Subchannel:
        return self._picker.pick(method)

    def _deadlines_of(self, loop: asyncio.AbstractEventLoop) -> Deadlines:
        deadlines = self._deadlines
        if deadlines is None or deadlines._loop is not loop:
            deadlines = self._deadlines = Deadlines(loop)
        return deadlines

    def _plain_metadata(self, headers: Fields) -> Metadata | None:
        """`plain_metadata(headers)`, cached by the tuple's identity."""
        hit = self._plain_heads.get(id(headers))
        if hit is not None and hit[0] is headers:
            return hit[1]
        return self._plain_heads.miss(headers, plain_metadata)

    def _trailer_status(self, trailers: Fields) -> Status:
        """The status `trailers` carry; cached by the tuple's identity (the same immutable
        Status for the same block)."""
        hit = self._trailer_statuses.get(id(trailers))
        if hit is not None and hit[0] is trailers:
            return hit[1]
        return self._trailer_statuses.miss(trailers, status_from)

    # -- multi-callables (the names grpcio-generated aio stubs call)
    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_: Any,
    ) -> UnaryUnaryMultiCallable[Any, Any]:
        return UnaryUnaryMultiCallable(self, method, request_serializer, response_deserializer)

    def unary_stream(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_: Any,
    ) -> UnaryStreamMultiCallable[Any, Any]:
        return UnaryStreamMultiCallable(self, method, request_serializer, response_deserializer)

    def stream_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_: Any,
    ) -> StreamUnaryMultiCallable[Any, Any]:
        return StreamUnaryMultiCallable(self, method, request_serializer, response_deserializer)

    def stream_stream(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_: Any,
    ) -> StreamStreamMultiCallable[Any, Any]:
        return StreamStreamMultiCallable(self, method, request_serializer, response_deserializer)

    # -- lifecycle
    async def close(self, grace: float | None = None) -> None:
        """Close the channel; calls still running fail with CANCELLED."""
        self._closed = True
        if self._deadlines is not None:
            self._deadlines.clear()  # the calls still running fail with CANCELLED below
        for subchannel in self._subchannels:
            await subchannel.close()

    async def __aenter__(self) -> Channel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def channel_ready(self) -> None:
        """Connect now (instead of at the first call)."""
        await self._pick("").connection(None, False)
