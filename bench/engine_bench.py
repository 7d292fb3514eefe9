#!/usr/bin/env python3
"""CPU per unary gRPC exchange: puregrpc's HTTP/2 engine against the `h2` library.

Each side of an exchange is measured in isolation. The peer's wire bytes are recorded first,
for thousands of streams on one long-lived connection, by a separate client/server pair (our
engine by default, `--peer h2` for h2's); then a fresh connection of the engine under test
replays them while only its own work is timed:

* server side: `receive_data(HEADERS + DATA(END_STREAM))`, acknowledge the DATA, send response
  HEADERS, DATA and trailers HEADERS(END_STREAM), `data_to_send()`;
* client side: send request HEADERS and DATA(END_STREAM), `data_to_send()`,
  `receive_data(HEADERS + DATA + trailers)`, acknowledge the DATA.

Two variants: the same request headers on every call, and a per-call `grpc-timeout` whose value
changes on every call. The process pins itself to one CPU (like `taskset -c 0`) unless
`--no-pin`. See bench/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events

from puregrpc._http2 import (
    DataReceived,
    H2Config,
    H2Connection,
    RequestReceived,
    ResponseReceived,
    TrailersReceived,
)

HeaderList = tuple[tuple[str, str], ...]

PSEUDO: HeaderList = (
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/hello.HelloService/SayHello"),
    (":authority", "localhost:50051"),
)
REGULAR: HeaderList = (
    ("content-type", "application/grpc"),
    ("te", "trailers"),
    ("user-agent", "grpc-python-puregrpc/0.1"),
    ("grpc-accept-encoding", "identity,deflate,gzip"),
)
RESPONSE: HeaderList = ((":status", "200"), ("content-type", "application/grpc"))
TRAILERS: HeaderList = (("grpc-status", "0"), ("grpc-message", ""))
# gRPC messages: a 5-byte prefix (compressed flag, big-endian length) and a small protobuf.
REQUEST_BODY = b"\x00\x00\x00\x00\x07\n\x05world"
REPLY_BODY = b"\x00\x00\x00\x00\x0d\n\x0bHello world"

VARIANTS = ("plain", "grpc-timeout")
SIDES = ("server", "client")
# Engines under test: (label, h2 header_encoding or None for ours).
ENGINES = ("puregrpc", "h2 utf-8", "h2 bytes")
RESULTS_DIR = Path(__file__).resolve().parent / "results"

_FRAME_HEADER = struct.Struct(">HBBBL")
_RST_STREAM = 0x3
_GOAWAY = 0x7


def request_headers(call: int, variant: str) -> HeaderList:
    """The request headers of call number `call`: a new tuple per call, as a stub builds it."""
    if variant == "grpc-timeout":
        return (*PSEUDO, ("grpc-timeout", f"{call % 100000 + 1}u"), *REGULAR)
    return PSEUDO + REGULAR


# --------------------------------------------------------------------------- traffic


@dataclasses.dataclass(frozen=True, slots=True)
class Traffic:
    """Everything both sides of a recorded connection wrote, split per exchange."""

    client_handshake: list[bytes]  # preface, SETTINGS, WINDOW_UPDATE, SETTINGS ACK, in order
    server_handshake: list[bytes]
    requests: list[bytes]  # what the client wrote for exchange i (with any WINDOW_UPDATE)
    responses: list[bytes]  # what the server wrote for exchange i
    headers: list[HeaderList]  # the request headers of exchange i


def _ours_pair() -> tuple[H2Connection, H2Connection]:
    return H2Connection(H2Config(client_side=True)), H2Connection(H2Config(client_side=False))


def _h2_conn(client_side: bool, encoding: str | None) -> h2.connection.H2Connection:
    config = h2.config.H2Configuration(client_side=client_side, header_encoding=encoding)
    return h2.connection.H2Connection(config=config)


def record(peer: str, exchanges: int, variant: str) -> Traffic:
    """Run a whole client/server pair of `peer` and keep every byte each side wrote."""
    headers = [request_headers(call, variant) for call in range(exchanges)]
    client: Any
    server: Any
    if peer == "puregrpc":
        client, server = _ours_pair()
    else:
        client, server = _h2_conn(True, "utf-8"), _h2_conn(False, "utf-8")
    client.initiate_connection()
    server.initiate_connection()
    client_hs: list[bytes] = []
    server_hs: list[bytes] = []
    for _ in range(10):
        out_c = client.data_to_send()
        if out_c:
            client_hs.append(out_c)
            server.receive_data(out_c)
        out_s = server.data_to_send()
        if out_s:
            server_hs.append(out_s)
            client.receive_data(out_s)
        if not out_c and not out_s:
            break
    requests: list[bytes] = []
    responses: list[bytes] = []
    ours = peer == "puregrpc"
    for call in range(exchanges):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, headers[call])
        client.send_data(sid, REQUEST_BODY, end_stream=True)
        requests.append(client.data_to_send())
        for event in server.receive_data(requests[-1]):
            if isinstance(event, DataReceived):
                server.acknowledge_received_data(sid, event.flow_controlled_length)
            elif isinstance(event, h2.events.DataReceived):
                server.acknowledge_received_data(event.flow_controlled_length, sid)
        server.send_headers(sid, RESPONSE)
        server.send_data(sid, REPLY_BODY)
        server.send_headers(sid, TRAILERS, end_stream=True)
        responses.append(server.data_to_send())
        for event in client.receive_data(responses[-1]):
            if ours and isinstance(event, DataReceived):
                client.acknowledge_received_data(sid, event.flow_controlled_length)
            elif isinstance(event, h2.events.DataReceived):
                client.acknowledge_received_data(event.flow_controlled_length, sid)
    return Traffic(client_hs, server_hs, requests, responses, headers)


# --------------------------------------------------------------------------- the timed loops
# One function per engine and side, written the way an application drives the engine, with
# the bound methods hoisted out of the loop; `out` collects the bytes written (warm-up only).


def ours_server(
    conn: H2Connection, traffic: Traffic, lo: int, hi: int, out: list[bytes] | None
) -> None:
    receive = conn.receive_data
    ack = conn.acknowledge_received_data
    send_headers = conn.send_headers
    send_data = conn.send_data
    data_to_send = conn.data_to_send
    requests = traffic.requests
    keep = out.append if out is not None else None
    for i in range(lo, hi):
        sid = 0
        for event in receive(requests[i]):
            if type(event) is RequestReceived:
                sid = event.stream_id
            elif type(event) is DataReceived:
                ack(event.stream_id, event.flow_controlled_length)
        send_headers(sid, RESPONSE)
        send_data(sid, REPLY_BODY)
        send_headers(sid, TRAILERS, end_stream=True)
        sent = data_to_send()
        if keep is not None:
            keep(sent)


def ours_client(
    conn: H2Connection, traffic: Traffic, lo: int, hi: int, out: list[bytes] | None
) -> None:
    receive = conn.receive_data
    ack = conn.acknowledge_received_data
    send_headers = conn.send_headers
    send_data = conn.send_data
    data_to_send = conn.data_to_send
    next_id = conn.get_next_available_stream_id
    responses = traffic.responses
    headers = traffic.headers
    keep = out.append if out is not None else None
    for i in range(lo, hi):
        sid = next_id()
        send_headers(sid, headers[i])
        send_data(sid, REQUEST_BODY, end_stream=True)
        sent = data_to_send()
        for event in receive(responses[i]):
            if type(event) is DataReceived:
                ack(event.stream_id, event.flow_controlled_length)
        if keep is not None:
            keep(sent)


def h2_server(
    conn: h2.connection.H2Connection, traffic: Traffic, lo: int, hi: int, out: list[bytes] | None
) -> None:
    receive = conn.receive_data
    ack = conn.acknowledge_received_data
    send_headers = conn.send_headers
    send_data = conn.send_data
    data_to_send = conn.data_to_send
    requests = traffic.requests
    request_received = h2.events.RequestReceived
    data_received = h2.events.DataReceived
    keep = out.append if out is not None else None
    for i in range(lo, hi):
        sid = 0
        for event in receive(requests[i]):
            if type(event) is request_received:
                sid = event.stream_id
            elif type(event) is data_received:
                ack(event.flow_controlled_length, event.stream_id)
        send_headers(sid, RESPONSE)
        send_data(sid, REPLY_BODY)
        send_headers(sid, TRAILERS, end_stream=True)
        sent = data_to_send()
        if keep is not None:
            keep(sent)


def h2_client(
    conn: h2.connection.H2Connection, traffic: Traffic, lo: int, hi: int, out: list[bytes] | None
) -> None:
    receive = conn.receive_data
    ack = conn.acknowledge_received_data
    send_headers = conn.send_headers
    send_data = conn.send_data
    data_to_send = conn.data_to_send
    next_id = conn.get_next_available_stream_id
    responses = traffic.responses
    headers = traffic.headers
    data_received = h2.events.DataReceived
    keep = out.append if out is not None else None
    for i in range(lo, hi):
        sid = next_id()
        send_headers(sid, headers[i])
        send_data(sid, REQUEST_BODY, end_stream=True)
        sent = data_to_send()
        for event in receive(responses[i]):
            if type(event) is data_received:
                ack(event.flow_controlled_length, event.stream_id)
        if keep is not None:
            keep(sent)


# --------------------------------------------------------------------------- set-up and checks

Loop = Callable[[Any, Traffic, int, int, Any], None]


def new_connection(engine: str, side: str, traffic: Traffic) -> tuple[Any, Loop]:
    """A connection of `engine` playing `side`, past the handshake, and its timed loop."""
    conn: Any
    if engine == "puregrpc":
        conn = H2Connection(H2Config(client_side=side == "client"))
        loop: Loop = ours_server if side == "server" else ours_client
    else:
        encoding = "utf-8" if engine == "h2 utf-8" else None
        conn = _h2_conn(side == "client", encoding)
        loop = h2_server if side == "server" else h2_client
    conn.initiate_connection()
    for chunk in traffic.client_handshake if side == "server" else traffic.server_handshake:
        conn.receive_data(chunk)
    conn.data_to_send()
    return conn, loop


def check_output(engine: str, side: str, written: Sequence[bytes]) -> None:
    """The side under test never reset a stream nor closed the connection."""
    for chunk in written:
        pos = 0
        while pos + 9 <= len(chunk):
            hi, lo, ftype, _flags, sid = _FRAME_HEADER.unpack_from(chunk, pos)
            if ftype in (_RST_STREAM, _GOAWAY):
                raise AssertionError(f"{engine} {side} wrote frame type {ftype} on stream {sid}")
            pos += 9 + ((hi << 8) | lo)


def check_state(engine: str, side: str, conn: Any) -> None:
    if engine == "puregrpc":
        ok = not conn.closed and conn.open_streams == 0
    else:
        ok = conn.open_inbound_streams == 0 and conn.open_outbound_streams == 0
    if not ok:
        raise AssertionError(f"{engine} {side}: streams left open or connection closed")


def verify(engine: str, side: str, traffic: Traffic, count: int = 20) -> None:
    """Replay the first exchanges and look at every event: the replay must be a real exchange."""
    conn, _ = new_connection(engine, side, traffic)
    bytes_mode = engine == "h2 bytes"

    def text(headers: Any) -> HeaderList:
        if bytes_mode:
            return tuple((n.decode(), v.decode()) for n, v in headers)
        return tuple((n, v) for n, v in headers)

    for i in range(count):
        if side == "server":
            events = conn.receive_data(traffic.requests[i])
            names = [type(e).__name__ for e in events]
            request = next(e for e in events if type(e).__name__ == "RequestReceived")
            body = b"".join(e.data for e in events if type(e).__name__ == "DataReceived")
            assert text(request.headers) == traffic.headers[i], (engine, side, i)
            assert body == REQUEST_BODY, (engine, side, i, names)
            sid = request.stream_id
            for e in events:
                if type(e).__name__ == "DataReceived":
                    if engine == "puregrpc":
                        conn.acknowledge_received_data(sid, e.flow_controlled_length)
                    else:
                        conn.acknowledge_received_data(e.flow_controlled_length, sid)
            conn.send_headers(sid, RESPONSE)
            conn.send_data(sid, REPLY_BODY)
            conn.send_headers(sid, TRAILERS, end_stream=True)
            check_output(engine, side, [conn.data_to_send()])
        else:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, traffic.headers[i])
            conn.send_data(sid, REQUEST_BODY, end_stream=True)
            check_output(engine, side, [conn.data_to_send()])
            events = conn.receive_data(traffic.responses[i])
            names = [type(e).__name__ for e in events]
            if engine == "puregrpc":
                assert [type(e) for e in events] == [
                    ResponseReceived,
                    DataReceived,
                    TrailersReceived,
                ], names
            response = next(e for e in events if type(e).__name__ == "ResponseReceived")
            trailers = next(e for e in events if type(e).__name__ == "TrailersReceived")
            body = b"".join(e.data for e in events if type(e).__name__ == "DataReceived")
            assert text(response.headers) == RESPONSE, (engine, side, i)
            assert text(trailers.headers) == TRAILERS, (engine, side, i)
            assert body == REPLY_BODY, (engine, side, i)
    check_state(engine, side, conn)


# --------------------------------------------------------------------------- measuring


@dataclasses.dataclass(slots=True)
class Samples:
    """us per exchange of each repetition (CPU and wall clock), and of every batch."""

    cpu: list[float] = dataclasses.field(default_factory=list)
    wall: list[float] = dataclasses.field(default_factory=list)
    batches_cpu: list[float] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {
            "cpu_us_median": statistics.median(self.cpu),
            "cpu_us_min": min(self.cpu),
            "cpu_us_max": max(self.cpu),
            "wall_us_median": statistics.median(self.wall),
            "batch_cpu_us_min": min(self.batches_cpu),
            "batch_cpu_us_max": max(self.batches_cpu),
        }


def repetition(
    engine: str, side: str, traffic: Traffic, warmup: int, batch: int, samples: Samples
) -> None:
    """One fresh connection: `warmup` exchanges untimed (output checked), then timed batches."""
    conn, loop = new_connection(engine, side, traffic)
    written: list[bytes] = []
    loop(conn, traffic, 0, warmup, written)
    check_output(engine, side, written)
    del written
    total = len(traffic.requests)
    cpu = wall = 0.0
    gc.collect()
    for lo in range(warmup, total, batch):
        hi = min(lo + batch, total)
        c0 = time.process_time()
        w0 = time.perf_counter()
        loop(conn, traffic, lo, hi, None)
        w1 = time.perf_counter()
        c1 = time.process_time()
        cpu += c1 - c0
        wall += w1 - w0
        samples.batches_cpu.append((c1 - c0) * 1e6 / (hi - lo))
    check_state(engine, side, conn)
    timed = total - warmup
    samples.cpu.append(cpu * 1e6 / timed)
    samples.wall.append(wall * 1e6 / timed)


def pin_cpu() -> int | None:
    """Pin this process to one CPU (as `taskset -c N` would); the CPU, or None if not possible."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = os.sched_getaffinity(0)
    cpu = min(cpus)
    if cpus != {cpu}:
        os.sched_setaffinity(0, {cpu})
    return cpu


