"""Shared by the gRPC benchmark's servers, clients and orchestrator (bench/grpc_bench.py).

The server scripts (bench/servers/) take ``--host`` (127.0.0.1), ``--port`` (0: any free port)
and ``--gen`` (the generated code directory; built if absent), print the bound port alone on one
line of stdout once they accept calls, and stop on SIGTERM or SIGINT.

The client scripts (bench/clients/) make unary calls against a Bench server with a fixed number in
flight and print one JSON line (`ClientResult`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid`, all its threads, from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # Field 2 (the command) may hold spaces; the fields after its ')' are plain numbers.
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_peak_rss_kib(pid: int) -> int:
    """Peak resident set size (VmHWM) of process `pid` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def server_arg_parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument("--gen", type=Path, help="generated code directory (default: build it)")
    return parser


def announce_port(port: int) -> None:
    """Tell the orchestrator the server is ready: the port alone on one line."""
    print(port, flush=True)


STREAM_LIMIT = 1_000_000
SIZE_LIMIT = 4 << 20


def check_stream_request(count: int, size: int) -> str | None:
    """Why a ServerStream request is refused (None: it is fine), the same bound as the Go one."""
    if not (0 <= count <= STREAM_LIMIT and 0 <= size <= SIZE_LIMIT):
        return f"count {count} or size {size} out of range"
    return None


@dataclasses.dataclass
class ClientResult:
    client: str
    calls: int
    """Calls completed in the measured part (after the warm-up)."""
    seconds: float
    rps: float
    cpu_s: float
    """This process's user + system CPU over the measured part (every thread)."""
    cpu_us_per_call: float
    p50_us: float
    p99_us: float
    p999_us: float
    errors: int
    first_error: str
    server_cpu_s: float
    """CPU of ``--server-pid`` over the measured part (-1 without it)."""


def client_arg_parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--target", default="127.0.0.1:50051", help="server host:port")
    parser.add_argument("--calls", type=int, default=20_000, help="measured calls (N)")
    parser.add_argument("--concurrency", type=int, default=10, help="calls in flight (C)")
    parser.add_argument("--size", type=int, default=100, help="request body bytes")
    parser.add_argument("--warmup-calls", type=int, default=1000, help="unmeasured calls first")
    parser.add_argument(
        "--max-seconds", type=float, default=10.0, help="stop starting calls after this long"
    )
    parser.add_argument("--server-pid", type=int, default=0, help="also report this pid's CPU")
    parser.add_argument("--gen", type=Path, help="generated code directory (default: build it)")
    return parser


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))
    return ordered[index]


async def run_unary_load(
    name: str, call: Callable[[], Awaitable[object]], args: argparse.Namespace
) -> ClientResult:
    """`args.warmup_calls` calls, then `args.calls` measured ones, `args.concurrency` at a time;
    no call starts after `args.max_seconds` (warm-up included)."""
    if args.calls < 1 or args.concurrency < 1 or args.warmup_calls < 0 or args.max_seconds <= 0:
        raise SystemExit("--calls, --concurrency and --max-seconds must be positive")
    deadline = time.monotonic() + args.max_seconds
    errors = 0
    first_error = ""

    async def phase(total: int, latencies: list[float] | None) -> None:
        nonlocal errors, first_error
        started = 0

        async def worker() -> None:
            nonlocal started, errors, first_error
            while started < total and time.monotonic() < deadline:
                started += 1
                began = time.perf_counter()
                try:
                    await call()
                except Exception as exc:
                    errors += 1
                    first_error = first_error or f"{type(exc).__name__}: {exc}"
                    await asyncio.sleep(0.01)  # a dead server must not become a busy loop
                    continue
                if latencies is not None:
                    latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))

    await phase(args.warmup_calls, None)
    latencies: list[float] = []
    server_before = proc_cpu_seconds(args.server_pid) if args.server_pid else 0.0
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    await phase(args.calls, latencies)
    seconds = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    server_cpu = proc_cpu_seconds(args.server_pid) - server_before if args.server_pid else -1.0
    latencies.sort()
    calls = len(latencies)
    return ClientResult(
        client=name,
        calls=calls,
        seconds=seconds,
        rps=calls / seconds if seconds > 0 else 0.0,
        cpu_s=cpu,
        cpu_us_per_call=cpu / calls * 1e6 if calls else 0.0,
        p50_us=_percentile(latencies, 0.50) * 1e6,
        p99_us=_percentile(latencies, 0.99) * 1e6,
        p999_us=_percentile(latencies, 0.999) * 1e6,
        errors=errors,
        first_error=first_error,
        server_cpu_s=server_cpu,
    )


def print_result(result: ClientResult) -> int:
    """Print the JSON line; exit status 1 when no call succeeded."""
    print(json.dumps(dataclasses.asdict(result)), flush=True)
    return 0 if result.calls else 1
