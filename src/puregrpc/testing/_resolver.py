"""A resolver whose addresses the test pushes (as grpc-go's `resolver/manual`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from puregrpc._client.resolver import ResolverListener, register_scheme, unregister_scheme
from puregrpc._vocab.codes import StatusCode
from puregrpc._vocab.status import Status
from puregrpc._wire.targets import Target, parse_target

_numbers = itertools.count(1)


class ManualResolver:
    """Registers a scheme of its own (``manual-<n>`` unless given); a `Channel(resolver.target)`
    gets its addresses from `update([...])` (targets such as ``127.0.0.1:50051``,
    ``unix:/path``, ``memory:name``) and fails its calls with `fail(...)` while it has none.
    `resolve_now_calls` counts the channels' requests to resolve again (a connection was lost).
    Use it as a context manager, or `close()` it, to unregister the scheme."""

    def __init__(self, scheme: str | None = None) -> None:
        self.scheme = scheme or f"manual-{next(_numbers)}"
        self.resolve_now_calls = 0
        self._addresses: list[Target] | None = None
        self._listeners: list[ResolverListener] = []
        register_scheme(self.scheme, self._build)

    @property
    def target(self) -> str:
        """A channel target this resolver answers."""
        return f"{self.scheme}:///test.example"

    def update(self, addresses: Iterable[str]) -> None:
        """Push `addresses` to every channel of this resolver (and to those made later)."""
        self._addresses = [parse_target(address) for address in addresses]
        for listener in self._listeners:
            listener.on_addresses(self._addresses)

    def fail(self, details: str) -> None:
        """Report a resolution failure (UNAVAILABLE) to every channel of this resolver."""
        for listener in self._listeners:
            listener.on_error(Status(StatusCode.UNAVAILABLE, details))

    def close(self) -> None:
        unregister_scheme(self.scheme)
        self._listeners.clear()

    def __enter__(self) -> ManualResolver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the Resolver each channel gets
    def _build(self, rest: str, listener: ResolverListener) -> _ManualChannelResolver:
        self._listeners.append(listener)
        if self._addresses is not None:
            listener.on_addresses(self._addresses)
        return _ManualChannelResolver(self, listener)


class _ManualChannelResolver:
    __slots__ = ("_listener", "_owner")

    def __init__(self, owner: ManualResolver, listener: ResolverListener) -> None:
        self._owner = owner
        self._listener = listener

    def resolve_now(self) -> None:
        self._owner.resolve_now_calls += 1

    def close(self) -> None:
        if self._listener in self._owner._listeners:
            self._owner._listeners.remove(self._listener)
