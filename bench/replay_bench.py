"""Server CPU per unary RPC on recorded traffic, replayed in one process.

The live benchmark (grpc_bench.py) counts everything the server process spends, kernel and event
loop waits included, and moves by 10-20% with whatever else the machine runs. This one isolates
the server's own code:

1. **record**: a load generator drives a Bench server of ours (puregrpc, a child process) that
   writes every chunk its first connection receives to a capture file. Loads: ``grpc-go`` (the Go
   load generator on grpc-go: its HPACK encoder indexes each new ``grpc-timeout`` value, so no
   two header blocks are alike), ``raw`` (bench/go/rawload: one pre-encoded block for every
   call) and ``raw-timeout`` (rawload with a different ``grpc-timeout`` literal on each call);
   64 calls in flight on one connection.
2. **replay**: the capture is fed, chunk by chunk as it was received, to fresh server
   connections whose transport drops what they write; the handlers run as in the live server.
   Reports CPU microseconds per RPC (median and min of ``--reps``). With ``--callgrind`` each
   replay also runs under valgrind twice (1 and 3 repetitions); the difference gives
   instructions per RPC, a figure that does not depend on the machine's load.

    .venv/bin/python bench/replay_bench.py                 # all loads, timings only
    (results go to bench/results/<date>-replay.{json,md} unless --no-write)
    .venv/bin/python bench/replay_bench.py --callgrind     # plus instruction counts (~3 min)
    .venv/bin/python bench/replay_bench.py --loads raw --keep /tmp/caps   # keep the capture
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "servers"))

from build import go_binaries, load_generated, python_code

LOADS = ("grpc-go", "raw", "raw-timeout")
RESULTS = Path(__file__).resolve().parent / "results"
_LENGTH = struct.Struct(">I")


def write_capture(path: Path, chunks: Sequence[bytes]) -> None:
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(_LENGTH.pack(len(chunk)))
            out.write(chunk)


def read_capture(path: Path) -> list[bytes]:
    data = path.read_bytes()
    chunks: list[bytes] = []
    pos = 0
    while pos < len(data):
        (size,) = _LENGTH.unpack_from(data, pos)
        chunks.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return chunks


# ---------------------------------------------------------------- the recording server (child)


def serve_and_record(capture: Path, gen: Path) -> None:
    """Run the Bench server; on SIGTERM write what its first connection received."""
    import signal

    import puregrpc_server

    import puregrpc
    from puregrpc._server.connection import ServerConnection
    from puregrpc._transport.connection import GrpcConnection

    chunks: list[bytes] = []
    first: list[object] = []
    receive = ServerConnection.data_received

    def recording(self: GrpcConnection, data: bytes) -> None:
        if not first:
            first.append(self)
        if first[0] is self:
            chunks.append(bytes(data))
        receive(self, data)

    ServerConnection.data_received = recording  # type: ignore[method-assign]

    async def serve() -> None:
        pb2, glue = load_generated("puregrpc", gen)
        server = puregrpc.Server()
        glue.add_BenchServicer_to_server(puregrpc_server.Bench(pb2), server)
        port = await server.start("127.0.0.1:0")
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print(port, flush=True)
        await stop.wait()
        await server.stop()
        write_capture(capture, chunks)

    asyncio.run(serve())


def record(load: str, capture: Path, gen: Path, seconds: float) -> None:
    binaries = go_binaries()
    server = subprocess.Popen(
        [sys.executable, __file__, "--record-server", str(capture), "--gen", str(gen)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        target = f"127.0.0.1:{port}"
        if load == "grpc-go":
            argv = [str(binaries.loadgen), "-mode", "unary", "-connections", "1"]
        else:
            argv = [str(binaries.rawload)]
            if load == "raw-timeout":
                argv.append("-grpc-timeout")
        argv += ["-target", target, "-concurrency", "64", "-warmup", "0s"]
        argv += ["-duration", f"{seconds}s"]
        result = json.loads(subprocess.run(argv, check=True, capture_output=True).stdout)
        if result.get("errors"):
            raise RuntimeError(f"{load}: load generator saw errors: {result.get('first_error')}")
    finally:
        server.terminate()
        server.wait(30)


# ---------------------------------------------------------------- replay


class _DroppingTransport:
    """Stands in for the socket: output is dropped, the peer is a fixed address."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


LAYERS = ("engine", "transport", "transport+protobuf", "server")
"""What answers the replayed requests: the bare HTTP/2 engine (`send_response` on each request's
last DATA), the gRPC transport (a `GrpcConnection` echoing each message, with or without
parsing and building the protobuf messages as the handler does), or the real server. The
differences between them give the cost of each layer."""

