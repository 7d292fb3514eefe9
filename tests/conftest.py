"""Shared test machinery.

* ``async def`` tests run on a fresh event loop of their own (no plugin needed); when the test
  returns, any task it left running fails the test.
* Every test, sync or async, fails if it leaves a thread or a socket of this process open.
* ``PUREGRPC_REQUIRE_PEERS=1`` (set by ``.ci/run``) turns "peer tool missing" skips into failures.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest


def _open_sockets() -> set[tuple[int, int]]:
    """(fd, inode) of every socket this process has open."""
    found: set[tuple[int, int]] = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            st = os.stat(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if stat.S_ISSOCK(st.st_mode):
            found.add((int(name), st.st_ino))
    return found


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves threads or sockets behind."""
    threads_before = set(threading.enumerate())
    sockets_before = _open_sockets()
    yield
    deadline = time.monotonic() + 2.0
    while True:
        threads = {t for t in set(threading.enumerate()) - threads_before if t.is_alive()}
        sockets = _open_sockets() - sockets_before
        if not threads and not sockets:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    problems = []
    if threads:
        problems.append(f"threads left running: {sorted(t.name for t in threads)}")
    if sockets:
        problems.append(f"sockets left open (fd, inode): {sorted(sockets)}")
    pytest.fail("; ".join(problems))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine tests on their own loop and fail on tasks left running."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in names}

    async def run_and_check() -> None:
        await pyfuncitem.obj(**kwargs)
        # Give what is already winding down (transport closes, a peer library's own tasks
        # finishing their cancellation) a moment; a task still running after it is a leak.
        current = asyncio.current_task()
        for _ in range(50):
            await asyncio.sleep(0 if _ < 3 else 0.01)
            left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
            if not left:
                break
        if left:
            for t in left:
                t.cancel()
            await asyncio.gather(*left, return_exceptions=True)
            pytest.fail(f"tasks left running: {left!r}")

    asyncio.run(run_and_check())
    return True


def require_tool(name: str) -> str:
    """Path of an external tool; skip (or fail in CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        reason = (
            f"{name} not installed (apt-get install nghttp2-client nghttp2-server golang-go; "
            ".ci/run does)"
        )
        if os.environ.get("PUREGRPC_REQUIRE_PEERS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
