"""Side-by-side gRPC benchmark: puregrpc against grpcio, grpclib and grpc-go, driven by neutral
load generators written in Go (bench/go/loadgen against Debian's grpc-go, and bench/go/rawload,
which speaks HTTP/2 frames itself).

Servers (each pinned to CPU 0 with ``taskset -c 0``; the load generators to CPU 1): puregrpc on
asyncio's default loop and on uvloop, grpcio sync (10 threads), grpcio aio, grpclib and grpc-go
(the ceiling). Everything runs over ONE connection. Modes (the measurement points of issue 5):

    unary               Unary, 64 in flight: RPC/s and server CPU per RPC
    unary_1             Unary, 1 in flight: p50 latency (target: within 1.2x grpc-go's)
    unary_100k          Upload, 100 KB requests, 8 in flight: MB/s (target: >= 1.5x the best
                        Python peer)
    server_stream       ServerStream, 8 streams of 100 messages in flight: messages/s
    pingpong            PingPong, 8 streams: round trips/s
    saturation          rawload, 64 Unary calls in flight: server CPU per RPC at saturation
                        (target: <= 8 us)
    saturation_timeout  the same with a different grpc-timeout on every call (target: <= 12 us)
    client_stream       (not run by default) ClientStream, 8 streams of 100 messages

Clients (pinned to CPU 1) make 64 unary calls in flight against the grpc-go server: puregrpc,
grpcio aio, grpclib, and the Go load generator itself as the ceiling (target: puregrpc >= 3x
grpcio aio's calls/s). The report has a table of these targets, met or not.

``make bench`` runs it after the engine benchmark; ``bench/README.md`` has the method.

    .venv/bin/python bench/grpc_bench.py            # ~14 minutes, 3 repetitions
    .venv/bin/python bench/grpc_bench.py --quick    # ~2 minutes, rough numbers
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
from build import BENCH_DIR, go_binaries, python_code

REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
PY = sys.executable
SERVERS_DIR = BENCH_DIR / "servers"
CLIENTS_DIR = BENCH_DIR / "clients"

LOADGEN_MODES = ("unary", "unary_1", "unary_100k", "server_stream", "client_stream", "pingpong")
SATURATION_MODES = ("saturation", "saturation_timeout")
MODES = (*LOADGEN_MODES, *SATURATION_MODES)
DEFAULT_MODES = tuple(m for m in MODES if m != "client_stream")
QUICK_MODES = ("unary", "unary_1", "unary_100k", *SATURATION_MODES)
LOADGEN_MODE = {"unary": "unary", "unary_1": "unary", "unary_100k": "upload"}
"""The load generator's -mode for each of ours (the rest have the same name)."""
STREAMING_MODES = ("server_stream", "client_stream", "pingpong")
OURS = ("puregrpc", "puregrpc-uvloop")
PYTHON_PEERS = ("grpcio-sync", "grpcio-aio", "grpclib")
GO_SERVER = "grpc-go"
SERVERS = (*OURS, *PYTHON_PEERS, GO_SERVER)
GO_CLIENT = "grpc-go (loadgen)"
CLIENTS = ("puregrpc", "puregrpc-uvloop", "grpcio-aio", "grpclib", GO_CLIENT)
PYTHON_SERVER_COMMANDS: dict[str, list[str]] = {
    "puregrpc": [PY, str(SERVERS_DIR / "puregrpc_server.py")],
    "puregrpc-uvloop": [PY, str(SERVERS_DIR / "puregrpc_server.py"), "--uvloop"],
    "grpcio-sync": [PY, str(SERVERS_DIR / "grpcio_sync_server.py")],
    "grpcio-aio": [PY, str(SERVERS_DIR / "grpcio_aio_server.py")],
    "grpclib": [PY, str(SERVERS_DIR / "grpclib_server.py")],
}
PYTHON_CLIENT_COMMANDS: dict[str, list[str]] = {
    "puregrpc": [PY, str(CLIENTS_DIR / "puregrpc_client.py")],
    "puregrpc-uvloop": [PY, str(CLIENTS_DIR / "puregrpc_client.py"), "--uvloop"],
    "grpcio-aio": [PY, str(CLIENTS_DIR / "grpcio_aio_client.py")],
    "grpclib": [PY, str(CLIENTS_DIR / "grpclib_client.py")],
}
PINNING = {
    True: "pinned to CPU 0, load generator and clients to CPU 1 (taskset)",
    False: "not pinned",
}
UNIT = {mode: "msg" if mode in STREAMING_MODES else "RPC" for mode in MODES}
SERVER_START_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class Settings:
    reps: int
    duration: float
    warmup: float
    modes: tuple[str, ...]
    servers: tuple[str, ...]
    clients: tuple[str, ...]
    concurrency: int
    """Calls in flight in `unary` and for the clients."""
    stream_concurrency: int
    """Streams in flight in the streaming modes."""
    large_concurrency: int
    large_size: int
    """Calls in flight and request body bytes in `unary_100k`."""
    saturation_concurrency: int
    connections: int
    size: int
    stream_count: int
    client_calls: int
    client_warmup_calls: int
    client_max_seconds: float
    pin: bool
    quick: bool
    window: int


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{len(QUICK_MODES)} modes, 1 repetition, 2 s each"
    )
    parser.add_argument("--reps", type=int, help="repetitions (default 3; --quick 1)")
    parser.add_argument("--duration", type=float, help="measured seconds per run (4; --quick 2)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds first (1; --quick 0.5)")
    parser.add_argument(
        "--modes",
        help=f"comma-separated subset of {','.join(MODES)} (default: all but client_stream)",
    )
    parser.add_argument("--servers", help=f"comma-separated subset of {','.join(SERVERS)}")
    parser.add_argument(
        "--clients", help=f"comma-separated subset of {','.join(CLIENTS)} ('none' for none)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="unary calls in flight (unary, clients)"
    )
    parser.add_argument(
        "--stream-concurrency", type=int, default=8, help="streams in flight (streaming modes)"
    )
    parser.add_argument(
        "--large-concurrency", type=int, default=8, help="calls in flight in unary_100k"
    )
    parser.add_argument(
        "--large-size", type=int, default=100_000, help="request body bytes in unary_100k"
    )
    parser.add_argument(
        "--saturation-concurrency", type=int, default=64, help="rawload's calls in flight"
    )
    parser.add_argument("--connections", type=int, default=1, help="load generator connections")
    parser.add_argument("--size", type=int, default=100, help="payload body bytes")
    parser.add_argument("--stream-count", type=int, default=100, help="messages per stream RPC")
    parser.add_argument("--client-calls", type=int, help="measured calls per client run (20000)")
    parser.add_argument(
        "--window",
        type=int,
        default=0,
        help="load generator: fixed HTTP/2 windows, which turn off grpc-go's BDP pings (0: off)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--no-write", action="store_true", help="write no results files")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)

    def subset(
        text: str | None, allowed: tuple[str, ...], default: tuple[str, ...]
    ) -> tuple[str, ...]:
        if text is None:
            return default
        if text == "none":
            return ()
        chosen = tuple(item.strip() for item in text.split(",") if item.strip())
        unknown = [item for item in chosen if item not in allowed]
        if unknown:
            parser.error(f"unknown {unknown}; choose from {', '.join(allowed)}")
        return chosen

    quick = bool(args.quick)
    settings = Settings(
        reps=args.reps or (1 if quick else 3),
        duration=args.duration or (2.0 if quick else 4.0),
        warmup=args.warmup if args.warmup is not None else (0.5 if quick else 1.0),
        modes=subset(args.modes, MODES, QUICK_MODES if quick else DEFAULT_MODES),
        servers=subset(args.servers, SERVERS, SERVERS),
        clients=subset(args.clients, CLIENTS, CLIENTS),
        concurrency=args.concurrency,
        stream_concurrency=args.stream_concurrency,
        large_concurrency=args.large_concurrency,
        large_size=args.large_size,
        saturation_concurrency=args.saturation_concurrency,
        connections=args.connections,
        size=args.size,
        stream_count=args.stream_count,
        client_calls=args.client_calls or (5000 if quick else 20000),
        client_warmup_calls=500 if quick else 1000,
        client_max_seconds=3.0 if quick else 8.0,
        pin=not args.no_pin,
        quick=quick,
        window=args.window,
    )
    if settings.reps < 1 or settings.reps > 20:
        parser.error("--reps must be 1..20")
    if not (0 < settings.duration <= 60 and 0 <= settings.warmup <= 30):
        parser.error("--duration must be in (0, 60] and --warmup in [0, 30]")
    counts = (
        settings.concurrency,
        settings.stream_concurrency,
        settings.large_concurrency,
        settings.saturation_concurrency,
        settings.connections,
        settings.stream_count,
    )
    if min(counts) < 1:
        parser.error("the concurrencies, --connections and --stream-count must be positive")
    if settings.saturation_concurrency > 8192 or not 0 <= settings.size <= 16000:
        parser.error("--saturation-concurrency is at most 8192 and --size at most 16000 (rawload)")
    if not 0 <= settings.large_size <= benchlib.SIZE_LIMIT:
        parser.error(f"--large-size must be in [0, {benchlib.SIZE_LIMIT}]")
    return settings, args


