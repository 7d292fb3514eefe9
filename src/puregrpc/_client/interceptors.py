"""Client interceptors (`Channel(interceptors=...)`); the hooks and their order are described in
`puregrpc._vocab.hooks`."""

from __future__ import annotations

from typing import Any

from .._vocab.hooks import overridden
from .._vocab.metadata import MetadataValue
from .._vocab.status import Status


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


class ClientChain:
    """The client interceptors of a channel, split by the hooks they override."""

    __slots__ = ("during_call", "on_call", "on_end", "on_request", "on_response")

    def __init__(self, interceptors: tuple[ClientInterceptor, ...]) -> None:
        self.on_call = overridden(interceptors, ClientInterceptor, "on_call")
        self.on_request = overridden(interceptors, ClientInterceptor, "on_request")
        self.on_response = overridden(interceptors, ClientInterceptor, "on_response")[::-1]
        self.on_end = overridden(interceptors, ClientInterceptor, "on_end")[::-1]
        # Whether a hook runs before or during a call (not only at its end): unary calls take
        # the channel's fast path only without one.
        self.during_call = bool(self.on_call or self.on_request or self.on_response)
