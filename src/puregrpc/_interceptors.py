"""Interceptors: hooks around every call, on the client and on the server.

An interceptor overrides only the hooks it needs; the others cost nothing. For every kind of
call (unary or streaming either way) the hooks run:

* `on_call` once before anything is sent: read or change metadata, or refuse the call by
  raising (`RpcError` on the client, `context.abort(...)` on the server);
* `on_request` for each request message and `on_response` for each response message: observe
  it, return it or a replacement;
* `on_end` once with the final `Status`.

Order: with interceptors ``[a, b]``, `on_call` and `on_request` run a then b; `on_response`
and `on_end` run b then a (the first interceptor is the outermost, as in grpcio and grpc-go).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._metadata import MetadataValue
from ._status import Status

if TYPE_CHECKING:
    from ._server import ServicerContext


class ClientCallDetails:
    """What a client interceptor may read and change before a call starts."""

    __slots__ = ("metadata", "method", "timeout")

    def __init__(
        self, method: str, metadata: list[tuple[str, MetadataValue]], timeout: float | None
    ) -> None:
        self.method = method  # "/package.Service/Method"
        self.metadata = metadata  # mutable: append, remove or replace pairs
        self.timeout = timeout  # seconds left, or None


class ClientInterceptor:
    """Base class of client interceptors; pass instances to `Channel(interceptors=...)`."""

    async def on_call(self, details: ClientCallDetails) -> None:
        """Before the call starts."""

    async def on_request(self, message: Any, details: ClientCallDetails) -> Any:
        """Each request message, before it is serialized."""
        return message

    async def on_response(self, message: Any, details: ClientCallDetails) -> Any:
        """Each response message, after it is deserialized."""
        return message

    def on_end(self, status: Status, details: ClientCallDetails) -> None:
        """Once, with how the call ended."""


class ServerInterceptor:
    """Base class of server interceptors; pass instances to `Server(interceptors=...)`."""

    async def on_call(self, method: str, context: ServicerContext[Any, Any]) -> None:
        """Before the handler runs; `context.invocation_metadata()` has the request metadata."""

    async def on_request(self, message: Any, context: ServicerContext[Any, Any]) -> Any:
        """Each request message, after it is deserialized."""
        return message

    async def on_response(self, message: Any, context: ServicerContext[Any, Any]) -> Any:
        """Each response message, before it is serialized."""
        return message

    def on_end(self, status: Status, context: ServicerContext[Any, Any]) -> None:
        """Once, with the status the call ends with."""


def _overrides(interceptors: tuple[Any, ...], base: type, hook: str) -> tuple[Any, ...]:
    """The interceptors that override `hook` (so the others cost no await per message)."""
    default = getattr(base, hook)
    return tuple(i for i in interceptors if getattr(type(i), hook, default) is not default)


class ClientChain:
    """The client interceptors of a channel, split by the hooks they override."""

    __slots__ = ("during_call", "on_call", "on_end", "on_request", "on_response")

    def __init__(self, interceptors: tuple[ClientInterceptor, ...]) -> None:
        self.on_call = _overrides(interceptors, ClientInterceptor, "on_call")
        self.on_request = _overrides(interceptors, ClientInterceptor, "on_request")
        self.on_response = _overrides(interceptors, ClientInterceptor, "on_response")[::-1]
        self.on_end = _overrides(interceptors, ClientInterceptor, "on_end")[::-1]
        # Whether a hook runs before or during a call (not only at its end): unary calls take
        # the channel's fast path only without one.
        self.during_call = bool(self.on_call or self.on_request or self.on_response)


class ServerChain:
    """The server interceptors, split by the hooks they override."""

    __slots__ = ("on_call", "on_end", "on_request", "on_response", "plain")

    def __init__(self, interceptors: tuple[ServerInterceptor, ...]) -> None:
        self.on_call = _overrides(interceptors, ServerInterceptor, "on_call")
        self.on_request = _overrides(interceptors, ServerInterceptor, "on_request")
        self.on_response = _overrides(interceptors, ServerInterceptor, "on_response")[::-1]
        self.on_end = _overrides(interceptors, ServerInterceptor, "on_end")[::-1]
        # Nothing to run before the handler or around messages (`on_end` may be there).
        self.plain = not (self.on_call or self.on_request or self.on_response)


__all__ = [
    "ClientCallDetails",
    "ClientChain",
    "ClientInterceptor",
    "ServerChain",
    "ServerInterceptor",
]
