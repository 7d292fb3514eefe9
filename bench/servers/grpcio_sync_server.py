"""The Bench service on grpcio's thread-pool server (10 worker threads), for bench/grpc_bench.py.

Each call holds a worker thread for its whole life, so no more than 10 calls run at once (the
rest queue); a streaming load with more than 10 streams in flight stalls by design.

``.venv/bin/python bench/servers/grpcio_sync_server.py [--port N]`` prints the port.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchlib
from build import load_generated

WORKERS = 10


class Bench:
    """The servicer; the generated `add_BenchServicer_to_server` takes any object with these."""

    def __init__(self, pb2: Any) -> None:
        self.payload = pb2.Payload
        self.ack = pb2.Ack

    def Unary(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self.payload(body=request.body)

    def Upload(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self.ack(size=len(request.body))

    def ServerStream(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        problem = benchlib.check_stream_request(request.count, request.size)
        if problem:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        reply = self.payload(body=bytes(request.size))
        for _ in range(request.count):
            yield reply

    def ClientStream(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        body = b""
        for request in request_iterator:
            body = request.body
        return self.payload(body=body)

    def PingPong(
        self, request_iterator: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        for request in request_iterator:
            yield self.payload(body=request.body)


def main() -> None:
    args = benchlib.server_arg_parser(__doc__).parse_args()
    pb2, glue = load_generated("grpcio", args.gen)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        server = grpc.server(pool)
        glue.add_BenchServicer_to_server(Bench(pb2), server)
        bound = server.add_insecure_port(f"{args.host}:{args.port}")
        server.start()
        benchlib.announce_port(bound)
        while not stop.wait(0.2):
            pass
        server.stop(grace=1.0).wait()


if __name__ == "__main__":
    main()
