"""The resolver seam (doc/naming.md): a resolver turns a channel's target into addresses and
pushes them to the channel; the channel asks it to resolve again when a connection is lost.

Resolvers are registered by URI scheme (`register_scheme`). A target whose scheme is not
registered is one address, parsed by `puregrpc._wire.targets` (`host:port`, `dns:`, `ipv4:`,
`ipv6:`, `unix:`, `memory:`: today's built-in behaviour, as grpc-go's passthrough). A registered
scheme's factory is called once per channel, in the channel's constructor, with the rest of the
target and the channel as listener; it must not do I/O there (start lookups in a task).

Until a resolver's first update, calls wait for it (within their deadline); an error pushed
before any address fails the calls that do not wait for ready with that status (UNAVAILABLE).
The channel's addresses are then the last list pushed: the first address is used for new calls
(pick-first without fail-over, for now; balancers come with the channel issue).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from .._vocab.status import Status
from .._wire.targets import Target


class ResolverListener(Protocol):
    """What a resolver pushes to (the channel)."""

    def on_addresses(self, addresses: Sequence[Target]) -> None:
        """The target's addresses now (an empty list is an error: use `on_error`)."""

    def on_error(self, status: Status) -> None:
        """Resolution failed; the last good addresses stay in use."""


class Resolver(Protocol):
    def resolve_now(self) -> None:
        """Resolve again soon (a connection was lost); a hint, rate-limited by the resolver."""

    def close(self) -> None:
        """The channel is closed: stop, push nothing more."""


# (rest of the target after "scheme:", the channel) -> the channel's resolver
ResolverFactory = Callable[[str, ResolverListener], Resolver]

_schemes: dict[str, ResolverFactory] = {}


def register_scheme(scheme: str, factory: ResolverFactory) -> None:
    """Make targets `scheme:...` resolved by `factory` (ValueError if the scheme is taken)."""
    if not scheme.isidentifier() and not scheme.replace("-", "").isalnum():
        raise ValueError(f"invalid resolver scheme {scheme!r}")
    if scheme in _schemes:
        raise ValueError(f"resolver scheme {scheme!r} is already registered")
    _schemes[scheme] = factory


def unregister_scheme(scheme: str) -> None:
    _schemes.pop(scheme, None)


def resolver_for(target: str) -> tuple[ResolverFactory, str] | None:
    """The registered factory for `target`'s scheme and the rest of the target, or None."""
    scheme, colon, rest = target.partition(":")
    if not colon:
        return None
    factory = _schemes.get(scheme)
    return None if factory is None else (factory, rest)
