"""Unary calls with grpclib against a Bench server. Prints one JSON line (benchlib.ClientResult).

``.venv/bin/python bench/clients/grpclib_client.py --target 127.0.0.1:PORT [--calls N]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import grpclib.client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchlib
from build import load_generated


async def run(args: argparse.Namespace) -> benchlib.ClientResult:
    pb2, glue = load_generated("grpclib", args.gen)
    request = pb2.Payload(body=bytes(args.size))
    host, _, port = str(args.target).rpartition(":")
    channel = grpclib.client.Channel(host, int(port))
    try:
        stub = glue.BenchStub(channel)

        async def call() -> object:
            return await stub.Unary(request, timeout=10.0)

        return await benchlib.run_unary_load("grpclib", call, args)
    finally:
        channel.close()


def main() -> int:
    args = benchlib.client_arg_parser(__doc__).parse_args()
    return benchlib.print_result(asyncio.run(run(args)))


if __name__ == "__main__":
    sys.exit(main())
