"""Server interceptors (`Server(interceptors=...)`); the hooks and their order are described in
`puregrpc._vocab.hooks`."""

from __future__ import annotations

from typing import Any

from .._vocab.hooks import overridden
from .._vocab.status import Status
from .context import ServicerContext


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


class ServerChain:
    """The server interceptors, split by the hooks they override."""

    __slots__ = ("on_call", "on_end", "on_request", "on_response", "plain")

    def __init__(self, interceptors: tuple[ServerInterceptor, ...]) -> None:
        self.on_call = overridden(interceptors, ServerInterceptor, "on_call")
        self.on_request = overridden(interceptors, ServerInterceptor, "on_request")
        self.on_response = overridden(interceptors, ServerInterceptor, "on_response")[::-1]
        self.on_end = overridden(interceptors, ServerInterceptor, "on_end")[::-1]
        # Nothing to run before the handler or around messages (`on_end` may be there).
        self.plain = not (self.on_call or self.on_request or self.on_response)
