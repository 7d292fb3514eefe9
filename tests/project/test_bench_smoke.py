"""Smoke test of the gRPC benchmark's puregrpc server script (bench/servers/puregrpc_server.py):
it starts, announces its port, answers Unary, Upload and ServerStream, and stops on SIGTERM. The Go
programs are not built here; only protoc generates the Python code (cached in the temp dir)."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.marks import needs_grpcio_tools

import puregrpc

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH_DIR))

import benchlib  # noqa: E402
from build import python_code  # noqa: E402


def _payload(body: bytes) -> bytes:
    """bench.Payload{body} encoded by hand (field 1, length-delimited), so nothing is imported."""
    assert len(body) < 128
    return b"\x0a" + bytes([len(body)]) + body if body else b""


def _read_port(proc: subprocess.Popen[bytes], timeout: float) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                pytest.fail(f"server did not announce its port (exit {proc.poll()})")
            if selector.select(left):
                chunk = os.read(proc.stdout.fileno(), 1024)
                if not chunk:
                    pytest.fail(f"server closed stdout (exit {proc.wait(5)})")
                data += chunk
    return int(data.split(b"\n", 1)[0])


async def _calls(port: int) -> None:
    async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
        unary = channel.unary_unary("/bench.Bench/Unary")
        assert await unary(_payload(b"hello"), timeout=5.0) == _payload(b"hello")
        upload = channel.unary_unary("/bench.Bench/Upload")
        assert await upload(_payload(b"hello"), timeout=5.0) == b"\x08\x05"  # Ack{size: 5}
        stream = channel.unary_stream("/bench.Bench/ServerStream")
        request = b"\x08\x03\x10\x04"  # StreamRequest{count: 3, size: 4}
        replies = [reply async for reply in stream(request, timeout=5.0)]
        assert replies == [_payload(bytes(4))] * 3


@needs_grpcio_tools
def test_puregrpc_bench_server_answers_and_stops() -> None:
    gen_dir = python_code()
    script = BENCH_DIR / "servers" / "puregrpc_server.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--gen", str(gen_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        port = _read_port(proc, timeout=10.0)
        asyncio.run(_calls(port))
        assert benchlib.proc_cpu_seconds(proc.pid) > 0
        assert benchlib.proc_peak_rss_kib(proc.pid) > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5.0) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr = proc.stderr.read() if proc.stderr is not None else b""
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    assert b"Traceback" not in stderr, stderr.decode(errors="replace")