_RESPONSE_HEADERS = (
    (":status", "200"),
    ("content-type", "application/grpc"),
    ("grpc-accept-encoding", "identity,deflate,gzip"),
)
_OK_TRAILERS = (("grpc-status", "0"),)


class _EngineOnly:
    """A bare server engine answering each request with `send_response`."""

    def __init__(self) -> None:
        from puregrpc._http2 import H2Config, H2Connection

        self.h2 = H2Connection(H2Config(client_side=False))
        self.h2.initiate_connection()
        self.h2.data_to_send()

    def data_received(self, data: bytes) -> None:
        from puregrpc._http2 import DataReceived

        h2 = self.h2
        for event in h2.receive_data(data):
            if type(event) is DataReceived and event.end_stream:
                h2.acknowledge_received_data(event.stream_id, event.flow_controlled_length)
                h2.send_response(event.stream_id, _RESPONSE_HEADERS, event.data, _OK_TRAILERS)
        h2.data_to_send()

    def connection_lost(self, exc: Exception | None) -> None:
        pass


def _transport_only(pb2: Any | None) -> Any:
    """A `GrpcConnection` answering each unary request itself, after the batch."""
    from puregrpc._http2 import H2Config
    from puregrpc._transport.connection import GrpcConnection
    from puregrpc._transport.stream import GrpcStream
    from puregrpc._wire.framing import frame_message

    class TransportOnly(GrpcConnection):
        def __init__(self) -> None:
            super().__init__(H2Config(client_side=False), 4 << 20)
            self.pending: list[GrpcStream] = []

        def on_request(self, stream: GrpcStream, end_stream: bool) -> None:
            self.pending.append(stream)

        def after_events(self) -> None:
            pending, self.pending = self.pending, []
            for stream in pending:
                message = stream.take_sole_message()
                if message is None:
                    continue
                payload = message[1]
                if pb2 is not None:
                    payload = pb2.Payload(body=pb2.Payload.FromString(payload).body)
                    payload = payload.SerializeToString()
                stream.write_ok(frame_message(payload))

    conn = TransportOnly()
    conn.connection_made(_DroppingTransport())  # type: ignore[arg-type]
    return conn


def replay(capture: Path, gen: Path, reps: int, layer: str = "server") -> dict[str, Any]:
    """CPU microseconds per RPC for each of `reps` replays of `capture`, answered by `layer`."""
    import puregrpc_server

    import puregrpc
    from puregrpc._server.connection import ServerConnection

    chunks = read_capture(capture)

    async def main() -> dict[str, Any]:
        pb2, glue = load_generated("puregrpc", gen)
        server = puregrpc.Server()
        glue.add_BenchServicer_to_server(puregrpc_server.Bench(pb2), server)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[dict[str, Any]] = loop.create_future()

        def connect() -> Any:
            if layer == "engine":
                return _EngineOnly()
            if layer.startswith("transport"):
                return _transport_only(pb2 if layer.endswith("protobuf") else None)
            conn = ServerConnection(server, server._h2_config)
            conn.connection_made(_DroppingTransport())  # type: ignore[arg-type]
            return conn

        def once() -> tuple[float, int]:
            conn = connect()
            start = time.process_time()
            for chunk in chunks:
                conn.data_received(chunk)
            spent = time.process_time() - start
            rpcs = (conn.h2.highest_inbound_stream_id + 1) // 2
            conn.connection_lost(None)
            return spent, rpcs

        def measure() -> None:
            # From a loop callback, as the real data_received runs: calls may run in place.
            per_rpc: list[float] = []
            rpcs = 0
            try:
                for _ in range(reps):
                    spent, rpcs = once()
                    per_rpc.append(spent / rpcs * 1e6)
            except Exception as exc:
                done.set_exception(exc)
            else:
                done.set_result({"rpcs": rpcs, "chunks": len(chunks), "us_per_rpc": per_rpc})

        loop.call_soon(measure)
        return await done

    return asyncio.run(main())


CALLGRIND_CHUNKS = 100
"""Chunks of a capture replayed under callgrind (some 3,000-6,000 RPCs; it runs ~50x slower)."""


