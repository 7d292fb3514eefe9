"""puregrpc on uvloop: calls over TCP, a Unix socket and TLS. These tests are sync and run
their own uvloop loop (the suite's leak-check plugin runs ``async def`` tests with
``asyncio.run``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest
from support.free_threaded import missing
from support.grpc_util import EchoService

import puregrpc
from puregrpc import channel_ssl_context, server_ssl_context

if TYPE_CHECKING:
    import ssl

    from support.tls import Certs

uvloop = pytest.importorskip("uvloop", reason=missing("uvloop"))

pytest_plugins = ["support.tls"]  # the session-scoped `certs` fixture


def run_on_uvloop(main: Callable[[], Awaitable[None]]) -> None:
    """Run `main` on a fresh uvloop loop; fail if it leaves tasks running."""

    async def checked() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        await main()
        for _ in range(3):
            await asyncio.sleep(0)
        current = asyncio.current_task()
        left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        assert not left, f"tasks left running: {left!r}"

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(checked())


async def _calls(
    address: str,
    target: str,
    server_context: ssl.SSLContext | None = None,
    client_context: ssl.SSLContext | None = None,
) -> None:
    server = puregrpc.Server(ssl_context=server_context)
    server.add_service(EchoService().definition())
    port = await server.start(address)
    try:
        async with puregrpc.Channel(
            target.format(port=port), ssl_context=client_context
        ) as channel:
            echo = channel.unary_unary("/test.Echo/Unary")
            assert await echo(b"uv", timeout=5) == b"uv"
            replies = await asyncio.gather(*(echo(str(i).encode(), timeout=5) for i in range(50)))
            assert replies == [str(i).encode() for i in range(50)]
            stream = channel.unary_stream("/test.Echo/ServerStream")(b"4", timeout=5)
            assert [m async for m in stream] == [b"0", b"1", b"2", b"3"]
            bidi = channel.stream_stream("/test.Echo/Bidi")()
            for word in (b"one", b"two"):
                await bidi.write(word)
                assert await bidi.read() == word.upper()
            await bidi.done_writing()
            assert await bidi.read() is None
            assert await bidi.code() == puregrpc.StatusCode.OK
    finally:
        await server.stop(grace=1.0)


def test_tcp_on_uvloop() -> None:
    run_on_uvloop(lambda: _calls("127.0.0.1:0", "127.0.0.1:{port}"))


def test_unix_socket_on_uvloop() -> None:
    directory = tempfile.mkdtemp(prefix="pg-", dir="/tmp")
    path = os.path.join(directory, "uv.sock")
    try:
        run_on_uvloop(lambda: _calls(f"unix:{path}", f"unix://{path}"))
        assert not os.path.exists(path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_tls_on_uvloop(certs: Certs) -> None:
    server_context = server_ssl_context(certs.server.cert, certs.server.key)
    run_on_uvloop(
        lambda: _calls(
            "127.0.0.1:0",
            "localhost:{port}",
            server_context,
            channel_ssl_context(certs.ca.cert),
        )
    )
