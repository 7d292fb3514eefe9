"""Eager start (puregrpc._server.eager) and the server calls that use it: a handler runs in
place until it first waits, and behaves the same as one run in a Task."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from typing import Any

import pytest
from support.grpc_util import memory_target

import puregrpc
from puregrpc import RpcError, ServicerContext, StatusCode
from puregrpc._server.eager import start_eagerly

Ctx = ServicerContext[bytes, bytes]
NATIVE = sys.version_info >= (3, 12)  # asyncio starts Tasks eagerly itself; 3.11 is emulated
marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


def _in_callback(function: Any) -> Any:
    """Run `function()` as a loop callback (no current task, like data_received) and return
    its result."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def callback() -> None:
        try:
            future.set_result(function())
        except BaseException as exc:
            future.set_exception(exc)

    loop.call_soon(callback)
    return future


async def test_a_coroutine_that_never_waits_finishes_in_place_without_a_task() -> None:
    loop = asyncio.get_running_loop()
    seen: list[object] = []

    async def body() -> None:
        seen.append(asyncio.current_task())
        marker.set("inside")

    context = contextvars.copy_context()
    task = await _in_callback(lambda: start_eagerly(loop, body(), context))
    assert task is None
    assert seen and seen[0] is not None  # asyncio.timeout() would find it
    if NATIVE:
        # asyncio's own eager start: a real Task, finished before start_eagerly returned
        assert isinstance(seen[0], asyncio.Task) and seen[0].done()
    else:
        assert not isinstance(seen[0], asyncio.Task)  # the 3.11 stand-in
    assert context[marker] == "inside"
    assert marker.get() == "unset"  # the caller's context is untouched


async def test_a_coroutine_that_waits_is_handed_to_a_task_and_completes() -> None:
    loop = asyncio.get_running_loop()
    steps: list[str] = []
    gate = loop.create_future()

    async def body() -> None:
        steps.append("in place")
        marker.set("kept")
        await gate
        steps.append(f"resumed with {marker.get()}")

    task = await _in_callback(lambda: start_eagerly(loop, body(), contextvars.copy_context()))
    assert isinstance(task, asyncio.Task)
    assert steps == ["in place"]
    gate.set_result(None)
    await task
    assert steps == ["in place", "resumed with kept"]


async def test_asyncio_timeout_entered_in_place_fires_after_the_hand_over() -> None:
    loop = asyncio.get_running_loop()
    outcome: list[str] = []

    async def body() -> None:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(5)
        except TimeoutError:
            outcome.append("timed out")
        current = asyncio.current_task()
        assert current is not None and current.cancelling() == 0

    task = await _in_callback(lambda: start_eagerly(loop, body(), contextvars.copy_context()))
    assert task is not None
    await asyncio.wait_for(task, 5)
    assert outcome == ["timed out"]


async def test_a_cancel_requested_in_place_lands_at_the_first_wait() -> None:
    loop = asyncio.get_running_loop()
    outcome: list[str] = []

    async def body() -> None:
        current = asyncio.current_task()
        assert current is not None
        current.cancel()
        assert current.cancelling() == 1
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    task = await _in_callback(lambda: start_eagerly(loop, body(), contextvars.copy_context()))
    assert task is not None
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert outcome == ["cancelled"]