def instructions_per_rpc(capture: Path, gen: Path, layer: str = "server") -> float | None:
    """(Ir of 3 replays - Ir of 1) / (2 * RPCs) of the capture's first CALLGRIND_CHUNKS
    chunks answered by `layer`, under callgrind; None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    trimmed = capture.with_suffix(".head")
    write_capture(trimmed, read_capture(capture)[:CALLGRIND_CHUNKS])
    capture = trimmed
    counts: list[int] = []
    rpcs = 0
    for reps in (1, 3):
        run = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--replay-only",
                str(capture),
                "--gen",
                str(gen),
                "--reps",
                str(reps),
                "--layer",
                layer,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        collected = [line for line in run.stderr.splitlines() if "Collected" in line]
        counts.append(int(collected[-1].split()[-1]))
        rpcs = json.loads(run.stdout)["rpcs"]
    return (counts[1] - counts[0]) / (2 * rpcs)


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", default=",".join(LOADS), help=f"subset of {','.join(LOADS)}")
    parser.add_argument("--seconds", type=float, default=0.5, help="recording length per load")
    parser.add_argument("--reps", type=int, default=7, help="replays per load")
    parser.add_argument("--callgrind", action="store_true", help="also count instructions")
    parser.add_argument("--keep", type=Path, help="keep the captures in this directory")
    parser.add_argument("--no-write", action="store_true", help="write no results files")
    parser.add_argument("--gen", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--record-server", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--replay-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--layer", choices=LAYERS, default="server", help=argparse.SUPPRESS)
    parser.add_argument(
        "--layers",
        action="store_true",
        help="with --callgrind: also instructions per RPC of each layer on the raw load",
    )
    args = parser.parse_args(argv)
    gen = args.gen or python_code()
    if args.record_server:
        serve_and_record(args.record_server, gen)
        return 0
    if args.replay_only:
        print(json.dumps(replay(args.replay_only, gen, args.reps, args.layer)))
        return 0
    loads = [load for load in args.loads.split(",") if load]
    unknown = set(loads) - set(LOADS)
    if unknown:
        parser.error(f"unknown loads: {', '.join(sorted(unknown))}")
    rows: list[dict[str, Any]] = []
    layers: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="puregrpc-replay-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for load in loads:
            capture = folder / f"{load}.capture"
            record(load, capture, gen, args.seconds)
            result = replay(capture, gen, args.reps)
            times = result["us_per_rpc"]
            instructions = instructions_per_rpc(capture, gen) if args.callgrind else None
            rows.append(
                {
                    "load": load,
                    "rpcs": result["rpcs"],
                    "chunks": result["chunks"],
                    "us_per_rpc": {"median": statistics.median(times), "min": min(times)},
                    "instructions_per_rpc": instructions,
                }
            )
            print(render([rows[-1]], header=len(rows) == 1), end="", flush=True)
            if load == "raw" and args.callgrind and args.layers:
                layers = {layer: instructions_per_rpc(capture, gen, layer) for layer in LAYERS}
                print(render_layers(layers), end="", flush=True)
    if not args.no_write:
        date = datetime.date.today().isoformat()
        report: dict[str, Any] = {"date": date, "python": platform.python_version(), "loads": rows}
        if layers:
            report["layers"] = layers
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{date}-replay.json").write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / f"{date}-replay.md").write_text(
            f"# Replay benchmark, {date}\n\n"
            "Server CPU per unary RPC on recorded traffic replayed in-process "
            "(`bench/replay_bench.py`; 64 calls in flight when recorded, CPython "
            f"{report['python']}). Instructions from callgrind do not depend on the "
            "machine's load; microseconds do.\n\n" + render(rows) + render_layers(layers)
        )
    return 0


def render_layers(layers: dict[str, float | None]) -> str:
    """The raw load's instructions per RPC by layer, each with what it adds to the one before."""
    if not layers or any(value is None for value in layers.values()):
        return ""
    lines = ["", "Raw load, instructions per RPC by what answers the requests:", ""]
    lines += ["| answered by | instructions/RPC | added by this layer |", "|---|---|---|"]
    previous = 0.0
    for layer in LAYERS:
        value = layers[layer] or 0.0
        lines.append(f"| {layer} | {value:,.0f} | {value - previous:,.0f} |")
        previous = value
    return "\n".join(lines) + "\n"


def render(rows: Sequence[dict[str, Any]], header: bool = True) -> str:
    lines = []
    if header:
        lines.append("| load | RPCs | chunks | us/RPC median (min) | instructions/RPC |")
        lines.append("|---|---|---|---|---|")
    for row in rows:
        counted = row["instructions_per_rpc"]
        lines.append(
            f"| {row['load']} | {row['rpcs']:,} | {row['chunks']:,} | "
            f"{row['us_per_rpc']['median']:.2f} ({row['us_per_rpc']['min']:.2f}) | "
            f"{'-' if counted is None else f'{counted:,.0f}'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