def mode_load(mode: str, settings: Settings) -> tuple[int, int]:
    """(operations in flight, body bytes) of `mode`."""
    if mode == "unary":
        return settings.concurrency, settings.size
    if mode == "unary_1":
        return 1, settings.size
    if mode == "unary_100k":
        return settings.large_concurrency, settings.large_size
    if mode in SATURATION_MODES:
        return settings.saturation_concurrency, settings.size
    return settings.stream_concurrency, settings.size


def mode_shape(mode: str, settings: dict[str, Any]) -> str:
    """What `mode` keeps in flight (`settings` as in the report), e.g. "64 in flight"."""
    s = Settings(**{**settings, "modes": tuple(settings["modes"])})
    in_flight, size = mode_load(mode, s)
    if mode == "unary_100k":
        return f"{in_flight} x {size:,} B"
    if mode in STREAMING_MODES:
        return f"{in_flight} streams"
    if mode == "saturation_timeout":
        return f"rawload, {in_flight}, grpc-timeout"
    if mode == "saturation":
        return f"rawload, {in_flight}"
    return f"{in_flight} in flight"


def mode_label(mode: str, settings: dict[str, Any]) -> str:
    """A column heading: the mode and its load shape."""
    return f"{mode} ({mode_shape(mode, settings)})"


# ---------------------------------------------------------------- processes


def pinned(cpu: int, argv: Sequence[str], settings: Settings) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if settings.pin else list(argv)


