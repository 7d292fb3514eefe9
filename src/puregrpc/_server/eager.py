"""Eager start: run a coroutine in place until it first suspends, and only then give it a Task.

A gRPC handler that answers without waiting on anything (the common unary call) then costs no
Task, no extra event-loop turn and no scheduling. Python 3.12 does this natively
(`asyncio.Task(..., eager_start=True)`); on 3.11 it is emulated here.

Contract of `start_eagerly(loop, coro, context)`:
* `coro` runs in `context` (give each call its own copy) at once, inside the caller;
* while it runs in place, `asyncio.current_task()` is a stand-in, so `asyncio.timeout()`,
  `TaskGroup` and `current_task().cancel()` work; once a Task takes over, the stand-in
  forwards to it, and a cancel requested in place is delivered at the first suspension
  (one loop turn after it, in fact);
* returns None when `coro` finished in place, else the Task now driving it. Exceptions that
  escape `coro` in place are logged (as an unretrieved Task exception would be), except
  `KeyboardInterrupt` and `SystemExit`, which propagate.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine, Generator
from contextvars import Context
from typing import Any

__all__ = ["start_eagerly"]

logger = logging.getLogger("puregrpc.server")

_NATIVE = sys.version_info >= (3, 12)


class _StandIn:
    """What `asyncio.current_task()` returns while a coroutine runs in place (3.11)."""

    # Made once per call run in place: no __init__ (its frame), defaults at class level.
    _loop: asyncio.AbstractEventLoop
    _task: asyncio.Task[Any] | None = None
    _cancels = 0

    def hand_over(self, task: asyncio.Task[Any]) -> None:
        self._task = task
        if self._cancels:
            # A Task cancelled before its first step would never reach the coroutine: deliver
            # once it is waiting on what the coroutine waits on.
            self._loop.call_soon(self._deliver_cancels)

    def _deliver_cancels(self) -> None:
        task, count = self._task, self._cancels
        self._cancels = 0
        if task is not None and not task.done():
            for _ in range(count):
                task.cancel()

    def cancel(self, msg: Any | None = None) -> bool:
        if self._task is not None and not self._cancels:
            return self._task.cancel(msg)
        self._cancels += 1
        return True

    def cancelling(self) -> int:
        return self._cancels + (self._task.cancelling() if self._task is not None else 0)

    def uncancel(self) -> int:
        if self._cancels:
            self._cancels -= 1
        elif self._task is not None:
            self._task.uncancel()
        return self.cancelling()

    def done(self) -> bool:
        return self._task.done() if self._task is not None else False

    def cancelled(self) -> bool:
        return self._task.cancelled() if self._task is not None else False

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def get_name(self) -> str:
        return self._task.get_name() if self._task is not None else "puregrpc-eager"


class _Resume:
    """Awaitable that goes on driving a coroutine that already suspended once on `pending`."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._pending
        self._pending = None
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation, or a throw into the waiting coro
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _drive(coro: Coroutine[Any, Any, Any], pending: Any) -> Any:
    return await _Resume(coro, pending)


_enter_task: Any = getattr(asyncio.tasks, "_enter_task", None)
_leave_task: Any = getattr(asyncio.tasks, "_leave_task", None)

_FINISHED: Any = object()


def start_eagerly(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None], context: Context
) -> asyncio.Task[None] | None:
    if _NATIVE:
        eager: Any = asyncio.Task
        task: asyncio.Task[None] = eager(coro, loop=loop, context=context, eager_start=True)
        if not task.done():
            return task
        if not task.cancelled() and task.exception() is not None:  # pragma: no cover (3.12+)
            logger.error("eagerly started call failed", exc_info=task.exception())
        return None
    if _enter_task is None:
        return loop.create_task(coro, context=context)
    stand_in = _StandIn()
    stand_in._loop = loop
    try:
        _enter_task(loop, stand_in)
    except RuntimeError:  # called from a task: that task goes on; the call gets its own
        return loop.create_task(coro, context=context)
    try:
        pending = context.run(coro.send, None)
    except (StopIteration, asyncio.CancelledError):
        pending = _FINISHED
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        logger.exception("eagerly started call failed")
        pending = _FINISHED
    finally:
        _leave_task(loop, stand_in)
    if pending is _FINISHED:
        return None
    task = loop.create_task(_drive(coro, pending), context=context)
    stand_in.hand_over(task)
    return task