def machine(pinned: int | None, peer: str) -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = dirty = None
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        dirty = bool(status.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "cpu_model": model,
        "cpus_online": os.cpu_count(),
        "pinned_cpu": pinned,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "h2": metadata.version("h2"),
        "hpack": metadata.version("hpack"),
        "git_commit": commit,
        "git_src_dirty": dirty,
        "peer_traffic_from": peer,
    }


def fmt(summary: dict[str, float]) -> str:
    return (
        f"{summary['cpu_us_median']:.2f} ({summary['cpu_us_min']:.2f}-{summary['cpu_us_max']:.2f})"
    )


def table(results: dict[str, Any]) -> str:
    """The Markdown table of the results."""
    lines = [
        "| variant | side | puregrpc us | h2 utf-8 us | h2 bytes us | x vs h2 utf-8 |"
        " x vs h2 bytes |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        for side in SIDES:
            row = results[variant][side]
            ours = row["puregrpc"]["cpu_us_median"]
            ratio_utf8 = row["h2 utf-8"]["cpu_us_median"] / ours
            ratio_bytes = row["h2 bytes"]["cpu_us_median"] / ours
            lines.append(
                f"| {variant} | {side} | {fmt(row['puregrpc'])} | {fmt(row['h2 utf-8'])} | "
                f"{fmt(row['h2 bytes'])} | {ratio_utf8:.1f}x | {ratio_bytes:.1f}x |"
            )
    return "\n".join(lines)


def spin(side: str, variant: str, seconds: float, exchanges: int) -> int:
    """Replay one side of our engine over and over (fresh connections) for `seconds`."""
    traffic = record("puregrpc", exchanges, variant)
    verify("puregrpc", side, traffic)
    deadline = time.perf_counter() + seconds
    done = 0
    while time.perf_counter() < deadline:
        conn, loop = new_connection("puregrpc", side, traffic)
        loop(conn, traffic, 0, exchanges, None)
        done += exchanges
    print(f"{done} exchanges of the {side} side ({variant})", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough numbers")
    parser.add_argument("--exchanges", type=int, help="streams per connection (default 4000)")
    parser.add_argument("--warmup", type=int, help="untimed exchanges first (default 400)")
    parser.add_argument("--batch", type=int, help="exchanges per timed batch (default 400)")
    parser.add_argument("--reps", type=int, help="fresh connections per measurement (default 7)")
    parser.add_argument(
        "--peer",
        choices=("puregrpc", "h2"),
        default="puregrpc",
        help="which engine pair records the peer's bytes (default puregrpc)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    parser.add_argument("--no-write", action="store_true", help="print only, write no files")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--spin",
        metavar="SIDE:VARIANT:SECONDS",
        help="only run puregrpc's SIDE for SECONDS, for a profiler: "
        "py-spy record -- python bench/engine_bench.py --spin server:plain:10",
    )
    args = parser.parse_args(argv)
    if args.spin:
        side, variant, seconds = args.spin.split(":")
        if side not in SIDES or variant not in VARIANTS:
            parser.error(f"--spin wants one of {SIDES}, one of {VARIANTS} and seconds")
        return spin(side, variant, float(seconds), args.exchanges or 20000)

    exchanges = args.exchanges or (1200 if args.quick else 4000)
    warmup = args.warmup if args.warmup is not None else (200 if args.quick else 400)
    batch = args.batch or (250 if args.quick else 400)
    reps = args.reps or (3 if args.quick else 7)
    if not 0 < warmup < exchanges:
        parser.error("need 0 < warmup < exchanges")
    pinned = None if args.no_pin else pin_cpu()
    started = time.perf_counter()

    results: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    for variant in VARIANTS:
        traffic = record(args.peer, exchanges, variant)
        results[variant] = {}
        raw[variant] = {}
        for side in SIDES:
            for engine in ENGINES:
                verify(engine, side, traffic)
            samples = {engine: Samples() for engine in ENGINES}
            # Interleave the engines repetition by repetition, so drift hits them alike.
            for _ in range(reps):
                for engine in ENGINES:
                    repetition(engine, side, traffic, warmup, batch, samples[engine])
            results[variant][side] = {e: s.summary() for e, s in samples.items()}
            raw[variant][side] = {e: dataclasses.asdict(s) for e, s in samples.items()}
            ours = results[variant][side]["puregrpc"]["cpu_us_median"]
            for engine in ENGINES[1:]:
                theirs = results[variant][side][engine]["cpu_us_median"]
                results[variant][side][engine]["ratio_to_puregrpc"] = theirs / ours
            print(f"  measured {variant:>12} {side}: puregrpc {ours:.2f} us", file=sys.stderr)
        del traffic
    elapsed = time.perf_counter() - started

    text = table(results)
    today = datetime.date.today().isoformat()
    info = machine(pinned, args.peer)
    setup = {
        "exchanges_per_connection": exchanges,
        "warmup_exchanges": warmup,
        "batch": batch,
        "repetitions": reps,
        "timer": "time.process_time (CPU), time.perf_counter (wall)",
        "elapsed_s": round(elapsed, 1),
        "quick": args.quick,
    }
    print(text)
    print(
        f"\nus of CPU per exchange, median of {reps} connections (min-max); "
        f"{exchanges - warmup} timed exchanges each; {elapsed:.0f} s in all"
    )
    if not args.no_write:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        suffix = "-quick" if args.quick else ""
        json_path = args.out_dir / f"{today}-engine{suffix}.json"
        md_path = args.out_dir / f"{today}-engine{suffix}.md"
        document = {"date": today, "machine": info, "setup": setup, "results": results}
        document["samples"] = raw
        json_path.write_text(json.dumps(document, indent=2) + "\n")
        md_path.write_text(
            f"# Engine benchmark, {today}\n\n"
            "CPU per unary gRPC exchange for one side of the connection, in microseconds: "
            f"median of {reps} fresh connections (min-max), {exchanges - warmup} timed "
            f"exchanges each after {warmup} untimed. `x vs` is h2's median over ours.\n\n"
            f"{text}\n\n"
            f"* CPU: {info['cpu_model']}, pinned to CPU {info['pinned_cpu']}\n"
            f"* Python {info['python']} ({info['platform']})\n"
            f"* h2 {info['h2']}, hpack {info['hpack']}\n"
            f"* git {info['git_commit']} (src modified: {info['git_src_dirty']})\n"
            f"* peer bytes recorded by a {args.peer} pair; {elapsed:.0f} s in all\n"
            "* Produced by `bench/engine_bench.py`; see bench/README.md.\n"
        )
        print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
