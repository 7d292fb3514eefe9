"""gRPC over Unix domain sockets: `Server.start("unix:...")`, `Channel("unix:...")` in both
spellings, the socket file's lifetime, and TLS over a Unix socket."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
from support.grpc_util import EchoService

import puregrpc
from puregrpc import channel_ssl_context, server_ssl_context

if TYPE_CHECKING:
    import ssl

    from support.tls import Certs

pytest_plugins = ["support.tls"]  # the session-scoped `certs` fixture


@pytest.fixture
def socket_dir() -> Iterator[str]:
    """A short directory (socket paths are limited to ~107 bytes; pytest's tmp_path can be
    longer)."""
    directory = tempfile.mkdtemp(prefix="pg-", dir="/tmp")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def unix_server(
    address: str, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[puregrpc.Server]:
    server = puregrpc.Server(ssl_context=ssl_context)
    server.add_service(EchoService().definition())
    assert await server.start(address) == 0
    try:
        yield server
    finally:
        await server.stop(grace=1.0)


async def _four_calls(channel: puregrpc.Channel) -> None:
    assert await channel.unary_unary("/test.Echo/Unary")(b"hello", timeout=5) == b"hello"
    call = channel.unary_stream("/test.Echo/ServerStream")(b"3", timeout=5)
    assert [m async for m in call] == [b"0", b"1", b"2"]
    assert await channel.stream_unary("/test.Echo/ClientStream")(iter([b"a", b"b"])) == b"a|b"
    bidi = channel.stream_stream("/test.Echo/Bidi")
    assert [m async for m in bidi(iter([b"x", b"y"]))] == [b"X", b"Y"]


@pytest.mark.parametrize("server_form", ["unix:{}", "unix://{}"])
async def test_all_call_types_both_target_spellings(socket_dir: str, server_form: str) -> None:
    path = os.path.join(socket_dir, "grpc.sock")
    async with unix_server(server_form.format(path)):
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        for target in (f"unix:{path}", f"unix://{path}"):  # unix:/abs and unix:///abs
            async with puregrpc.Channel(target) as channel:
                await _four_calls(channel)
                assert channel._subchannels[0]._conn is not None
                assert channel._subchannels[0]._conn.transport is not None
                sock = channel._subchannels[0]._conn.transport.get_extra_info("socket")
                assert sock.family == socket.AF_UNIX


async def test_relative_path(socket_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(socket_dir)
    async with unix_server("unix:rel.sock"), puregrpc.Channel("unix:rel.sock") as channel:
        assert await channel.unary_unary("/test.Echo/Unary")(b"rel", timeout=5) == b"rel"
    assert not os.path.exists(os.path.join(socket_dir, "rel.sock"))


async def test_socket_file_removed_on_stop(socket_dir: str) -> None:
    path = os.path.join(socket_dir, "grpc.sock")
    async with unix_server(f"unix:{path}"):
        assert os.path.exists(path)
    assert not os.path.exists(path)


async def test_stale_socket_file_is_replaced(socket_dir: str) -> None:
    """A socket file left by a crashed server does not stop a new one from binding."""
    path = os.path.join(socket_dir, "grpc.sock")
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(path)
    assert os.path.exists(path)
    async with unix_server(f"unix:{path}"), puregrpc.Channel(f"unix:{path}") as channel:
        assert await channel.unary_unary("/test.Echo/Unary")(b"new", timeout=5) == b"new"
    assert not os.path.exists(path)


async def test_stop_leaves_a_socket_file_it_did_not_create(socket_dir: str) -> None:
    path = os.path.join(socket_dir, "grpc.sock")
    async with unix_server(f"unix:{path}"):
        os.unlink(path)
        with socket.socket(socket.AF_UNIX) as other:
            other.bind(path)  # someone else's socket now lives at the path
    assert os.path.exists(path)


async def test_tls_over_unix_socket(socket_dir: str, certs: Certs) -> None:
    """Over a Unix socket the certificate is checked against "localhost"."""
    path = os.path.join(socket_dir, "tls.sock")
    server_context = server_ssl_context(certs.server.cert, certs.server.key)
    async with (
        unix_server(f"unix:{path}", server_context),
        puregrpc.Channel(f"unix:{path}", ssl_context=channel_ssl_context(certs.ca.cert)) as channel,
    ):
        await _four_calls(channel)
