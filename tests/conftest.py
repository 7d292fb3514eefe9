"""Shared test machinery.

* The leak checks of `puregrpc.testing.pytest_plugin` apply to the whole suite (enabled here):
  every test, sync or async, fails if it leaves a thread or a socket of this process open;
  ``async def`` tests run on a fresh event loop of their own and fail on tasks left running.
* ``PUREGRPC_REQUIRE_PEERS=1`` (set by ``.ci/run``) turns "peer tool missing" skips into failures
  (`support.tools.require_tool`).
* Shared helpers live in the `support` package (tests/support); no test module imports another.
"""

from __future__ import annotations

import pytest

from puregrpc.testing.pytest_plugin import enable_leak_check


def pytest_configure(config: pytest.Config) -> None:
    enable_leak_check(config)
