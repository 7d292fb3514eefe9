"""Test helpers for code that uses puregrpc.

* `no_leaks`: a context manager failing (`LeakError`) when the code in it leaves threads or
  sockets of this process open.
* `run_checked`: ``asyncio.run`` for a test coroutine, failing when the coroutine leaves
  tasks running.

With pytest, the plugin `puregrpc.testing.pytest_plugin` (registered through an entry point)
applies both to every test once enabled; its docstring says how. pytest is not needed for
this module.
"""

from __future__ import annotations

from puregrpc.testing._leaks import LeakError, no_leaks, run_checked

__all__ = ["LeakError", "no_leaks", "run_checked"]
