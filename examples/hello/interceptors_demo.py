"""Interceptors on both sides: logging on client and server, token authentication on the server.

Run from the repository root: `.venv/bin/python examples/hello/interceptors_demo.py`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any

import hello_grpc
from hello_pb2 import HelloRequest, HelloResponse

import puregrpc
from puregrpc import StatusCode

log = logging.getLogger("hello")
TOKEN = "Bearer s3cret"


class Greeter(hello_grpc.HelloServiceServicer):
    async def SayHello(
        self, request: HelloRequest, context: puregrpc.ServicerContext[HelloRequest, HelloResponse]
    ) -> HelloResponse:
        return HelloResponse(message=f"Hello, {request.name}")


class ServerLogging(puregrpc.ServerInterceptor):
    """Logs every call with its status and duration. One instance serves every call at once,
    so per-call state lives in a context variable (each call runs in its own task)."""

    started: contextvars.ContextVar[float] = contextvars.ContextVar("started")

    async def on_call(self, method: str, context: puregrpc.ServicerContext[Any, Any]) -> None:
        self.started.set(time.monotonic())
        log.info("server: %s from %s", method, context.peer())

    def on_end(self, status: puregrpc.Status, context: puregrpc.ServicerContext[Any, Any]) -> None:
        elapsed = (time.monotonic() - self.started.get(time.monotonic())) * 1000
        log.info("server: ended %s in %.1f ms", status.code.name, elapsed)


class TokenAuth(puregrpc.ServerInterceptor):
    """Refuses calls without the right bearer token."""

    async def on_call(self, method: str, context: puregrpc.ServicerContext[Any, Any]) -> None:
        if context.invocation_metadata().get("authorization") != TOKEN:
            await context.abort(StatusCode.UNAUTHENTICATED, "missing or wrong token")


class AttachToken(puregrpc.ClientInterceptor):
    async def on_call(self, details: puregrpc.ClientCallDetails) -> None:
        details.metadata.append(("authorization", TOKEN))


class ClientLogging(puregrpc.ClientInterceptor):
    async def on_request(self, message: Any, details: puregrpc.ClientCallDetails) -> Any:
        log.info("client: %s sends %s", details.method, type(message).__name__)
        return message

    def on_end(self, status: puregrpc.Status, details: puregrpc.ClientCallDetails) -> None:
        log.info("client: %s ended %s", details.method, status.code.name)


async def main() -> None:
    server = puregrpc.Server(interceptors=[ServerLogging(), TokenAuth()])
    hello_grpc.add_HelloServiceServicer_to_server(Greeter(), server)
    port = await server.start("127.0.0.1:0")
    target = f"127.0.0.1:{port}"
    async with puregrpc.Channel(target, interceptors=[ClientLogging(), AttachToken()]) as channel:
        reply = await hello_grpc.HelloServiceStub(channel).SayHello(HelloRequest(name="Alice"))
        print(f"with a token:    Greeting: {reply.message}")
    async with puregrpc.Channel(target, interceptors=[ClientLogging()]) as channel:
        try:
            await hello_grpc.HelloServiceStub(channel).SayHello(HelloRequest(name="Mallory"))
        except puregrpc.RpcError as error:
            print(f"without a token: {error.code().name}: {error.details()}")
    await server.stop(grace=1.0)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="  log: %(message)s")
    asyncio.run(main())