class ServerProcess:
    """A server under test, started with its port announced on stdout; stop() ends it."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log
        )
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{self.name} did not start: {self.log_tail()}")
                if selector.select(min(left, 0.5)):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    if not chunk:
                        self.proc.wait(SERVER_STOP_TIMEOUT)
                        continue
                    buffer += chunk
        return int(buffer.split(b"\n", 1)[0])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def peak_rss_kib(self) -> int:
        return benchlib.proc_peak_rss_kib(self.proc.pid)

    def log_tail(self, lines: int = 8) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def run_json(argv: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run a load program; its last stdout line as JSON, or RuntimeError with its stderr."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"timed out after {timeout:.0f}s: {' '.join(argv)}") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"exit {done.returncode}: {' '.join(argv)}\n{done.stdout[-500:]}{done.stderr[-1500:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# ---------------------------------------------------------------- runs


@dataclasses.dataclass
class Runner:
    settings: Settings
    loadgen: Path
    rawload: Path
    go_server: Path
    gen_dir: Path
    log_dir: Path
    server_runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    rss: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    client_runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def server_argv(self, name: str) -> list[str]:
        if name == GO_SERVER:
            argv = [str(self.go_server), "-host", "127.0.0.1", "-port", "0"]
        else:
            argv = [*PYTHON_SERVER_COMMANDS[name], "--port", "0", "--gen", str(self.gen_dir)]
        return pinned(0, argv, self.settings)

    def loadgen_argv(self, server: ServerProcess, mode: str, connections: int) -> list[str]:
        s = self.settings
        in_flight, size = mode_load(mode, s)
        timing = [f"-duration={s.duration}s", f"-warmup={s.warmup}s"]
        common = [
            f"-target=127.0.0.1:{server.port}",
            f"-concurrency={in_flight}",
            f"-size={size}",
            f"-server-pid={server.proc.pid}",
            f"-clk-tck={benchlib.CLK_TCK}",
        ]
        if mode in SATURATION_MODES:
            extra = ["-grpc-timeout"] if mode == "saturation_timeout" else []
            return pinned(1, [str(self.rawload), *common, *timing, *extra], s)
        argv = [
            str(self.loadgen),
            *common,
            f"-mode={LOADGEN_MODE.get(mode, mode)}",
            f"-connections={connections}",
            f"-stream-count={s.stream_count}",
            *timing,
            f"-window={s.window}",
        ]
        return pinned(1, argv, s)

    def run_server(self, name: str, rep: int) -> None:
        s = self.settings
        server = ServerProcess(name, self.server_argv(name), self.log_dir)
        try:
            for mode in s.modes:
                record: dict[str, Any] = {"server": name, "mode": mode, "rep": rep}
                if not server.alive():
                    record["error"] = f"server exited: {server.log_tail()}"
                else:
                    try:
                        argv = self.loadgen_argv(server, mode, s.connections)
                        record["result"] = run_json(argv, s.warmup + s.duration + 60)
                    except RuntimeError as exc:
                        record["error"] = str(exc)
                self.server_runs.append(record)
                progress(describe_server_run(record))
            if server.alive():
                self.rss.append({"server": name, "rep": rep, "peak_rss_kib": server.peak_rss_kib()})
        finally:
            server.stop()

    def run_clients(self, rep: int) -> None:
        s = self.settings
        if not s.clients:
            return
        server = ServerProcess(GO_SERVER, self.server_argv(GO_SERVER), self.log_dir)
        try:
            for name in s.clients:
                record: dict[str, Any] = {"client": name, "rep": rep}
                try:
                    record["result"] = self.run_client(name, server)
                except RuntimeError as exc:
                    record["error"] = str(exc)
                self.client_runs.append(record)
                progress(describe_client_run(record))
        finally:
            server.stop()

    def run_client(self, name: str, server: ServerProcess) -> dict[str, Any]:
        s = self.settings
        if name == GO_CLIENT:
            # The same shape as the Python clients: one connection, C calls in flight.
            argv = self.loadgen_argv(server, "unary", 1)
            out = run_json(argv, s.warmup + s.duration + 60)
            calls = int(out["rpcs"])
            return {
                "client": name,
                "calls": calls,
                "seconds": out["seconds"],
                "rps": out["rps"],
                "cpu_s": out["loadgen_cpu_s"],
                "cpu_us_per_call": out["loadgen_cpu_s"] / calls * 1e6 if calls else 0.0,
                "p50_us": out["p50_us"],
                "p99_us": out["p99_us"],
                "p999_us": out["p999_us"],
                "errors": out["errors"],
                "first_error": out["first_error"],
                "server_cpu_s": out["server_cpu_s"],
            }
        argv = [
            *PYTHON_CLIENT_COMMANDS[name],
            f"--target=127.0.0.1:{server.port}",
            f"--calls={s.client_calls}",
            f"--concurrency={s.concurrency}",
            f"--size={s.size}",
            f"--warmup-calls={s.client_warmup_calls}",
            f"--max-seconds={s.client_max_seconds}",
            f"--server-pid={server.proc.pid}",
            f"--gen={self.gen_dir}",
        ]
        return run_json(pinned(1, argv, s), s.client_max_seconds * 2 + 60)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def server_unit_count(result: dict[str, Any]) -> int:
    """RPCs, or messages in the streaming modes (a load generator's JSON line)."""
    return int(result["msgs"] if result["mode"] in STREAMING_MODES else result["rpcs"])


def describe_server_run(record: dict[str, Any]) -> str:
    head = f"  {record['server']:<16} {record['mode']:<18} rep {record['rep'] + 1}: "
    if "error" in record:
        return head + "FAILED " + str(record["error"]).splitlines()[0][:200]
    r = record["result"]
    units = server_unit_count(r)
    cpu = r["server_cpu_s"] / units * 1e6 if units else float("nan")
    unit = UNIT[record["mode"]]
    errors = f", {r['errors']} errors ({r['first_error'][:80]})" if r["errors"] else ""
    load = r["loadgen_cpu_s"] / units * 1e6 if units else float("nan")
    busy = r["server_cpu_s"] / r["seconds"] * 100 if r["seconds"] else float("nan")
    return head + (
        f"{units / r['seconds']:9.0f} {unit}/s, server {cpu:7.1f} us/{unit} ({busy:3.0f}% busy), "
        f"load generator {load:5.2f} us/{unit}, p50 {r['p50_us']:,.0f} us{errors}"
    )


def describe_client_run(record: dict[str, Any]) -> str:
    head = f"  client {record['client']:<18} rep {record['rep'] + 1}: "
    if "error" in record:
        return head + "FAILED " + str(record["error"]).splitlines()[0][:200]
    r = record["result"]
    return head + f"{r['rps']:9.0f} calls/s, client {r['cpu_us_per_call']:7.1f} us/call"


# ---------------------------------------------------------------- summary


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(runner: Runner) -> dict[str, Any]:
    servers: dict[str, dict[str, Any]] = {}
    for name in runner.settings.servers:
        per_mode: dict[str, Any] = {}
        for mode in runner.settings.modes:
            records = [r for r in runner.server_runs if r["server"] == name and r["mode"] == mode]
            ok = [r["result"] for r in records if "result" in r]
            entry: dict[str, Any] = {
                "unit": UNIT[mode],
                "runs": len(records),
                "failed_runs": len(records) - len(ok),
            }
            ok = [r for r in ok if server_unit_count(r) > 0]
            if ok:
                _, size = mode_load(mode, runner.settings)
                entry.update(
                    # request body megabytes (10^6) per second: the unary_100k figure
                    mb_per_s=spread([r["rpcs"] * size / r["seconds"] / 1e6 for r in ok]),
                    server_busy=spread([r["server_cpu_s"] / r["seconds"] for r in ok]),
                    server_cpu_us=spread(
                        [r["server_cpu_s"] / server_unit_count(r) * 1e6 for r in ok]
                    ),
                    throughput=spread([server_unit_count(r) / r["seconds"] for r in ok]),
                    loadgen_cpu_us=spread(
                        [r["loadgen_cpu_s"] / server_unit_count(r) * 1e6 for r in ok]
                    ),
                    p50_us=statistics.median(r["p50_us"] for r in ok),
                    p99_us=statistics.median(r["p99_us"] for r in ok),
                    p999_us=statistics.median(r["p999_us"] for r in ok),
                    errors=sum(int(r["errors"]) for r in ok),
                    first_error=next((r["first_error"] for r in ok if r["first_error"]), ""),
                )
            per_mode[mode] = entry
        rss = [r["peak_rss_kib"] / 1024 for r in runner.rss if r["server"] == name]
        servers[name] = {"modes": per_mode, "peak_rss_mib": spread(rss) if rss else None}

    ratios: dict[str, Any] = {}
    for mode in runner.settings.modes:

        def cpu(name: str, mode: str = mode) -> float | None:
            entry = servers.get(name, {}).get("modes", {}).get(mode, {})
            value = entry.get("server_cpu_us")
            return None if value is None else float(value["median"])

        def rate(name: str, mode: str = mode) -> float | None:
            entry = servers.get(name, {}).get("modes", {}).get(mode, {})
            value = entry.get("throughput")
            return None if value is None else float(value["median"])

        peers = [(cpu(p), p) for p in PYTHON_PEERS if cpu(p) is not None]
        best_cpu = min(peers) if peers else None
        peer_rates = [(rate(p), p) for p in PYTHON_PEERS if rate(p) is not None]
        best_rate = max(peer_rates) if peer_rates else None
        for ours in OURS:
            mine = cpu(ours)
            if mine is None:
                continue
            go = cpu(GO_SERVER)
            my_rate = rate(ours)
            ratios.setdefault(mode, {})[ours] = {
                "best_peer_cpu": best_cpu[1] if best_cpu else None,
                "cpu_vs_best_peer": mine / best_cpu[0] if best_cpu and best_cpu[0] else None,
                "best_peer_throughput": best_rate[1] if best_rate else None,
                "throughput_vs_best_peer": (
                    my_rate / best_rate[0] if best_rate and best_rate[0] and my_rate else None
                ),
                "cpu_vs_grpc_go": mine / go if go else None,
            }

    clients: dict[str, Any] = {}
    for name in runner.settings.clients:
        records = [r for r in runner.client_runs if r["client"] == name]
        ok = [r["result"] for r in records if "result" in r and r["result"]["calls"] > 0]
        entry = {"runs": len(records), "failed_runs": len(records) - len(ok)}
        if ok:
            entry.update(
                rps=spread([r["rps"] for r in ok]),
                cpu_us_per_call=spread([r["cpu_us_per_call"] for r in ok]),
                server_cpu_us_per_call=spread([r["server_cpu_s"] / r["calls"] * 1e6 for r in ok]),
                p50_us=statistics.median(r["p50_us"] for r in ok),
                p99_us=statistics.median(r["p99_us"] for r in ok),
                errors=sum(int(r["errors"]) for r in ok),
                first_error=next((r["first_error"] for r in ok if r["first_error"]), ""),
            )
        clients[name] = entry
    summary: dict[str, Any] = {"servers": servers, "ratios": ratios, "clients": clients}
    summary["targets"] = evaluate_targets(summary)
    return summary


# ---------------------------------------------------------------- issue 5's targets

P50_VS_GO = 1.2
LARGE_VS_BEST_PEER = 1.5
SATURATION_US = 8.0
SATURATION_TIMEOUT_US = 12.0
CLIENT_VS_GRPCIO_AIO = 3.0
CLIENT_PEER = "grpcio-aio"
# (mode, the factor over the best Python peer's throughput it must reach, what it counts)
THROUGHPUT_VS_BEST_PEER = (
    ("unary", 10.0, "RPC/s, 64 in flight"),
    ("server_stream", 5.0, "server-streaming messages/s"),
    ("pingpong", 1.4, "bidi ping-pong round trips/s"),
)
TARGET_KEYS = (
    "unary_rps_vs_peer",
    "unary_rps_vs_go",
    "server_stream_rps_vs_peer",
    "pingpong_rps_vs_peer",
    "unary_1_p50",
    "unary_100k_mb_per_s",
    "saturation_server_cpu",
    "saturation_timeout_server_cpu",
    "client_rps",
)


def _median(entry: dict[str, Any] | None, key: str) -> float | None:
    """entry[key]'s median (a spread) or entry[key] itself (a plain number); None if absent."""
    if not entry or entry.get(key) is None:
        return None
    value = entry[key]
    return float(value["median"] if isinstance(value, dict) else value)


def evaluate_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 5's targets against a summary: one row per target (`key`, one of TARGET_KEYS) and
    puregrpc variant (`subject`), with the measured figures, the ratio the target is about, and
    `met` (True/False; None: not measured). Only medians are compared."""
    servers = summary.get("servers", {})
    clients = summary.get("clients", {})

    def server(name: str, mode: str, key: str) -> float | None:
        return _median(servers.get(name, {}).get("modes", {}).get(mode), key)

    def row(
        key: str,
        target: str,
        subject: str,
        measured: str,
        ratio: float | None,
        required: str,
        met: bool | None,
    ) -> dict[str, Any]:
        return {
            "key": key,
            "target": target,
            "subject": subject,
            "measured": measured,
            "ratio": ratio,
            "required": required,
            "met": met,
        }

    def us(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:,.{digits}f} us"

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}/s"

    rows: list[dict[str, Any]] = []
    for ours in (o for o in OURS if o in servers):
        for mode, factor, what in THROUGHPUT_VS_BEST_PEER:
            mine = server(ours, mode, "throughput")
            peers = [(v, p) for p in PYTHON_PEERS if (v := server(p, mode, "throughput"))]
            best = max(peers) if peers else None
            ratio = mine / best[0] if mine is not None and best else None
            rows.append(
                row(
                    f"{mode}_rps_vs_peer",
                    f"{what}: at least {factor:g}x the best Python peer's",
                    ours,
                    f"{rate(mine)} vs " + (f"{best[1]} {rate(best[0])}" if best else "-"),
                    ratio,
                    f">= {factor:g}x",
                    None if ratio is None else ratio >= factor,
                )
            )
        mine, go = server(ours, "unary", "throughput"), server(GO_SERVER, "unary", "throughput")
        ratio = mine / go if mine is not None and go else None
        rows.append(
            row(
                "unary_rps_vs_go",
                "RPC/s, 64 in flight: at least grpc-go's own under the same load generator",
                ours,
                f"{rate(mine)} vs grpc-go {rate(go)}",
                ratio,
                ">= 1x",
                None if ratio is None else ratio >= 1.0,
            )
        )
        mine, go = server(ours, "unary_1", "p50_us"), server(GO_SERVER, "unary_1", "p50_us")
        ratio = mine / go if mine is not None and go else None
        rows.append(
            row(
                "unary_1_p50",
                "unary, 1 in flight: p50 latency within 1.2x grpc-go's",
                ours,
                f"{us(mine, 0)} vs grpc-go {us(go, 0)}",
                ratio,
                f"<= {P50_VS_GO}x",
                None if ratio is None else ratio <= P50_VS_GO,
            )
        )
        mine = server(ours, "unary_100k", "mb_per_s")
        peers = [(v, p) for p in PYTHON_PEERS if (v := server(p, "unary_100k", "mb_per_s"))]
        best = max(peers) if peers else None
        ratio = mine / best[0] if mine is not None and best else None
        rows.append(
            row(
                "unary_100k_mb_per_s",
                "100 KB requests, 8 in flight: MB/s at least 1.5x the best Python peer's",
                ours,
                f"{'-' if mine is None else f'{mine:,.1f}'} MB/s vs "
                + (f"{best[1]} {best[0]:,.1f} MB/s" if best else "-"),
                ratio,
                f">= {LARGE_VS_BEST_PEER}x",
                None if ratio is None else ratio >= LARGE_VS_BEST_PEER,
            )
        )
        for mode, limit, what in (
            ("saturation", SATURATION_US, "without deadlines"),
            ("saturation_timeout", SATURATION_TIMEOUT_US, "with a grpc-timeout on every call"),
        ):
            mine, go = server(ours, mode, "server_cpu_us"), server(GO_SERVER, mode, "server_cpu_us")
            rows.append(
                row(
                    f"{mode}_server_cpu",
                    f"server CPU per unary RPC at saturation, {what}: <= {limit:g} us",
                    ours,
                    f"{us(mine)} (grpc-go {us(go)})",
                    mine / go if mine is not None and go else None,
                    f"<= {limit:g} us",
                    None if mine is None else mine <= limit,
                )
            )
    peer = _median(clients.get(CLIENT_PEER), "rps")
    for ours in (o for o in OURS if o in clients):
        mine = _median(clients.get(ours), "rps")
        ratio = mine / peer if mine is not None and peer else None
        rows.append(
            row(
                "client_rps",
                "client, 64 unary calls in flight against grpc-go: calls/s at least 3x "
                "grpcio aio's",
                ours,
                f"{'-' if mine is None else f'{mine:,.0f}'} calls/s vs {CLIENT_PEER} "
                + ("-" if peer is None else f"{peer:,.0f}"),
                ratio,
                f">= {CLIENT_VS_GRPCIO_AIO}x",
                None if ratio is None else ratio >= CLIENT_VS_GRPCIO_AIO,
            )
        )
    rows.sort(key=lambda r: TARGET_KEYS.index(r["key"]))  # by target, then as OURS orders them
    return rows


# ---------------------------------------------------------------- environment


def _command(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return str(done.stdout).strip() if done.returncode == 0 else "unknown"


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "cpu": cpu_model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": sorted(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "os": _command(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in ("puregrpc", "grpcio", "grpclib", "uvloop", "protobuf", "h2"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "missing"
    commit = _command(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"])
    dirty = _command(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"])
    found["puregrpc_commit"] = commit + (" (src modified)" if dirty not in ("", "unknown") else "")
    for package in ("golang-google-grpc-dev", "golang-goprotobuf-dev"):
        found[package] = _command(["dpkg-query", "-W", "-f=${Version}", package])
    found["go"] = _command(["go", "version"])
    return found


# ---------------------------------------------------------------- report


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def fmt_spread(value: dict[str, float] | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if value["min"] == value["max"]:
        return fmt(value["median"], digits)
    return (
        f"{fmt(value['median'], digits)} ({fmt(value['min'], digits)}-{fmt(value['max'], digits)})"
    )


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    settings = report["settings"]
    summary = report["summary"]
    modes = settings["modes"]
    load_modes = [m for m in modes if m not in SATURATION_MODES]
    sat_modes = [m for m in modes if m in SATURATION_MODES]
    servers = settings["servers"]
    machine = report["machine"]
    v = report["versions"]
    shapes = ", ".join(f"`{mode_label(m, settings)}`" for m in modes)
    out = [
        f"# gRPC benchmark, {report['date']}{' (quick)' if settings['quick'] else ''}",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, "
        f"{machine['memory_gib']} GiB, Linux {machine['kernel']}, {machine['os']}, "
        f"{machine['python']}.",
        "",
        f"Versions: puregrpc {v['puregrpc']} ({v['puregrpc_commit']}), grpcio {v['grpcio']}, "
        f"grpclib {v['grpclib']}, uvloop {v['uvloop']}, protobuf {v['protobuf']}, "
        f"grpc-go {v['golang-google-grpc-dev']} (Debian, GOPATH build; load generator and "
        f"ceiling server), golang-protobuf {v['golang-goprotobuf-dev']}, {v['go']}.",
        "",
        f"Load: Go load generator (grpc-go) over {settings['connections']} connection(s), or "
        "rawload (raw HTTP/2 frames, one connection) in the saturation modes; modes and what is "
        f"in flight: {shapes}. Bodies of {settings['size']} bytes unless said, "
        f"{settings['stream_count']} messages per streaming RPC, {settings['warmup']} s warm-up "
        f"then {settings['duration']} s measured, {settings['reps']} repetition(s); "
        f"servers {PINNING[bool(settings['pin'])]}. "
        "Values are `median (min-max)` over the repetitions."
        + (
            f" The load generator's HTTP/2 windows are fixed at {settings['window']} bytes, which "
            "turns off grpc-go's BDP pings."
            if settings.get("window")
            else ""
        ),
        "",
    ]

    def entry_of(server: str, mode: str) -> dict[str, Any]:
        entry: dict[str, Any] = summary["servers"][server]["modes"].get(mode, {})
        return entry

    def mode_cell(server: str, mode: str, key: str, digits: int = 1) -> str:
        entry = entry_of(server, mode)
        if key not in entry:
            return "failed" if entry.get("failed_runs") else "-"
        text = fmt_spread(entry[key], digits)
        if entry.get("errors"):
            text += f" [{entry['errors']} errors]"
        return text

    def median_cell(server: str, mode: str, key: str, digits: int = 1) -> str:
        entry = entry_of(server, mode)
        if key not in entry:
            return "failed" if entry.get("failed_runs") else "-"
        value = entry[key]
        text = fmt(value["median"] if isinstance(value, dict) else value, digits)
        return text + (" [errors]" if entry.get("errors") else "")

    # The headline: issue 5's table, one figure per measurement point (medians).
    headline: list[tuple[str, str, str, int]] = []  # (heading, mode, key, digits)
    for mode, heading, key, digits in (
        ("unary", "unary RPC/s", "throughput", 0),
        ("unary", "unary server us/RPC", "server_cpu_us", 1),
        ("unary_1", "unary_1 p50 us", "p50_us", 0),
        ("unary_100k", "100 KB MB/s", "mb_per_s", 1),
        ("server_stream", "server stream msgs/s", "throughput", 0),
        ("client_stream", "client stream msgs/s", "throughput", 0),
        ("pingpong", "pingpong round trips/s", "throughput", 0),
        ("saturation", "saturation us/RPC", "server_cpu_us", 1),
        ("saturation_timeout", "saturation + grpc-timeout us/RPC", "server_cpu_us", 1),
    ):
        if mode in modes:
            headline.append((heading, mode, key, digits))
    out += [
        "## Issue 5's measurement points (medians)",
        "",
        "Throughput and p50 latency with the Go load generator; `us/RPC` is the server "
        "process's CPU per RPC. The mode tables below have the spreads.",
        "",
    ]
    out += table(
        ["server", *(h for h, _, _, _ in headline)],
        ([s, *(median_cell(s, m, k, d) for _, m, k, d in headline)] for s in servers),
    )
    targets = summary.get("targets", [])
    if targets:
        out += [
            "",
            "## Targets (issue 5)",
            "",
            "Each target against the medians of this run; `ratio` is the quantity the target "
            "bounds (for the saturation targets, which bound microseconds, puregrpc's CPU per RPC "
            "over grpc-go's, for reference).",
            "",
        ]
        out += table(
            ["target", "server/client", "measured", "ratio", "required", "result"],
            (
                [
                    t["target"],
                    t["subject"],
                    t["measured"],
                    fmt(t["ratio"], 2),
                    t["required"],
                    {True: "met", False: "**not met**", None: "not measured"}[t["met"]],
                ]
                for t in targets
            ),
        )
    out += [
        "",
        "## Server CPU per RPC (unary) or per message (streaming modes), us",
        "",
        "Server process user+system CPU (/proc/<pid>/stat, all threads) over the measured "
        "window, divided by the RPCs (unary) or messages (server_stream, client_stream: "
        f"{settings['stream_count']} per RPC; pingpong: one round trip) completed in it. "
        "Lower is better.",
        "",
    ]
    out += table(
        ["server", *(mode_label(m, settings) for m in modes)],
        ([s, *(mode_cell(s, m, "server_cpu_us") for m in modes)] for s in servers),
    )
    out += [
        "",
        "## Throughput: RPCs/s (unary) or messages/s (streaming modes)",
        "",
        "The server has one CPU; the load generator has the other. grpc-go's figures are bounded "
        "by the load generator (also grpc-go) as much as by the server.",
        "",
    ]
    out += table(
        ["server", *(mode_label(m, settings) for m in modes)],
        ([s, *(mode_cell(s, m, "throughput", 0) for m in modes)] for s in servers),
    )
    out += ["", "## Latency per operation, us: p50 / p99 / p99.9 (medians)", ""]
    out += [
        "An operation is an RPC (a whole stream in server_stream and client_stream) or, in "
        "pingpong, one round trip.",
        "",
    ]

    def latency(server: str, mode: str) -> str:
        entry = entry_of(server, mode)
        if "p50_us" not in entry:
            return "-"
        return f"{entry['p50_us']:,.0f} / {entry['p99_us']:,.0f} / {entry['p999_us']:,.0f}"

    out += table(
        ["server", *(mode_label(m, settings) for m in load_modes)],
        ([s, *(latency(s, m) for m in load_modes)] for s in servers),
    )
    if sat_modes:
        out += [
            "",
            "## Saturation: rawload against each server",
            "",
            f"bench/go/rawload keeps {settings['saturation_concurrency']} Unary calls in flight on "
            "one connection with raw HTTP/2 frames (pre-encoded HPACK, one write per batch) and "
            "checks every reply; `saturation_timeout` adds a grpc-timeout header with a different "
            "value on every call. `busy` is the server's CPU over the window's wall time (100%: "
            "one core saturated); `rawload us/RPC` is the load generator's own CPU (user+system, "
            "most of it the kernel's TCP path).",
            "",
        ]
        header = ["server"]
        for m in sat_modes:
            header += [f"{m} us/RPC", f"{m} RPC/s", f"{m} busy %", f"{m} rawload us/RPC"]

        def busy(server: str, mode: str) -> str:
            value = entry_of(server, mode).get("server_busy")
            return "-" if value is None else fmt(value["median"] * 100, 0)

        rows: list[list[str]] = []
        for s in servers:
            row = [s]
            for m in sat_modes:
                row += [
                    mode_cell(s, m, "server_cpu_us"),
                    median_cell(s, m, "throughput", 0),
                    busy(s, m),
                    median_cell(s, m, "loadgen_cpu_us", 2),
                ]
            rows.append(row)
        out += table(header, rows)
    out += ["", "## Peak RSS of the server process (VmHWM after all modes), MiB", ""]
    out += table(
        ["server", "peak RSS MiB"],
        ([s, fmt_spread(summary["servers"][s]["peak_rss_mib"])] for s in servers),
    )
    out += [
        "",
        "## puregrpc against the others",
        "",
        "`CPU x` is puregrpc's server CPU per RPC/message divided by the other's (lower is "
        "better; 2.0 means twice the CPU); `throughput x` is puregrpc's throughput divided by the "
        "best Python peer's (higher is better). Python peers: grpcio sync, grpcio aio, grpclib.",
        "",
    ]
    ratio_rows = []
    for mode in modes:
        for ours, r in summary["ratios"].get(mode, {}).items():
            ratio_rows.append(
                [
                    mode,
                    ours,
                    f"{fmt(r['cpu_vs_best_peer'], 2)} (vs {r['best_peer_cpu']})",
                    f"{fmt(r['throughput_vs_best_peer'], 2)} (vs {r['best_peer_throughput']})",
                    fmt(r["cpu_vs_grpc_go"], 2),
                ]
            )
    out += table(
        [
            "mode",
            "server",
            "CPU x best Python peer",
            "throughput x best Python peer",
            "CPU x grpc-go",
        ],
        ratio_rows,
    )
    if settings["clients"]:
        out += [
            "",
            "## Clients against the grpc-go server (unary)",
            "",
            f"Each client makes {settings['client_calls']} measured calls (after "
            f"{settings['client_warmup_calls']} warm-up calls, at most "
            f"{settings['client_max_seconds']} s) with {settings['concurrency']} in flight on one "
            "connection, pinned to CPU 1; the grpc-go server is on CPU 0. `client us/call` is the "
            "client process's own CPU; `server us/call` the grpc-go server's. The Go load "
            f"generator row runs for {settings['duration']} s instead of a call count.",
            "",
        ]
        out += table(
            ["client", "calls/s", "client us/call", "server us/call", "p50 us", "p99 us"],
            (
                [
                    name,
                    fmt_spread(entry.get("rps"), 0),
                    fmt_spread(entry.get("cpu_us_per_call")),
                    fmt_spread(entry.get("server_cpu_us_per_call")),
                    fmt(entry.get("p50_us"), 0),
                    fmt(entry.get("p99_us"), 0)
                    + (f" [{entry['errors']} errors]" if entry.get("errors") else ""),
                ]
                for name, entry in summary["clients"].items()
            ),
        )
    problems = [
        f"- {kind} {name} {mode}: {text}" for kind, name, mode, text in report_problems(report)
    ]
    if problems:
        out += ["", "## Errors", "", *problems]
    out += [
        "",
        f"Run time {report['elapsed_s']:.0f} s. Every sample is in the JSON file beside this one; "
        "method in `bench/README.md`.",
        "",
    ]
    return "\n".join(out)


def report_problems(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(kind, name, mode, first error) for every server/mode and client with errors."""
    found: list[tuple[str, str, str, str]] = []
    for name, server in report["summary"]["servers"].items():
        for mode, entry in server["modes"].items():
            if entry.get("failed_runs"):
                first = next(
                    r["error"]
                    for r in report["server_runs"]
                    if r["server"] == name and r["mode"] == mode and "error" in r
                )
                found.append(
                    (
                        "server",
                        name,
                        mode,
                        f"{entry['failed_runs']} failed run(s): {first.splitlines()[0][:300]}",
                    )
                )
            if entry.get("errors"):
                found.append(
                    (
                        "server",
                        name,
                        mode,
                        f"{entry['errors']} RPC errors, first: {entry['first_error'][:300]}",
                    )
                )
    for name, entry in report["summary"]["clients"].items():
        if entry.get("failed_runs"):
            first = next(
                r["error"] for r in report["client_runs"] if r["client"] == name and "error" in r
            )
            found.append(("client", name, "unary", f"failed: {first.splitlines()[0][:300]}"))
        if entry.get("errors"):
            found.append(
                (
                    "client",
                    name,
                    "unary",
                    f"{entry['errors']} errors, first: {entry['first_error'][:300]}",
                )
            )
    return found


def write_chart(report: dict[str, Any], path: Path) -> bool:
    """A PNG: server CPU per RPC/message and throughput per mode and server (log scales), and the
    clients' calls/s; False when matplotlib is not installed (the `bench` extra has it)."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return False
    matplotlib.use("Agg")
    pyplot = importlib.import_module("matplotlib.pyplot")
    settings = report["settings"]
    modes = settings["modes"]
    servers = settings["servers"]
    summary = report["summary"]
    clients = [c for c in settings["clients"] if summary["clients"].get(c, {}).get("rps")]
    panels = 3 if clients else 2
    figure, axes = pyplot.subplots(
        panels,
        1,
        figsize=(max(12, 1.9 * len(modes) + 2), 5.2 * panels),
        gridspec_kw={"height_ratios": [1.0] * 2 + ([0.8] if clients else [])},
    )
    colors = pyplot.get_cmap("tab10").colors
    width = 0.8 / max(1, len(servers))

    def grouped(ax: Any, key: str, ylabel: str, title: str, digits: int) -> None:
        for i, server in enumerate(servers):
            xs, heights = [], []
            for m, mode in enumerate(modes):
                value = summary["servers"][server]["modes"].get(mode, {}).get(key)
                if value:
                    xs.append(m + (i - (len(servers) - 1) / 2) * width)
                    heights.append(value["median"])
            bars = ax.bar(xs, heights, width, label=server, color=colors[i % len(colors)])
            ax.bar_label(
                bars,
                labels=[f"{h:,.{digits}f}" for h in heights],
                rotation=90,
                fontsize=7,
                padding=2,
            )
        ax.set_xticks(range(len(modes)))
        ax.set_xticklabels(
            [f"{m}\n{mode_shape(m, settings)}\nper {UNIT[m]}" for m in modes], fontsize=8
        )
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(axis="y", which="major", alpha=0.3)
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, top * 8)  # room for the value labels
        ax.legend(ncols=min(6, len(servers)), fontsize=8, loc="upper left")

    grouped(
        axes[0],
        "server_cpu_us",
        "server CPU, us (log scale)",
        f"Server CPU per RPC or message (lower is better), {report['date']}",
        1,
    )
    grouped(
        axes[1],
        "throughput",
        "RPC/s or messages/s (log scale)",
        "Throughput: server on one core, load generator on the other (higher is better)",
        0,
    )
    if clients:
        ax = axes[2]
        rates = [summary["clients"][c]["rps"]["median"] for c in clients]
        # the same colour as the server of the same library
        library = [GO_SERVER if c == GO_CLIENT else c for c in clients]
        palette = [
            colors[servers.index(n) % len(colors)] if n in servers else "grey" for n in library
        ]
        bars = ax.barh(clients, rates, color=palette)
        ax.bar_label(bars, labels=[f"{r:,.0f}" for r in rates], fontsize=8, padding=3)
        ax.set_xlabel("calls/s")
        ax.xaxis.set_major_formatter(
            importlib.import_module("matplotlib.ticker").StrMethodFormatter("{x:,.0f}")
        )
        ax.invert_yaxis()
        ax.set_title(
            f"Clients: unary calls/s, {settings['concurrency']} in flight on one connection, "
            "against the grpc-go server (higher is better)"
        )
        ax.grid(axis="x", which="major", alpha=0.3)
        ax.set_xlim(0, max(rates) * 1.15)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return True


# ---------------------------------------------------------------- main


def estimate_seconds(settings: Settings) -> float:
    per_run = settings.warmup + settings.duration + 0.4
    servers = settings.reps * len(settings.servers) * (len(settings.modes) * per_run + 1.5)
    clients = settings.reps * (
        len(settings.clients) * (min(settings.client_max_seconds, per_run) + 1.0) + 1.0
    )
    return servers + clients


def main(argv: Sequence[str] | None = None) -> int:
    settings, args = parse_args(argv)
    if settings.pin and (shutil.which("taskset") is None or not {0, 1} <= os.sched_getaffinity(0)):
        progress("taskset or CPUs 0 and 1 not available: running unpinned (--no-pin)")
        settings = dataclasses.replace(settings, pin=False)
    started = time.monotonic()
    progress("building (cached after the first time) ...")
    gen_dir = python_code()
    binaries = go_binaries()
    progress(
        f"running {len(settings.servers)} servers x {len(settings.modes)} modes x "
        f"{settings.reps} reps and {len(settings.clients)} clients; about "
        f"{estimate_seconds(settings) / 60:.1f} minutes"
    )
    with tempfile.TemporaryDirectory(prefix="puregrpc-grpc-bench-") as log_dir:
        runner = Runner(
            settings, binaries.loadgen, binaries.rawload, binaries.server, gen_dir, Path(log_dir)
        )
        for rep in range(settings.reps):
            progress(f"repetition {rep + 1}/{settings.reps}")
            # Rotate the server order so that slow drift does not always hit the same one.
            order = (
                settings.servers[rep % len(settings.servers) :]
                + settings.servers[: rep % len(settings.servers)]
            )
            for name in order:
                try:
                    runner.run_server(name, rep)
                except RuntimeError as exc:
                    for mode in settings.modes:
                        runner.server_runs.append(
                            {"server": name, "mode": mode, "rep": rep, "error": str(exc)}
                        )
                    progress(f"  {name}: FAILED {exc}")
            try:
                runner.run_clients(rep)
            except RuntimeError as exc:
                progress(f"  clients: FAILED {exc}")
                for name in settings.clients:
                    runner.client_runs.append({"client": name, "rep": rep, "error": str(exc)})

    today = datetime.date.today().isoformat()
    report: dict[str, Any] = {
        "benchmark": "grpc",
        "date": today,
        "elapsed_s": time.monotonic() - started,
        "machine": machine_info(),
        "versions": versions(),
        "settings": dataclasses.asdict(settings),
        "summary": summarize(runner),
        "server_runs": runner.server_runs,
        "server_rss": runner.rss,
        "client_runs": runner.client_runs,
    }
    markdown = render_markdown(report)
    print(markdown)
    if not args.no_write:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        stem = args.out_dir / f"{today}-grpc{'-quick' if settings.quick else ''}"
        stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
        stem.with_suffix(".md").write_text(markdown)
        written = [stem.with_suffix(".json"), stem.with_suffix(".md")]
        try:
            if write_chart(report, stem.with_suffix(".png")):
                written.append(stem.with_suffix(".png"))
        except Exception as exc:  # the chart is optional: never lose the run over it
            progress(f"chart not written: {type(exc).__name__}: {exc}")
        progress(
            "wrote "
            + ", ".join(
                str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p) for p in written
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
