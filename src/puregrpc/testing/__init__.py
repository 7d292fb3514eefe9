"""Test helpers for code that uses puregrpc.

* In-memory connections (as grpc-go's bufconn, grpclib's ChannelFor): a server started on
  ``"memory:<name>"`` and a ``Channel("memory:<name>")`` talk over the in-memory transport of
  the running event loop: the same HTTP/2 bytes as over TCP, no sockets, nothing to bind::

      server = puregrpc.Server()
      hello_grpc.add_HelloServiceServicer_to_server(Greeter(), server)
      await server.start("memory:hello")
      async with puregrpc.Channel("memory:hello") as channel:
          ...

  `MemoryNetwork` is the transport itself (a registry of named listeners), for tests that
  want their own; `loop_network()` is the one ``memory:`` addresses use.
* `ManualResolver`: a channel target whose addresses the test pushes (``update([...])``) and
  whose re-resolution requests it counts, for tests of address changes and reconnection.
* `no_leaks`: a context manager failing (`LeakError`) when the code in it leaves threads or
  sockets of this process open.
* `run_checked`: ``asyncio.run`` for a test coroutine, failing when the coroutine leaves
  tasks running.

With pytest, the plugin `puregrpc.testing.pytest_plugin` (registered through an entry point)
applies both leak checks to every test once enabled; its docstring says how. pytest is not
needed for this module.
"""

from __future__ import annotations

from puregrpc._transport.memory import MemoryNetwork, loop_network
from puregrpc.testing._leaks import LeakError, no_leaks, run_checked
from puregrpc.testing._resolver import ManualResolver

__all__ = [
    "LeakError",
    "ManualResolver",
    "MemoryNetwork",
    "loop_network",
    "no_leaks",
    "run_checked",
]
