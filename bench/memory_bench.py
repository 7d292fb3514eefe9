"""Server memory per idle HTTP/2 connection and per open gRPC stream.

``.venv/bin/python bench/memory_bench.py [--servers puregrpc,grpc-go] [--no-write]``

For each Bench server (bench/servers/ and the grpc-go one), two fresh server processes:

1. idle connections: VmRSS before, then ``--connections`` (1000) HTTP/2 connections from this
   process (preface, SETTINGS, the server's SETTINGS and PINGs answered; nothing else), a pause
   (2 s), VmRSS again; KiB per connection = delta / connections that are still up.
2. open streams: ``--stream-connections`` (10) connections, a pause, VmRSS; then
   ``--streams-per-connection`` (1000, or fewer when the server advertises a lower
   MAX_CONCURRENT_STREAMS) request HEADERS on ``/bench.Bench/PingPong`` on each, without
   END_STREAM and without messages, a pause, VmRSS; KiB per stream = delta / streams still open
   (neither reset nor ended by the server).

The client is this process (asyncio, puregrpc's sans-IO engine), pinned to CPU 1 and the server
to CPU 0 when ``taskset`` exists. Writes ``bench/results/<date>-memory.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build import go_binaries, python_code
from grpc_bench import (
    GO_SERVER,
    PYTHON_SERVER_COMMANDS,
    RESULTS,
    ServerProcess,
    machine_info,
    table,
    versions,
)

from puregrpc._http2 import (
    ConnectionTerminated,
    DataReceived,
    H2Config,
    H2Connection,
    H2Error,
    RemoteSettingsChanged,
    StreamReset,
)

SERVERS = ("puregrpc", "grpcio-sync", "grpcio-aio", "grpclib", GO_SERVER)
PATH = "/bench.Bench/PingPong"
HANDSHAKE_TIMEOUT = 10.0
CONNECT_PARALLEL = 50


def vm_rss_kib(pid: int) -> int:
    """Current resident set size (VmRSS) of process `pid` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


