"""The canonical hello client: calls SayHello and prints `Greeting: Hello, NAME`.

Run from the repository root: `.venv/bin/python examples/hello/client.py [--target HOST:PORT] NAME`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import hello_grpc
import hello_pb2

import puregrpc


async def greet(target: str, name: str) -> int:
    async with puregrpc.Channel(target) as channel:
        stub = hello_grpc.HelloServiceStub(channel)
        try:
            reply = await stub.SayHello(hello_pb2.HelloRequest(name=name), timeout=10)
        except puregrpc.RpcError as error:
            print(f"could not greet: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    print(f"Greeting: {reply.message}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="localhost:50051")
    parser.add_argument("name", nargs="?", default="world")
    args = parser.parse_args()
    sys.exit(asyncio.run(greet(args.target, args.name)))


if __name__ == "__main__":
    main()
