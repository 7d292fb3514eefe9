"""The Bench service on grpcio's asyncio API (``grpc.aio``), for bench/grpc_bench.py.

``.venv/bin/python bench/servers/grpcio_aio_server.py [--port N]`` prints the port.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchlib
from build import load_generated

Context = grpc.aio.ServicerContext[Any, Any]


class Bench:
    """The servicer; the generated `add_BenchServicer_to_server` takes any object with these."""

    def __init__(self, pb2: Any) -> None:
        self.payload = pb2.Payload
        self.ack = pb2.Ack

    async def Unary(self, request: Any, context: Context) -> Any:
        return self.payload(body=request.body)

    async def Upload(self, request: Any, context: Context) -> Any:
        return self.ack(size=len(request.body))

    async def ServerStream(self, request: Any, context: Context) -> AsyncIterator[Any]:
        problem = benchlib.check_stream_request(request.count, request.size)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        reply = self.payload(body=bytes(request.size))
        for _ in range(request.count):
            yield reply

    async def ClientStream(self, request_iterator: AsyncIterator[Any], context: Context) -> Any:
        body = b""
        async for request in request_iterator:
            body = request.body
        return self.payload(body=body)

    async def PingPong(
        self, request_iterator: AsyncIterator[Any], context: Context
    ) -> AsyncIterator[Any]:
        async for request in request_iterator:
            yield self.payload(body=request.body)


async def serve(host: str, port: int, gen: Path | None) -> None:
    pb2, glue = load_generated("grpcio", gen)
    server = grpc.aio.server()
    glue.add_BenchServicer_to_server(Bench(pb2), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    benchlib.announce_port(bound)
    await stop.wait()
    await server.stop(grace=1.0)


def main() -> None:
    args = benchlib.server_arg_parser(__doc__).parse_args()
    asyncio.run(serve(args.host, args.port, args.gen))


if __name__ == "__main__":
    main()
