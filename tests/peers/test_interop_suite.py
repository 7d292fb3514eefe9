"""The gRPC interop cases (interop/) between our client and server, grpcio's, over TLS, and as
the ``python -m interop.client`` / ``python -m interop.server`` programs."""

from __future__ import annotations

import asyncio
import gc
import ssl
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from support.free_threaded import HAVE_GRPCIO
from support.marks import needs_grpcio

import puregrpc
from interop import client
from interop.server import TestService

if HAVE_GRPCIO or TYPE_CHECKING:  # no grpcio on free-threaded CPython: its tests skip there
    import grpc
    import grpc.aio
    from support.grpcio_interop import (
        GRPCIO_CLIENT_SKIPS,
        GRPCIO_SERVER_SKIPS,
        add_grpcio_service,
        generate_grpcio_glue,
        run_grpcio_client,
    )
if TYPE_CHECKING:
    from support.tls import Certs

pytest_plugins = ["support.tls"]

REPO = Path(__file__).resolve().parents[2]
TLS_NAME = "grpc.test.example"  # the `alias_server` certificate's only name


async def _run_cases(channel: puregrpc.Channel, names: list[str]) -> dict[str, str]:
    peer = client.Peer.on(channel)
    failures: dict[str, str] = {}
    for name in names:
        reason = await client.run_case(peer, name)
        if reason is not None:
            failures[name] = reason
    return failures


async def _our_server(ssl_context: ssl.SSLContext | None = None) -> tuple[puregrpc.Server, int]:
    server = puregrpc.Server(ssl_context=ssl_context)
    server.add_service(TestService().definition())
    return server, await server.start("127.0.0.1:0")


async def test_our_client_our_server() -> None:
    server, port = await _our_server()
    try:
        async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
            assert await _run_cases(channel, list(client.CASES)) == {}
    finally:
        await server.stop(grace=1.0)


async def test_our_client_our_server_tls(certs: Certs) -> None:
    context = puregrpc.server_ssl_context(certs.alias_server.cert, certs.alias_server.key)
    server, port = await _our_server(context)
    args = client.parse_args(
        [f"--server_port={port}", "--server_host=127.0.0.1", "--test_case=all", "--use_tls",
         f"--ca_file={certs.ca.cert_path}", f"--server_host_override={TLS_NAME}"]
    )  # fmt: skip
    try:
        async with client.make_channel(args) as channel:
            assert await _run_cases(channel, list(client.CASES)) == {}
    finally:
        await server.stop(grace=1.0)


async def _grpcio_server_cases() -> dict[str, str]:
    server = grpc.aio.server()
    add_grpcio_service(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        names = [n for n in client.CASES if n not in GRPCIO_SERVER_SKIPS]
        async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
            return await _run_cases(channel, names)
    finally:
        await server.stop(None)
        await server.wait_for_termination()
        del server
        for _ in range(3):
            await asyncio.sleep(0.01)  # let grpcio's handler tasks end before collecting
            gc.collect()


@needs_grpcio
async def test_our_client_grpcio_server() -> None:
    """Every case but those GRPCIO_SERVER_SKIPS gives reasons for (they run against our own
    server above)."""
    assert await _grpcio_server_cases() == {}


@needs_grpcio
async def test_grpcio_client_our_server(tmp_path: Path) -> None:
    """grpcio runs every case it can express (not those in GRPCIO_CLIENT_SKIPS, which need a
    response's compressed flag or per-message request compression; our client runs them)."""
    glue = generate_grpcio_glue(tmp_path)
    server, port = await _our_server()
    try:
        results = await run_grpcio_client(glue, f"127.0.0.1:{port}")
    finally:
        await server.stop(grace=1.0)
        gc.collect()
    assert set(results) == set(client.CASES) - set(GRPCIO_CLIENT_SKIPS)
    assert {name: reason for name, reason in results.items() if reason is not None} == {}


def test_programs() -> None:
    """``python -m interop.server`` and ``python -m interop.client --test_case=all``."""
    server = subprocess.Popen(
        [sys.executable, "-m", "interop.server", "--port=0"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("listening on port "), line
        port = int(line.split()[-1])
        done = subprocess.run(
            [sys.executable, "-m", "interop.client", "--server_host=127.0.0.1",
             f"--server_port={port}", "--test_case=all"],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        lines = done.stdout.splitlines()
        assert lines == [f"PASS {name}" for name in client.CASES], done.stdout + done.stderr
        assert done.returncode == 0
    finally:
        server.terminate()
        assert server.wait(timeout=10) == 0
        if server.stdout is not None:
            server.stdout.close()


def test_failing_case_exits_nonzero() -> None:
    """A case that cannot pass (nothing listens) prints FAIL and exits 1."""
    done = subprocess.run(
        [sys.executable, "-m", "interop.client", "--server_host=127.0.0.1", "--server_port=1",
         "--test_case=empty_unary"],
        cwd=REPO, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL empty_unary: RPC failed: UNAVAILABLE"), done.stdout
