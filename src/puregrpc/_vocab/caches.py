"""Caches keyed by an object's identity, for the immutable tuples the engine hands out again for
a repeated header block (the HPACK decoder returns the same tuple object for the same block).

An entry keeps its key object alive, so its `id` cannot be reused by another object while the
entry exists; a lookup still checks `entry[0] is key`. The size is bounded: when full, the cache
is emptied (the working set of a connection or channel is a handful of header blocks).

On hot paths the lookup is written inline, as the two lines of `get` (a method call costs more
than the dictionary lookup)::

    hit = cache.get(id(key))
    value = hit[1] if hit is not None and hit[0] is key else cache.miss(key, compute)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

V = TypeVar("V")

DEFAULT_LIMIT = 256


class IdentityCache(dict[int, tuple[Any, V]], Generic[V]):
    """`id(key) -> (key, value)`, at most `limit` entries."""

    __slots__ = ("limit",)

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        self.limit = limit

    def lookup(self, key: object) -> V | None:
        """The value cached for exactly `key`, or None."""
        hit = self.get(id(key))
        return hit[1] if hit is not None and hit[0] is key else None

    def miss(self, key: object, compute: Callable[[Any], V]) -> V:
        """`compute(key)`, remembered for `key` (after a lookup found nothing)."""
        value = compute(key)
        self.remember(key, value)
        return value

    def remember(self, key: object, value: V) -> None:
        if len(self) >= self.limit:
            self.clear()
        self[id(key)] = (key, value)
