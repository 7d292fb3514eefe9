"""puregrpc.testing: the leak checks as plain functions, and the pytest plugin (opt-in through
the ``puregrpc_leak_check`` ini option, ``--puregrpc-leak-check`` or the ``puregrpc_no_leaks``
fixture) on small suites run by pytester in a subprocess."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from puregrpc.testing import LeakError, no_leaks, run_checked

pytest_plugins = ["pytester"]


def test_no_leaks_passes_clean_code() -> None:
    with no_leaks(grace=0.1):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()


def test_no_leaks_fails_on_a_socket_left_open() -> None:
    sock = socket.socket()
    try:
        with pytest.raises(LeakError, match="sockets left open"), no_leaks(grace=0.1):
            sock.close()
            sock = socket.socket()
    finally:
        sock.close()


def test_no_leaks_fails_on_a_thread_left_running() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="left-behind")
    try:
        left = r"threads left running: \['left-behind'\]"
        with pytest.raises(LeakError, match=left), no_leaks(grace=0.1):
            thread.start()
    finally:
        stop.set()
        thread.join()


def test_run_checked_returns_the_result_of_clean_code() -> None:
    async def main() -> int:
        await asyncio.sleep(0)
        return 7

    assert run_checked(main()) == 7


def test_run_checked_fails_on_a_task_left_running() -> None:
    cancelled = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)

    with pytest.raises(LeakError, match="tasks left running"):
        run_checked(main())
    assert cancelled == [True]  # cancelled and awaited before the error


SUITE = """
import asyncio
import socket
import threading

stop = threading.Event()
kept = []


def test_clean():
    with socket.socket():
        pass


async def test_clean_async():
    await asyncio.sleep(0)


def test_leaks_a_thread():
    threading.Thread(target=stop.wait, name="leaky", daemon=True).start()


def test_leaks_a_socket():
    kept.append(socket.socket())


async def test_leaks_a_task():
    asyncio.get_running_loop().create_task(asyncio.sleep(10))
"""

ASKS = """
import socket

kept = []


def test_asks_for_the_check(puregrpc_no_leaks):
    kept.append(socket.socket())
"""


def test_plugin_enabled_by_ini_fails_leaking_tests_and_passes_clean_ones(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\npuregrpc_leak_check = true\n")
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    # the thread and socket checks fail a test's teardown (an error), the task check its call
    result.assert_outcomes(passed=4, failed=1, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED test_suite.py::test_clean",
            "PASSED test_suite.py::test_clean_async",
            "*ERROR at teardown of test_leaks_a_thread*",
            "*threads left running: ?'leaky'?*",
            "*ERROR at teardown of test_leaks_a_socket*",
            "*sockets left open (fd, inode)*",
            "FAILED test_suite.py::test_leaks_a_task*tasks left running*",
        ]
    )


def test_plugin_is_off_until_enabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE, test_asks=ASKS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rA", "-k", "not async and not task"
    )
    # only the test that asks for the check with the fixture is checked
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_asks_for_the_check*"])


def test_plugin_enabled_by_the_command_line_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--puregrpc-leak-check", "-k", "socket or task"
    )
    result.assert_outcomes(passed=1, failed=1, errors=1)
