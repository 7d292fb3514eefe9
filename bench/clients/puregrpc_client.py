"""Unary calls with puregrpc against a Bench server (bench/grpc_bench.py runs it against grpc-go);
``--uvloop`` runs on uvloop. Prints one JSON line (benchlib.ClientResult).

``.venv/bin/python bench/clients/puregrpc_client.py --target 127.0.0.1:PORT [--calls N]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchlib
from build import load_generated

import puregrpc


async def run(args: argparse.Namespace, name: str) -> benchlib.ClientResult:
    pb2, glue = load_generated("puregrpc", args.gen)
    request = pb2.Payload(body=bytes(args.size))
    async with puregrpc.Channel(args.target) as channel:
        stub = glue.BenchStub(channel)

        def call() -> Awaitable[object]:
            # The call object itself is awaitable: no coroutine of our own around it.
            return stub.Unary(request, timeout=10.0)  # type: ignore[no-any-return]

        return await benchlib.run_unary_load(name, call, args)


def main() -> int:
    parser = benchlib.client_arg_parser(__doc__)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(run(args, "puregrpc-uvloop"))
    else:
        result = asyncio.run(run(args, "puregrpc"))
    return benchlib.print_result(result)


if __name__ == "__main__":
    sys.exit(main())
