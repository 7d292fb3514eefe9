"""The Bench service on grpclib, for bench/grpc_bench.py.

``.venv/bin/python bench/servers/grpclib_server.py [--port N]`` prints the port.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import grpclib.const
import grpclib.server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchlib
from build import load_generated

# grpclib.server.Stream[Any, Any]; Any so that mypy passes without the `bench` extra installed
Stream = Any


def make_service(pb2: Any, glue: Any) -> Any:
    """An instance of the generated ``BenchBase`` (known only at run time) with our methods."""
    payload = pb2.Payload
    ack = pb2.Ack

    class Bench(glue.BenchBase):  # type: ignore[misc]
        async def Unary(self, stream: Stream) -> None:
            request = await stream.recv_message()
            assert request is not None
            await stream.send_message(payload(body=request.body))

        async def Upload(self, stream: Stream) -> None:
            request = await stream.recv_message()
            assert request is not None
            await stream.send_message(ack(size=len(request.body)))

        async def ServerStream(self, stream: Stream) -> None:
            request = await stream.recv_message()
            assert request is not None
            problem = benchlib.check_stream_request(request.count, request.size)
            if problem:
                raise grpclib.GRPCError(grpclib.const.Status.INVALID_ARGUMENT, problem)
            reply = payload(body=bytes(request.size))
            for _ in range(request.count):
                await stream.send_message(reply)

        async def ClientStream(self, stream: Stream) -> None:
            body = b""
            async for request in stream:
                body = request.body
            await stream.send_message(payload(body=body))

        async def PingPong(self, stream: Stream) -> None:
            async for request in stream:
                await stream.send_message(payload(body=request.body))

    return Bench()


async def serve(host: str, port: int, gen: Path | None) -> None:
    pb2, glue = load_generated("grpclib", gen)
    server = grpclib.server.Server([make_service(pb2, glue)])
    # Bound here so that port 0 works: grpclib does not say which port it bound. The protocol
    # must be IPPROTO_TCP, as create_server's own sockets have it: asyncio and grpclib set
    # TCP_NODELAY only on sockets whose proto says TCP (with 0, every call waits ~40 ms).
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    await server.start(sock=sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    benchlib.announce_port(sock.getsockname()[1])
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    args = benchlib.server_arg_parser(__doc__).parse_args()
    asyncio.run(serve(args.host, args.port, args.gen))


if __name__ == "__main__":
    main()