async def test_a_task_group_opened_in_place_works(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    results: list[int] = []

    async def child(n: int) -> None:
        await asyncio.sleep(0)
        results.append(n)

    async def body() -> None:
        async with asyncio.TaskGroup() as group:
            for n in range(3):
                group.create_task(child(n))

    task = await _in_callback(lambda: start_eagerly(loop, body(), contextvars.copy_context()))
    assert task is not None
    await asyncio.wait_for(task, 5)
    assert sorted(results) == [0, 1, 2]


async def test_an_exception_in_place_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()

    async def body() -> None:
        raise ValueError("broken")

    with caplog.at_level(logging.ERROR, logger="puregrpc.server"):
        task = await _in_callback(lambda: start_eagerly(loop, body(), contextvars.copy_context()))
    assert task is None
    assert "broken" in caplog.text


async def test_inside_a_task_3_12_runs_it_in_place_3_11_gives_it_a_task() -> None:
    loop = asyncio.get_running_loop()
    outer = asyncio.current_task()
    seen: list[object] = []

    async def body() -> None:
        seen.append(asyncio.current_task())
        marker.set("x")

    context = contextvars.copy_context()
    task = start_eagerly(loop, body(), context)
    if NATIVE:
        # asyncio's eager start steps in place from inside a task too, in a Task of its own
        assert task is None
        assert len(seen) == 1 and isinstance(seen[0], asyncio.Task) and seen[0] is not outer
    else:
        # a task is current here: the stand-in cannot take its place, so a Task runs the call
        assert task is not None and seen == []
        await task
        assert seen == [task]
    assert context[marker] == "x"
    assert marker.get() == "unset"
    assert asyncio.current_task() is outer


# ------------------------------------------------------------------ server calls in place


async def _serve(handler: Any) -> tuple[puregrpc.Server, str]:
    server = puregrpc.Server()
    methods = {"H": puregrpc.unary_unary_handler(handler)}
    server.add_service(puregrpc.ServiceDefinition("test.E", methods))
    target = memory_target()
    await server.start(target)
    return server, target


async def test_each_call_has_its_own_context_even_when_run_in_place() -> None:
    seen: list[str] = []

    async def handler(request: bytes, context: Ctx) -> bytes:
        seen.append(marker.get())
        marker.set(request.decode())
        return request

    server, target = await _serve(handler)
    try:
        async with puregrpc.Channel(target) as channel:
            method = channel.unary_unary("/test.E/H")
            for n in range(5):
                assert await method(str(n).encode()) == str(n).encode()
            await asyncio.gather(*(method(b"x") for _ in range(20)))
    finally:
        await server.stop()
    assert seen == ["unset"] * 25  # nothing set by one call is visible to another


async def test_a_handler_that_cancels_itself_ends_its_call_cancelled() -> None:
    async def handler(request: bytes, context: Ctx) -> bytes:
        current = asyncio.current_task()
        assert current is not None
        if request == b"now":
            current.cancel()
            await asyncio.sleep(5)
        return request

    server, target = await _serve(handler)
    try:
        async with puregrpc.Channel(target) as channel:
            method = channel.unary_unary("/test.E/H")
            try:
                await method(b"now", timeout=5)
            except RpcError as exc:
                assert exc.code() == StatusCode.CANCELLED
            else:
                pytest.fail("the call should have been cancelled")
            assert await method(b"after") == b"after"
    finally:
        await server.stop()


async def test_a_deadline_reaches_a_handler_that_suspended_in_place() -> None:
    # W21: the call's deadline timer starts when the handler first waits.
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(request: bytes, context: Ctx) -> bytes:
        entered.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return request

    server, target = await _serve(handler)
    try:
        async with puregrpc.Channel(target) as channel:
            method = channel.unary_unary("/test.E/H")
            try:
                await method(b"x", timeout=0.2)
            except RpcError as exc:
                assert exc.code() == StatusCode.DEADLINE_EXCEEDED
            else:
                pytest.fail("the deadline should have passed")
            await asyncio.wait_for(cancelled.wait(), 5)
            assert entered.is_set()
    finally:
        await server.stop()


async def test_each_call_run_in_place_has_a_current_task_of_its_own() -> None:
    # (No stand-in is reused: a cancel left pending by one call never reaches the next, and a
    # handler may keep its `current_task()` safely, on every interpreter.)
    kept: list[Any] = []
    seen: list[tuple[int, bool]] = []

    async def handler(cancel: bool) -> None:
        task = asyncio.current_task()
        assert task is not None
        seen.append((task.cancelling(), task.done()))
        kept.append(task)
        if cancel:
            task.cancel()
            task.uncancel()
            task.cancel()  # left pending: finishing in place drops it

    def run(cancel: bool = False) -> None:
        loop = asyncio.get_running_loop()
        assert start_eagerly(loop, handler(cancel), contextvars.copy_context()) is None

    await _in_callback(lambda: run(cancel=True))
    await _in_callback(run)
    await _in_callback(run)
    assert seen == [(0, False)] * 3
    assert len({id(task) for task in kept}) == 3  # (all kept alive: distinct ids, distinct tasks)
    assert all(task.get_loop() is asyncio.get_running_loop() for task in kept)
