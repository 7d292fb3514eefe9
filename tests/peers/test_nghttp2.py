"""Real peers from nghttp2: `nghttp` and `h2load` against our server, our client against
`nghttpd`. Everything listens on 127.0.0.1; every subprocess runs under a timeout and is
killed on the way out."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from support.h2_binding import (
    H2ClientConnection,
    H2ConnectionLostError,
    H2Request,
    H2Response,
    H2Server,
    serve_h2,
)
from support.tools import require_tool

from puregrpc._http2 import ErrorCode, H2Config, SettingCode

pytestmark = pytest.mark.peer

SMALL_WINDOW = 65535


async def run_tool(*args: str, timeout: float = 30.0) -> tuple[int, str]:
    """Run a tool to completion; (exit code, stdout and stderr merged)."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8", "replace")


class App:
    """The handler our server runs for nghttp and h2load."""

    def __init__(self) -> None:
        self.requests = 0
        self.active = 0
        self.max_active = 0
        self.slow_entered = asyncio.Event()
        self.slow_release = asyncio.Event()

    async def __call__(self, request: H2Request) -> H2Response:
        self.requests += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            return await self._answer(request)
        finally:
            self.active -= 1

    async def _answer(self, request: H2Request) -> H2Response:
        if request.path == "/echo":
            digest = hashlib.sha256(request.body).hexdigest()
            return H2Response(200, (("x-sha256", digest),), request.body)
        if request.path == "/trailers":
            trailers = (("x-trailer", "present"), ("grpc-status", "0"))
            return H2Response(200, (("content-type", "text/plain"),), b"with trailers\n", trailers)
        if request.path == "/slow":
            self.slow_entered.set()
            await self.slow_release.wait()
            return H2Response(200, (), b"slow done\n")
        if request.path.startswith("/wait"):
            await asyncio.sleep(0.02)  # keeps streams open so they overlap
        return H2Response(200, (("content-type", "text/plain"),), b"hello " + request.path.encode())


async def start(app: App, small_windows: bool = False) -> H2Server:
    config = H2Config(client_side=False)
    if small_windows:
        config = H2Config(
            client_side=False,
            initial_window_size=SMALL_WINDOW,
            connection_window_size=SMALL_WINDOW,
        )
    return await serve_h2(app, "127.0.0.1", 0, config)


# --------------------------------------------------------------------------- nghttp -> us


async def test_nghttp_get() -> None:
    nghttp = require_tool("nghttp")
    app = App()
    server = await start(app)
    try:
        code, out = await run_tool(nghttp, f"http://127.0.0.1:{server.port}/hello")
    finally:
        await server.close()
    assert code == 0, out
    assert out == "hello /hello"


async def test_nghttp_large_post_with_small_windows(tmp_path: Path) -> None:
    """5 MB up and back with 64 KiB windows on both sides: WINDOW_UPDATEs must flow both
    ways (nghttp's -w/-W 16 limit what we send, our config limits what it sends)."""
    nghttp = require_tool("nghttp")
    payload = os.urandom(5 * 1024 * 1024)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(payload)
    app = App()
    server = await start(app, small_windows=True)
    try:
        url = f"http://127.0.0.1:{server.port}/echo"
        code, out = await run_tool(
            nghttp, "-v", "-n", "-w", "16", "-W", "16", "-d", str(upload), url
        )
    finally:
        await server.close()
    assert code == 0, out[-2000:]
    assert f"x-sha256: {hashlib.sha256(payload).hexdigest()}" in out
    received = sum(int(n) for n in re.findall(r"recv DATA frame <length=(\d+)", out))
    assert received == len(payload)
    # Both directions needed window updates: nghttp sent them (for our echo) and got ours.
    assert out.count("send WINDOW_UPDATE frame") > 10
    assert out.count("recv WINDOW_UPDATE frame") > 10


async def test_nghttp_many_concurrent_streams() -> None:
    nghttp = require_tool("nghttp")
    app = App()
    server = await start(app)
    try:
        url = f"http://127.0.0.1:{server.port}/wait"
        code, out = await run_tool(nghttp, "-n", "-s", "-m", "100", url)
    finally:
        await server.close()
    assert code == 0, out
    assert app.requests == 100
    assert app.max_active > 10  # really multiplexed, not one after the other
    assert out.count("/wait") >= 100  # one statistics line per request