class Client:
    """One raw HTTP/2 client connection; a task reads the socket and answers the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = H2Connection(H2Config(client_side=True))
        self.settings_seen = asyncio.Event()
        self.open_streams: set[int] = set()
        self.resets: dict[str, int] = {}
        self.ended = 0
        self.first_end = ""
        self.down = False
        self.goaway = False
        self.error = ""
        self.conn.initiate_connection()
        self.flush()
        self.task = asyncio.create_task(self._pump())

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def _pump(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for event in self.conn.receive_data(data):
                    if isinstance(event, RemoteSettingsChanged):
                        self.settings_seen.set()
                    elif isinstance(event, StreamReset):
                        self.open_streams.discard(event.stream_id)
                        code = str(event.error_code)
                        self.resets[code] = self.resets.get(code, 0) + 1
                    elif isinstance(event, ConnectionTerminated):
                        self.goaway = True
                        self.error = self.error or f"GOAWAY {event.error_code!r}"
                    elif isinstance(event, DataReceived) and event.flow_controlled_length:
                        self.conn.acknowledge_received_data(
                            event.stream_id, event.flow_controlled_length
                        )
                    if getattr(event, "end_stream", False):
                        self.open_streams.discard(getattr(event, "stream_id", 0))
                        self.ended += 1
                        fields = dict(getattr(event, "headers", ()))
                        if not self.first_end and "grpc-status" in fields:
                            status, message = fields["grpc-status"], fields.get("grpc-message")
                            self.first_end = f"grpc-status {status} {message or ''}".strip()
                self.flush()
        except (OSError, H2Error) as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"
        finally:
            self.down = True
            self.open_streams.clear()
            self.settings_seen.set()

    def open_streams_now(self, count: int, authority: str) -> None:
        headers = (
            (":method", "POST"),
            (":scheme", "http"),
            (":path", PATH),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        )
        for _ in range(count):
            stream_id = self.conn.get_next_available_stream_id()
            self.conn.send_headers(stream_id, headers)
            self.open_streams.add(stream_id)
        self.flush()

    async def close(self) -> None:
        self.task.cancel()
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def connect_many(port: int, count: int) -> tuple[list[Client], list[str]]:
    """`count` connections whose handshake (the server's SETTINGS) completed; and the errors."""
    clients: list[Client] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(CONNECT_PARALLEL)

    async def one() -> None:
        async with gate:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError as exc:
                errors.append(f"connect: {exc}")
                return
            client = Client(reader, writer)
            clients.append(client)
            try:
                await asyncio.wait_for(client.settings_seen.wait(), HANDSHAKE_TIMEOUT)
            except TimeoutError:
                errors.append("no SETTINGS from the server")

    await asyncio.gather(*(one() for _ in range(count)))
    return clients, errors


async def close_all(clients: Sequence[Client]) -> None:
    await asyncio.gather(*(client.close() for client in clients))


def alive(clients: Sequence[Client]) -> int:
    return sum(1 for client in clients if not client.down and not client.goaway)


async def measure_idle(pid: int, port: int, count: int, pause: float) -> dict[str, Any]:
    await asyncio.sleep(pause)
    before = vm_rss_kib(pid)
    clients, errors = await connect_many(port, count)
    await asyncio.sleep(pause)
    after = vm_rss_kib(pid)
    up = alive(clients)
    errors.extend(client.error for client in clients if client.error)
    await close_all(clients)
    return {
        "rss_before_kib": before,
        "rss_after_kib": after,
        "connections_requested": count,
        "connections_open": up,
        "kib_per_connection": (after - before) / up if up else None,
        "errors": sorted(set(errors)),
    }


async def measure_streams(
    pid: int, port: int, connections: int, per_connection: int, pause: float
) -> dict[str, Any]:
    clients, errors = await connect_many(port, connections)
    await asyncio.sleep(pause)
    before = vm_rss_kib(pid)
    limits: list[int] = []
    for client in clients:
        if client.down:
            continue
        limit = client.conn.max_outbound_streams()
        limits.append(limit)
        client.open_streams_now(min(per_connection, limit), f"127.0.0.1:{port}")
    await asyncio.gather(*(client.writer.drain() for client in clients if not client.down))
    await asyncio.sleep(pause)
    after = vm_rss_kib(pid)
    opened = sum(len(client.open_streams) for client in clients)
    up = alive(clients)
    errors.extend(client.error for client in clients if client.error)
    resets: dict[str, int] = {}
    for client in clients:
        for code, count in client.resets.items():
            resets[code] = resets.get(code, 0) + count
    ended = sum(client.ended for client in clients)
    first_end = next((client.first_end for client in clients if client.first_end), "")
    await close_all(clients)
    return {
        "rss_before_kib": before,
        "rss_after_kib": after,
        "connections": up,
        "advertised_max_concurrent_streams": min(limits) if limits else None,
        "streams_requested": connections * per_connection,
        "streams_open": opened,
        "streams_reset": resets,
        "streams_ended_by_server": ended,
        "first_end_status": first_end,
        "kib_per_stream": (after - before) / opened if opened else None,
        "errors": sorted(set(errors)),
    }


@dataclasses.dataclass
class Setup:
    gen_dir: Path
    go_server: Path | None
    log_dir: Path
    pin: bool


def server_argv(name: str, setup: Setup) -> list[str]:
    if name == GO_SERVER:
        assert setup.go_server is not None
        argv = [str(setup.go_server), "-host", "127.0.0.1", "-port", "0"]
    else:
        argv = [*PYTHON_SERVER_COMMANDS[name], "--port", "0", "--gen", str(setup.gen_dir)]
    return ["taskset", "-c", "0", *argv] if setup.pin else argv


async def measure(phase: str, pid: int, port: int, args: argparse.Namespace) -> dict[str, Any]:
    if phase == "idle":
        return await measure_idle(pid, port, args.connections, args.pause)
    return await measure_streams(
        pid, port, args.stream_connections, args.streams_per_connection, args.pause
    )


def run_server(name: str, setup: Setup, args: argparse.Namespace) -> dict[str, Any]:
    record: dict[str, Any] = {"server": name}
    for phase in ("idle", "streams"):
        server = ServerProcess(name, server_argv(name, setup), setup.log_dir)
        try:
            record[f"{phase}_baseline_rss_kib"] = vm_rss_kib(server.proc.pid)
            record[phase] = asyncio.run(measure(phase, server.proc.pid, server.port, args))
            if not server.alive():
                record[phase]["errors"].append(f"server exited: {server.log_tail()}")
        finally:
            server.stop()
        print(f"  {name} {phase}: {json.dumps(record[phase])}", file=sys.stderr, flush=True)
    return record


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def max_streams(value: int | None) -> str:
    if value is None:
        return "-"
    return "not set" if value >= 2**31 else str(value)


def render_markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    rows = []
    for r in report["results"]:
        idle, streams = r["idle"], r["streams"]
        rows.append(
            [
                r["server"],
                fmt(idle["rss_before_kib"] / 1024),
                fmt(idle["kib_per_connection"], 2),
                f"{idle['connections_open']}/{idle['connections_requested']}",
                fmt(streams["kib_per_stream"], 2),
                f"{streams['streams_open']}/{streams['streams_requested']}",
                max_streams(streams["advertised_max_concurrent_streams"]),
            ]
        )
    machine = report["machine"]
    out = [
        f"# Server memory per connection and per stream, {report['date']}",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cpus']} CPUs; {machine['python']}; "
        f"puregrpc {report['versions'].get('puregrpc_commit', '?')}. "
        f"Server {'pinned to CPU 0, client to CPU 1' if s['pin'] else 'not pinned'}.",
        "",
        f"Idle: {s['connections']} HTTP/2 connections (handshake only). Streams: "
        f"{s['stream_connections']} connections x up to {s['streams_per_connection']} "
        f"`{PATH}` streams, request HEADERS only. VmRSS read {s['pause']} s after each step; "
        "a fresh server process per phase.",
        "",
        *table(
            [
                "server",
                "baseline RSS MiB",
                "KiB / idle conn",
                "conns up",
                "KiB / open stream",
                "streams open",
                "server max streams",
            ],
            rows,
        ),
    ]
    problems = [
        f"* {r['server']} {phase}: {error}"
        for r in report["results"]
        for phase in ("idle", "streams")
        for error in r[phase]["errors"]
    ]
    for r in report["results"]:
        streams = r["streams"]
        if streams["streams_reset"] or streams["streams_ended_by_server"]:
            resets = ", ".join(f"{n} {code}" for code, n in streams["streams_reset"].items())
            problems.append(
                f"* {r['server']} streams: reset by the server: {resets or 'none'}; "
                f"ended by the server: {streams['streams_ended_by_server']} "
                f"(first: {streams['first_end_status'] or '-'})"
            )
    if report["skipped"]:
        problems.extend(f"* skipped {name}: {why}" for name, why in report["skipped"].items())
    if problems:
        out += ["", "Notes:", "", *problems]
    return "\n".join(out) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated")
    parser.add_argument("--connections", type=int, default=1000, help="idle connections")
    parser.add_argument("--stream-connections", type=int, default=10)
    parser.add_argument("--streams-per-connection", type=int, default=1000)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds before reading RSS")
    parser.add_argument("--no-pin", action="store_true", help="no taskset / CPU affinity")
    parser.add_argument("--no-write", action="store_true", help="only print the table")
    args = parser.parse_args(argv)
    names = [name for name in args.servers.split(",") if name]
    unknown = set(names) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    if not (0 < args.connections <= 5000 and 0 < args.stream_connections <= 100):
        parser.error("--connections must be 1-5000 and --stream-connections 1-100")
    if not 0 < args.streams_per_connection <= 10_000 or args.pause < 0:
        parser.error("--streams-per-connection must be 1-10000, --pause >= 0")
    args.server_names = names
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pin = not args.no_pin and shutil.which("taskset") is not None and os.cpu_count() != 1
    if pin:
        os.sched_setaffinity(0, {1})
    skipped: dict[str, str] = {}
    go_server: Path | None = None
    if GO_SERVER in args.server_names:
        try:
            go_server = go_binaries().server
        except Exception as exc:  # no Go toolchain or grpc-go: skip that server only
            skipped[GO_SERVER] = f"cannot build: {exc}"
    names = [name for name in args.server_names if name not in skipped]
    if "grpclib" in names:
        try:
            import grpclib  # noqa: F401
        except ImportError:
            skipped["grpclib"] = "grpclib not installed (the `bench` extra)"
            names.remove("grpclib")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="puregrpc-memory-bench-") as logs:
        setup = Setup(python_code(), go_server, Path(logs), pin)
        for name in names:
            print(f"{name} ...", file=sys.stderr, flush=True)
            try:
                results.append(run_server(name, setup, args))
            except RuntimeError as exc:
                skipped[name] = str(exc)
    date = datetime.date.today().isoformat()
    report = {
        "date": date,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "versions": versions(),
        "settings": {
            "servers": args.server_names,
            "connections": args.connections,
            "stream_connections": args.stream_connections,
            "streams_per_connection": args.streams_per_connection,
            "pause": args.pause,
            "pin": pin,
        },
        "results": results,
        "skipped": skipped,
    }
    markdown = render_markdown(report)
    print(markdown)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{date}-memory.json").write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / f"{date}-memory.md").write_text(markdown)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
