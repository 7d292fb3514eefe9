"""The canonical hello server: HelloService.SayHello on port 50051, with health and reflection.

Run from the repository root: `.venv/bin/python examples/hello/server.py [--port N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import hello_grpc
import hello_pb2

import puregrpc
import puregrpc.health
import puregrpc.reflection


class HelloService(hello_grpc.HelloServiceServicer):
    async def SayHello(
        self,
        request: hello_pb2.HelloRequest,
        context: puregrpc.ServicerContext[hello_pb2.HelloRequest, hello_pb2.HelloResponse],
    ) -> hello_pb2.HelloResponse:
        return hello_pb2.HelloResponse(message=f"Hello, {request.name}")


async def serve(port: int) -> None:
    server = puregrpc.Server()
    hello_grpc.add_HelloServiceServicer_to_server(HelloService(), server)
    puregrpc.health.add_to_server(server)
    puregrpc.reflection.add_to_server(server)
    bound = await server.start(f"[::]:{port}")
    print(f"Server is listening on port :{bound}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=5.0)
    print("Server stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=50051)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