async def test_nghttp_sees_our_trailers() -> None:
    nghttp = require_tool("nghttp")
    server = await start(App())
    try:
        code, out = await run_tool(nghttp, "-v", f"http://127.0.0.1:{server.port}/trailers")
    finally:
        await server.close()
    assert code == 0, out
    assert re.search(r"recv \(stream_id=\d+\) x-trailer: present", out)
    assert re.search(r"recv \(stream_id=\d+\) grpc-status: 0", out)
    assert "with trailers" in out
    # The trailers come as a second HEADERS frame carrying END_STREAM.
    headers_frames = re.findall(r"recv HEADERS frame <length=\d+, flags=(0x[0-9a-f]+)", out)
    assert len(headers_frames) == 2
    assert int(headers_frames[1], 16) & 0x1


async def test_graceful_shutdown_with_nghttp_connected() -> None:
    nghttp = require_tool("nghttp")
    app = App()
    server = await start(app)
    url = f"http://127.0.0.1:{server.port}/slow"
    client = asyncio.create_task(run_tool(nghttp, "-v", url, timeout=20))
    closing: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(app.slow_entered.wait(), 10)
        closing = asyncio.create_task(server.close(grace=10))
        await asyncio.sleep(0.2)  # both GOAWAYs reach nghttp while the request is in flight
        assert not closing.done()
        app.slow_release.set()
        await asyncio.wait_for(closing, 10)
        code, out = await client
    finally:
        app.slow_release.set()
        if closing is not None:
            await asyncio.gather(closing, return_exceptions=True)
        await server.close(grace=0)
        await asyncio.gather(client, return_exceptions=True)
    assert code == 0, out
    assert "slow done" in out
    goaways = re.findall(r"recv GOAWAY.*\n\s*\(last_stream_id=(\d+), error_code=NO_ERROR", out)
    assert len(goaways) == 2, out
    assert goaways[0] == "2147483647"
    assert goaways[1] != "2147483647"  # the final one: the stream nghttp opened
    assert out.index(f"last_stream_id={goaways[1]},") < out.index("slow done")


async def test_h2load_every_request_succeeds() -> None:
    h2load = require_tool("h2load")
    app = App()
    server = await start(app)
    try:
        url = f"http://127.0.0.1:{server.port}/"
        code, out = await run_tool(h2load, "-n", "5000", "-c", "4", "-m", "32", url, timeout=60)
    finally:
        await server.close()
    assert code == 0, out
    assert "5000 succeeded, 0 failed, 0 errored" in out, out
    assert "status codes: 5000 2xx" in out, out
    assert app.requests == 5000


# --------------------------------------------------------------------------- us -> nghttpd


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"nghttpd exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nghttpd did not start listening")


NghttpdFactory = Callable[..., tuple[int, subprocess.Popen[bytes]]]


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    root = tmp_path / "htdocs"
    root.mkdir()
    return root


