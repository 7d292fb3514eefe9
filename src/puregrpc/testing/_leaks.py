"""Leak checks: threads, sockets and asyncio tasks that a piece of code leaves behind.

Plain functions, usable without pytest (the pytest plugin is a thin layer over them). Sockets
are found through ``/proc/self/fd``; where that does not exist (not Linux) only threads and
tasks are checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

GRACE = 2.0  # seconds a thread or socket may take to go away after the code under test ends


class LeakError(AssertionError):
    """The code under test left threads, sockets or tasks behind."""


@dataclass(frozen=True)
class Snapshot:
    """The threads and sockets of this process at one moment."""

    threads: frozenset[threading.Thread]
    sockets: frozenset[tuple[int, int]]


def open_sockets() -> frozenset[tuple[int, int]]:
    """(fd, inode) of every socket this process has open (empty where /proc is missing)."""
    found: set[tuple[int, int]] = set()
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return frozenset()
    for name in names:
        try:
            st = os.stat(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if stat.S_ISSOCK(st.st_mode):
            found.add((int(name), st.st_ino))
    return frozenset(found)


def snapshot() -> Snapshot:
    """The threads and sockets open now, to compare with later (`leaks_since`)."""
    return Snapshot(frozenset(threading.enumerate()), open_sockets())


def leaks_since(before: Snapshot, grace: float = GRACE) -> list[str]:
    """What is open now and was not in `before`, waiting up to `grace` seconds for it to go;
    one line per kind of leak, none when nothing leaked."""
    deadline = time.monotonic() + grace
    while True:
        threads = {t for t in set(threading.enumerate()) - before.threads if t.is_alive()}
        sockets = open_sockets() - before.sockets
        if not threads and not sockets:
            return []
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    problems = []
    if threads:
        problems.append(f"threads left running: {sorted(t.name for t in threads)}")
    if sockets:
        problems.append(f"sockets left open (fd, inode): {sorted(sockets)}")
    return problems


def check_leaks(before: Snapshot, grace: float = GRACE) -> None:
    """Raise `LeakError` if threads or sockets opened since `before` are still open."""
    problems = leaks_since(before, grace)
    if problems:
        raise LeakError("; ".join(problems))


@contextlib.contextmanager
def no_leaks(grace: float = GRACE) -> Iterator[None]:
    """Raise `LeakError` on leaving if the body left threads or sockets open (the body's own
    exception, if it raises one, goes through unchecked)."""
    before = snapshot()
    yield
    check_leaks(before, grace)


async def _tasks_left() -> list[asyncio.Task[Any]]:
    """Tasks other than the current one still running after a short wind-down; cancelled and
    awaited before they are returned."""
    # Give what is already winding down (transport closes, a peer library's own tasks
    # finishing their cancellation) a moment; a task still running after it is a leak.
    current = asyncio.current_task()
    left: list[asyncio.Task[Any]] = []
    for i in range(50):
        await asyncio.sleep(0 if i < 3 else 0.01)
        left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not left:
            break
    if left:
        for t in left:
            t.cancel()
        await asyncio.gather(*left, return_exceptions=True)
    return left


def run_checked(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on a new event loop (``asyncio.run``); raise `LeakError` if it returns while
    tasks it started are still running (they are cancelled first)."""

    async def run_and_check() -> T:
        result = await main
        left = await _tasks_left()
        if left:
            raise LeakError(f"tasks left running: {left!r}")
        return result

    return asyncio.run(run_and_check())
