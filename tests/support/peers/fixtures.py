"""pytest fixtures for interop peers: the Go hello server and client (grpc-go) and grpcio.

Load them with ``pytest_plugins = ["support.peers.fixtures"]`` in a test module (or
once in tests/conftest.py to share them with every test module); take their types from
support.peers.peers and support.peers.build, never by importing this module (pytest must
import it first to rewrite it).

* ``go_binaries`` (session): the built Go server and client (``GoBinaries``); skips, or fails
  in CI, when Go is missing. The first build takes ~15 s; later sessions reuse the cache.
* ``hello_messages`` (session): hello.proto's messages compiled for Python and imported
  (``PythonMessages``: ``.pb2``, ``.directory``).
* ``hello_stubs`` (session): the same plus grpcio's glue (``PythonStubs``: ``.pb2``,
  ``.pb2_grpc``, ``.directory``); skips on a free-threaded CPython, where grpcio-tools has no
  wheels (as do the grpcio fixtures below, which use it).
* ``go_hello_server``: a running Go server on 127.0.0.1; the value is its port. Stopped with
  SIGTERM on teardown, which fails unless the server exits 0.
* ``run_go_hello_client``: ``await run_go_hello_client(target, name, timeout=5.0)`` runs the Go
  client and returns its ``CompletedProcess[str]``; ``.sync(target, name)`` is the blocking
  form (only for tests with no server in their own event loop).
* ``grpcio_hello_server``: ``async with grpcio_hello_server() as port:`` serves HelloService
  with grpcio (``grpc.aio``) on 127.0.0.1 in the test's own event loop.
* ``grpcio_hello_client``: ``await grpcio_hello_client(target, name, timeout=5.0)`` makes one
  SayHello call with grpcio and returns the reply's message; a failed call raises
  ``grpc.aio.AioRpcError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import pytest

from support.free_threaded import HAVE_GRPCIO, no_wheels
from support.peers.build import (
    GoBinaries,
    PythonMessages,
    PythonStubs,
    build_go,
    python_messages,
    python_stubs,
)
from support.peers.peers import (
    GoHelloClient,
    GrpcioHelloClient,
    run_go_hello_server,
    serve_grpcio_hello,
)
from support.tools import require_tool


@pytest.fixture(scope="session")
def go_binaries() -> GoBinaries:
    require_tool("go")
    return build_go()


@pytest.fixture(scope="session")
def hello_messages(tmp_path_factory: pytest.TempPathFactory) -> PythonMessages:
    return python_messages(tmp_path_factory.mktemp("hello_stubs"))


@pytest.fixture(scope="session")
def hello_stubs(hello_messages: PythonMessages) -> PythonStubs:
    if not HAVE_GRPCIO:
        pytest.skip(no_wheels("grpcio-tools (it generates hello_pb2_grpc)"))
    return python_stubs(hello_messages)


@pytest.fixture
def go_hello_server(go_binaries: GoBinaries) -> Iterator[int]:
    with run_go_hello_server(go_binaries.server) as port:
        yield port


@pytest.fixture
def run_go_hello_client(go_binaries: GoBinaries) -> GoHelloClient:
    return GoHelloClient(go_binaries.client)


@pytest.fixture
def grpcio_hello_server(
    hello_stubs: PythonStubs,
) -> Callable[[], AbstractAsyncContextManager[int]]:
    return lambda: serve_grpcio_hello(hello_stubs)


@pytest.fixture
def grpcio_hello_client(hello_stubs: PythonStubs) -> GrpcioHelloClient:
    return GrpcioHelloClient(hello_stubs)