@pytest.fixture
def nghttpd(docroot: Path, tmp_path: Path) -> Iterator[NghttpdFactory]:
    """Start `nghttpd --no-tls` on a free 127.0.0.1 port; every one started is killed at the
    end of the test. Returns (port, process)."""
    binary = require_tool("nghttpd")
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> tuple[int, subprocess.Popen[bytes]]:
        for _ in range(5):
            port = _free_port()
            log = (tmp_path / f"nghttpd-{port}.log").open("wb")
            with log:
                proc = subprocess.Popen(
                    [binary, "--no-tls", "-a", "127.0.0.1", "-d", str(docroot), *extra, str(port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            procs.append(proc)
            try:
                _wait_listening(port, proc)
            except AssertionError:
                continue  # the port was taken meanwhile: try another one
            return port, proc
        raise AssertionError("could not start nghttpd")

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def small_window_client() -> H2Config:
    return H2Config(client_side=True, initial_window_size=16384, connection_window_size=65535)


async def test_fetch_large_file_from_nghttpd_with_small_windows(
    nghttpd: NghttpdFactory, docroot: Path, tmp_path: Path
) -> None:
    content = os.urandom(6 * 1024 * 1024)
    (docroot / "big.bin").write_bytes(content)
    port, _ = nghttpd("-v")
    client = await H2ClientConnection.connect("127.0.0.1", port, small_window_client())
    try:
        response = await asyncio.wait_for(client.request("GET", "/big.bin"), 30)
    finally:
        await client.close()
    assert response.status == 200
    assert response.body == content
    # 6 MB through a 16 KiB stream window: hundreds of WINDOW_UPDATEs from us.
    log = (tmp_path / f"nghttpd-{port}.log").read_text(errors="replace")
    assert log.count("recv WINDOW_UPDATE frame") > 300


async def test_100_concurrent_requests_to_nghttpd(nghttpd: NghttpdFactory, docroot: Path) -> None:
    for i in range(100):
        (docroot / f"file{i}.txt").write_bytes(f"content of file {i}\n".encode() * (i + 1))
    port, _ = nghttpd()
    client = await H2ClientConnection.connect("127.0.0.1", port)
    try:
        responses = await asyncio.wait_for(
            asyncio.gather(*(client.request("GET", f"/file{i}.txt") for i in range(100))), 30
        )
    finally:
        await client.close()
    for i, response in enumerate(responses):
        assert response.status == 200
        assert response.body == f"content of file {i}\n".encode() * (i + 1)


async def test_nghttpd_settings_are_honoured(nghttpd: NghttpdFactory, docroot: Path) -> None:
    """nghttpd's SETTINGS: 4 concurrent streams, 16 KiB stream / 64 KiB connection windows
    (our 2 MB upload must wait for its WINDOW_UPDATEs), no HPACK dynamic table for us."""
    (docroot / "small.txt").write_bytes(b"small\n")
    port, _ = nghttpd(
        "--echo-upload",
        "--max-concurrent-streams=4",
        "--window-bits=14",
        "--connection-window-bits=16",
        "--header-table-size=0",
        "-v",
    )
    client = await H2ClientConnection.connect("127.0.0.1", port)
    try:
        settings = client.remote_settings
        assert settings[SettingCode.MAX_CONCURRENT_STREAMS] == 4
        assert settings[SettingCode.INITIAL_WINDOW_SIZE] == 16383
        assert settings[SettingCode.HEADER_TABLE_SIZE] == 0
        upload = os.urandom(2 * 1024 * 1024)
        echoed = await asyncio.wait_for(client.request("PUT", "/small.txt", body=upload), 30)
        assert echoed.status == 200
        assert echoed.body == upload
        extra = (("x-repeated-header", " ".join(["the same value every time"] * 4)),)
        responses = await asyncio.wait_for(
            asyncio.gather(*(client.request("GET", "/small.txt", extra) for _ in range(40))), 30
        )
        assert all(r.status == 200 and r.body == b"small\n" for r in responses)
    finally:
        await client.close()


async def _blocked_body(release: asyncio.Event) -> AsyncIterator[bytes]:
    yield b"the start of a body that never ends"
    await release.wait()
    yield b"never sent"


async def test_nghttpd_shutdown_fails_pending_requests(
    nghttpd: NghttpdFactory, docroot: Path
) -> None:
    """nghttpd sends no GOAWAY on SIGTERM (checked: it just closes); our pending requests
    must fail with H2ConnectionLostError, promptly, and later ones too."""
    (docroot / "x.txt").write_bytes(b"x")
    port, proc = nghttpd()
    client = await H2ClientConnection.connect("127.0.0.1", port)
    release = asyncio.Event()
    try:
        pending = [
            asyncio.create_task(client.request("POST", "/x.txt", body=_blocked_body(release)))
            for _ in range(3)
        ]
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in pending)
        proc.send_signal(signal.SIGTERM)
        results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 10)
        assert all(isinstance(r, H2ConnectionLostError) for r in results), results
        with pytest.raises(H2ConnectionLostError):
            await client.request("GET", "/x.txt")
    finally:
        release.set()
        await client.close()


async def test_nghttpd_goaway_fails_pending_requests(
    nghttpd: NghttpdFactory, docroot: Path
) -> None:
    """nghttpd's GOAWAY(PROTOCOL_ERROR), provoked by a PING on a stream smuggled onto the
    wire: the pending request fails with H2ConnectionLostError naming the GOAWAY."""
    (docroot / "x.txt").write_bytes(b"x")
    port, _ = nghttpd()
    client = await H2ClientConnection.connect("127.0.0.1", port)
    release = asyncio.Event()
    try:
        pending = asyncio.create_task(client.request("POST", "/x.txt", body=_blocked_body(release)))
        await asyncio.sleep(0.1)
        transport = client._protocol._transport
        assert transport is not None
        transport.write(b"\x00\x00\x08\x06\x00\x00\x00\x00\x01" + b"12345678")  # PING on stream 1
        with pytest.raises(H2ConnectionLostError, match="GOAWAY"):
            await asyncio.wait_for(pending, 10)
        goaway = client._protocol._goaway
        assert goaway is not None
        assert goaway.error_code == ErrorCode.PROTOCOL_ERROR
    finally:
        release.set()
        await client.close()
