"""pytest plugin: fail tests that leave threads, sockets or asyncio tasks behind.

Installing puregrpc registers this plugin with pytest (entry point ``pytest11``, name
``puregrpc``), but it does nothing until enabled, so suites that do not ask for it see no
change. Enable it for a whole suite in the pytest configuration::

    [tool.pytest.ini_options]
    puregrpc_leak_check = true

or for one run with ``pytest --puregrpc-leak-check``, or from a conftest.py with
``enable_leak_check(config)`` in ``pytest_configure``. Once enabled:

* every test, sync or async, fails if it leaves a thread or a socket of this process open
  (after a grace of two seconds for them to close);
* ``async def`` tests run on a fresh event loop of their own (``asyncio.run``; no other
  plugin is needed, so do not combine this with pytest-asyncio's auto mode); when the test
  returns, a task it left running fails the test.

Without enabling it, a single test can still ask for the thread and socket check with the
``puregrpc_no_leaks`` fixture. With plugin autoloading off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``),
load it with ``-p puregrpc``. The checks themselves are in `puregrpc.testing`, usable without
pytest.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from puregrpc.testing._leaks import LeakError, leaks_since, run_checked, snapshot

INI = "puregrpc_leak_check"
_ENABLED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI,
        type="bool",
        default=False,
        help="puregrpc: fail tests that leave threads, sockets or asyncio tasks behind",
    )
    parser.addoption(
        "--puregrpc-leak-check",
        action="store_true",
        default=False,
        help="fail tests that leave threads, sockets or asyncio tasks behind",
    )


def enable_leak_check(config: pytest.Config) -> None:
    """Turn the checks on for the whole session (call it from ``pytest_configure``)."""
    plugin = sys.modules[__name__]
    if not config.pluginmanager.is_registered(plugin):
        config.pluginmanager.register(plugin, "puregrpc")
    config.stash[_ENABLED] = True


def leak_check_enabled(config: pytest.Config) -> bool:
    """Whether the checks apply to every test of this session."""
    return bool(
        config.stash.get(_ENABLED, False)
        or config.getoption("puregrpc_leak_check", False)
        or config.getini(INI)
    )


def _check_threads_and_sockets() -> Iterator[None]:
    before = snapshot()
    yield
    problems = leaks_since(before)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def puregrpc_no_leaks() -> Iterator[None]:
    """Fail the test if it leaves threads or sockets behind."""
    yield from _check_threads_and_sockets()


@pytest.fixture(autouse=True)
def _puregrpc_leak_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """`puregrpc_no_leaks` for every test, once the plugin is enabled."""
    if leak_check_enabled(request.config):
        yield from _check_threads_and_sockets()
    else:
        yield


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine tests on their own loop and fail on tasks left running."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    if not leak_check_enabled(pyfuncitem.config):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in names}
    try:
        run_checked(pyfuncitem.obj(**kwargs))
    except LeakError as error:
        pytest.fail(str(error))
    return True
