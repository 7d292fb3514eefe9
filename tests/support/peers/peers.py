"""Interop peers as plain helpers (no pytest needed): run the Go hello server and client, serve
and call HelloService with grpcio. tests/support/peers/fixtures.py wraps them in fixtures; tests
import their types from here, never from the fixtures module (a pytest plugin)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from support.free_threaded import HAVE_GRPCIO
from support.peers.build import PythonStubs

if HAVE_GRPCIO or TYPE_CHECKING:  # no grpcio on free-threaded CPython: these helpers unused
    import grpc

LISTENING = re.compile(rb"Server is listening on port :(\d+)\n")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# Headroom over the client's own -timeout for process start-up and connection set-up.
CLIENT_SLACK = 10.0


def _read_port(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the server's 'listening' line; its port."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + START_TIMEOUT
    while (match := LISTENING.search(seen)) is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"Go hello server did not report listening; stdout: {seen!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            assert proc.stderr is not None
            err = proc.stderr.read().decode(errors="replace")
            proc.wait(STOP_TIMEOUT)
            raise RuntimeError(
                f"Go hello server exited {proc.returncode} before listening; "
                f"stdout: {seen!r}; stderr: {err}"
            )
        seen += chunk
    return int(match.group(1))


def _stop(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    """SIGTERM (if still running), wait, reap; exit code and stderr. Kills after a timeout."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err.decode(errors="replace")


@contextlib.contextmanager
def run_go_hello_server(binary: Path, host: str = "127.0.0.1") -> Iterator[int]:
    """Run the Go hello server on a free port of host; yields the port.

    On exit the server gets SIGTERM (graceful stop); it must exit 0 within STOP_TIMEOUT.
    """
    proc = subprocess.Popen(
        [str(binary), "-host", host, "-port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield _read_port(proc)
    finally:
        code, err = _stop(proc)
    if code != 0:
        raise AssertionError(f"Go hello server exited {code} on SIGTERM: {err}")


class GoHelloClient:
    """Runs the Go hello client once per call."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def argv(self, target: str, name: str, timeout: float) -> list[str]:
        return [str(self.binary), "-target", target, "-name", name, "-timeout", f"{timeout}s"]

    async def __call__(
        self, target: str, name: str, *, timeout: float = 5.0
    ) -> subprocess.CompletedProcess[str]:
        argv = self.argv(target, name, timeout)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout + CLIENT_SLACK)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode is not None
        return subprocess.CompletedProcess(
            argv, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
        )

    def sync(
        self, target: str, name: str, *, timeout: float = 5.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(target, name, timeout),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout + CLIENT_SLACK,
            check=False,
        )


class GrpcioHelloServicer:
    """HelloService for grpcio: the canonical reply."""

    def __init__(self, stubs: PythonStubs) -> None:
        self.pb2 = stubs.pb2
        self.calls = 0

    async def SayHello(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self.calls += 1
        return self.pb2.HelloResponse(message=f"Hello, {request.name}")


@contextlib.asynccontextmanager
async def serve_grpcio_hello(stubs: PythonStubs, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """A grpcio ``grpc.aio`` HelloService server in the running loop; yields its port."""
    server = grpc.aio.server()
    stubs.pb2_grpc.add_HelloServiceServicer_to_server(GrpcioHelloServicer(stubs), server)
    port = server.add_insecure_port(f"{host}:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(grace=None)
        await server.wait_for_termination()


async def grpcio_say_hello(
    stubs: PythonStubs, target: str, name: str, *, timeout: float = 5.0
) -> str:
    """One SayHello call with a grpcio ``grpc.aio`` channel; the reply's message."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = stubs.pb2_grpc.HelloServiceStub(channel)
        reply = await stub.SayHello(stubs.pb2.HelloRequest(name=name), timeout=timeout)
        message: str = reply.message
        return message


class GrpcioHelloClient:
    def __init__(self, stubs: PythonStubs) -> None:
        self.stubs = stubs

    async def __call__(self, target: str, name: str, *, timeout: float = 5.0) -> str:
        return await grpcio_say_hello(self.stubs, target, name, timeout=timeout)
