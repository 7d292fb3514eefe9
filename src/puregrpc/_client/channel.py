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
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._transport.credentials import ensure_alpn_h2
from .._transport.keepalive import MIN_KEEPALIVE_TIME, KeepalivePolicy
from .._vocab.caches import IdentityCache
from .._vocab.codes import StatusCode
from .._vocab.errors import RpcError
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
from .resolver import Resolver, resolver_for
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
        resolved = resolver_for(target)
        if resolved is None:
            self._target: Target = parse_target(target)
        else:  # the resolver gives the addresses; the target names the authority
            name = resolved[1].lstrip("/")
            self._target = Target(name, 0, None, name, target)
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
        self._settings = SubchannelSettings(
            tls, server_hostname, max_receive_message_length, keepalive, _dialer
        )
        self._subchannels: list[Subchannel] = []
        self._retired: list[Subchannel] = []  # dropped by the resolver, closing when idle
        self._picker: Picker | None = None
        self._resolver: Resolver | None = None
        self._resolution_error: Status | None = None
        self._resolved: asyncio.Future[None] | None = None  # set at each resolver update
        # By the identity of the tuple the engine decoded (it returns the same object for a
        # repeated block): response heads found plain with their metadata (None: not plain),
        # and trailers with the status they carry.
        self._plain_heads: IdentityCache[Metadata | None] = IdentityCache()
        self._trailer_statuses: IdentityCache[Status] = IdentityCache()
        self._deadlines: Deadlines | None = None
        if resolved is None:
            self._on_addresses([self._target])
        else:
            self._settings.on_lost = self._connection_lost
            self._resolver = resolved[0](resolved[1], _Listener(self))

    # -- addresses (from the resolver, through `_Listener`)
    def _on_addresses(self, addresses: Sequence[Target]) -> None:
        """The resolver's new address list: a subchannel each (kept for addresses already
        known), new calls on the first; subchannels of dropped addresses retire."""
        if self._closed:
            return
        if not addresses:
            self._on_error(Status(StatusCode.UNAVAILABLE, "resolver returned no addresses"))
            return
        known = {subchannel.target: subchannel for subchannel in self._subchannels}
        self._subchannels = [
            known.pop(a) if a in known else Subchannel(a, self._settings) for a in addresses
        ]
        for subchannel in known.values():
            subchannel.retire()
            self._retired.append(subchannel)
        self._picker = SingleSubchannelPicker(self._subchannels[0])
        self._resolution_error = None
        self._wake_pickers()

    def _on_error(self, status: Status) -> None:
        """Resolution failed: calls waiting for a first address list fail with `status`
        unless they wait for ready; the last good list, if any, stays in use."""
        self._resolution_error = status
        if self._picker is None:
            self._wake_pickers()

    def _wake_pickers(self) -> None:
        resolved, self._resolved = self._resolved, None
        if resolved is not None and not resolved.done():
            resolved.set_result(None)

    def _connection_lost(self) -> None:
        if self._resolver is not None and not self._closed:
            self._resolver.resolve_now()

    # -- what calls share
    def _pick(self, method: str) -> Subchannel | None:
        """The subchannel for a new call now; None until the resolver gave addresses."""
        picker = self._picker
        return None if picker is None else picker.pick(method)

    async def _wait_pick(
        self, method: str, deadline: float | None, wait_for_ready: bool
    ) -> Subchannel:
        """The subchannel for a new call, waiting (within `deadline`) for the resolver's first
        addresses; RpcError with the resolver's failure unless `wait_for_ready` (WF1)."""
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise RpcError(Status(StatusCode.UNAVAILABLE, "channel closed"))
            subchannel = self._pick(method)
            if subchannel is not None:
                return subchannel
            if self._resolution_error is not None and not wait_for_ready:
                raise RpcError(self._resolution_error)
            if self._resolved is None:
                self._resolved = loop.create_future()
            try:
                async with asyncio.timeout_at(deadline):
                    await asyncio.shield(self._resolved)
            except TimeoutError:
                raise RpcError(Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")) from None

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
        if self._resolver is not None:
            self._resolver.close()
        self._wake_pickers()
        if self._deadlines is not None:
            self._deadlines.clear()  # the calls still running fail with CANCELLED below
        for subchannel in (*self._subchannels, *self._retired):
            await subchannel.close()
        self._retired.clear()

    async def __aenter__(self) -> Channel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def channel_ready(self) -> None:
        """Connect now (instead of at the first call)."""
        subchannel = await self._wait_pick("", None, True)
        await subchannel.connection(None, False)


class _Listener:
    """What a channel's resolver pushes to (`ResolverListener`), kept off the public Channel."""

    __slots__ = ("_channel",)

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def on_addresses(self, addresses: Sequence[Target]) -> None:
        self._channel._on_addresses(addresses)

    def on_error(self, status: Status) -> None:
        self._channel._on_error(status)
