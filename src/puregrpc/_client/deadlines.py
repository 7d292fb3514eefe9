"""The deadlines of a channel's unary calls, behind one loop timer instead of a `TimerHandle`
each (the calls of the unary fast path; others use `asyncio.timeout_at`)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

_MIN_COMPACT = 256  # compacted beyond this many queued calls, or twice what was left


class Expiring(Protocol):
    """A call with a deadline: `_status` is set once it ended; `_expire()` ends it."""

    @property
    def _status(self) -> object | None: ...
    def _expire(self) -> None: ...


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Deadlines:
    """The deadlines of a channel's fast-path unary calls, behind one loop timer instead of a
    `TimerHandle` each.

    Calls made with the same timeout arrive in deadline order, so a deque kept sorted by
    appending holds them; a call whose deadline is earlier than the last one queued gets a loop
    timer of its own. Finished calls leave from the front as calls finish (mostly in order);
    when one long call holds the front, the deque is compacted each time it doubles (as
    asyncio compacts its cancelled timers), so it stays about as long as the calls in flight.
    """

    __slots__ = ("_compact_at", "_loop", "_queue", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: deque[tuple[float, Expiring]] = deque()
        self._compact_at = _MIN_COMPACT
        self._timer: asyncio.TimerHandle | None = None

    def add(self, deadline: float, call: Expiring) -> Cancellable | None:
        """Have `call._expire()` run at `deadline` unless the call has its status by then.
        A result that is not None is a timer of the call's own: `cancel()` it when the call
        is about to get its status. (Queued calls need nothing: the calls at the front that
        have their status are dropped as calls are added.)"""
        queue = self._queue
        if queue and deadline < queue[-1][0]:
            return self._loop.call_at(deadline, call._expire)
        while queue and queue[0][1]._status is not None:
            queue.popleft()
        if len(queue) > self._compact_at:
            queue = self._queue = deque(entry for entry in queue if entry[1]._status is None)
            self._compact_at = max(_MIN_COMPACT, 2 * len(queue))
        queue.append((deadline, call))
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._fire)
        return None

    def clear(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()

    def _fire(self) -> None:
        self._timer = None
        queue = self._queue
        now = self._loop.time()
        try:
            while queue and queue[0][0] <= now:
                call = queue.popleft()[1]
                if call._status is None:
                    call._expire()  # may raise from an on_end hook: the loop logs it
        finally:
            if queue:
                self._timer = self._loop.call_at(queue[0][0], self._fire)
