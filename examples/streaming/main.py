"""All four kinds of call in one program: a Numbers server and a client using it.

Run from the repository root: `.venv/bin/python examples/streaming/main.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numbers_grpc
from numbers_pb2 import CountRequest, Number

import puregrpc

Context = puregrpc.ServicerContext


class NumbersService(numbers_grpc.NumbersServicer):
    async def Square(self, request: Number, context: Context[Number, Number]) -> Number:
        return Number(value=request.value * request.value)

    async def Count(
        self, request: CountRequest, context: Context[CountRequest, Number]
    ) -> AsyncIterator[Number]:
        for value in range(1, request.to + 1):
            yield Number(value=value)

    async def Sum(
        self, request_iterator: AsyncIterator[Number], context: Context[Number, Number]
    ) -> Number:
        return Number(value=sum([n.value async for n in request_iterator]))

    async def RunningTotal(
        self, request_iterator: AsyncIterator[Number], context: Context[Number, Number]
    ) -> AsyncIterator[Number]:
        total = 0
        async for number in request_iterator:
            total += number.value
            yield Number(value=total)


async def numbers(*values: int) -> AsyncIterator[Number]:
    for value in values:
        yield Number(value=value)


async def main() -> None:
    server = puregrpc.Server()
    numbers_grpc.add_NumbersServicer_to_server(NumbersService(), server)
    port = await server.start("127.0.0.1:0")
    async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
        stub = numbers_grpc.NumbersStub(channel)

        square = await stub.Square(Number(value=12))
        print(f"unary         Square(12) = {square.value}")

        counted = [n.value async for n in stub.Count(CountRequest(to=5))]
        print(f"server stream Count(5) -> {counted}")

        total = await stub.Sum(numbers(1, 2, 3, 4))
        print(f"client stream Sum(1, 2, 3, 4) = {total.value}")

        call = stub.RunningTotal()
        totals = []
        for value in (10, 20, 30):
            await call.write(Number(value=value))
            reply = await call.read()
            assert reply is not None
            totals.append(reply.value)
        await call.done_writing()
        print(f"bidi          RunningTotal(10, 20, 30) -> {totals}")
    await server.stop(grace=1.0)


if __name__ == "__main__":
    asyncio.run(main())
