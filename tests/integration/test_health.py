"""The health service (H1-H3): puregrpc.health against our client and grpcio-health-checking's."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from support.free_threaded import HAVE_GRPCIO
from support.marks import needs_grpcio
from support.peers.build import GoBinaries

import puregrpc
from puregrpc import RpcError, StatusCode
from puregrpc.health import (
    NOT_SERVING,
    SERVICE_UNKNOWN,
    SERVING,
    UNKNOWN,
    HealthCheckRequest,
    HealthListRequest,
    HealthServicer,
    HealthStub,
)

if HAVE_GRPCIO or TYPE_CHECKING:  # no grpcio on free-threaded CPython: its tests skip there
    import grpc
    from grpc_health.v1 import health_pb2 as grpcio_health_pb2
    from grpc_health.v1 import health_pb2_grpc as grpcio_health_pb2_grpc

    GRPCIO = grpcio_health_pb2.HealthCheckResponse

pytest_plugins = ["support.peers.fixtures"]


@contextlib.asynccontextmanager
async def health_server() -> AsyncIterator[tuple[puregrpc.Server, HealthServicer, str]]:
    server = puregrpc.Server()
    health = puregrpc.health.add_to_server(server)
    port = await server.start("127.0.0.1:0")
    try:
        yield server, health, f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=1.0)


async def next_status(stream: AsyncIterator[puregrpc.health.HealthCheckResponse]) -> int:
    response = await asyncio.wait_for(anext(stream), 5.0)
    return response.status


# -- our client


async def test_check_overall_registered_and_unknown() -> None:
    async with health_server() as (_, health, target), puregrpc.Channel(target) as channel:
        stub = HealthStub(channel)
        assert (await stub.Check(HealthCheckRequest())).status == SERVING
        with pytest.raises(RpcError) as caught:
            await stub.Check(HealthCheckRequest(service="hello.HelloService"))
        assert caught.value.code() == StatusCode.NOT_FOUND
        health.set("hello.HelloService", NOT_SERVING)
        reply = await stub.Check(HealthCheckRequest(service="hello.HelloService"))
        assert reply.status == NOT_SERVING
        health.set("hello.HelloService", SERVING)
        reply = await stub.Check(HealthCheckRequest(service="hello.HelloService"))
        assert reply.status == SERVING
        # exact match only
        with pytest.raises(RpcError) as caught:
            await stub.Check(HealthCheckRequest(service="hello"))
        assert caught.value.code() == StatusCode.NOT_FOUND


async def test_list_gives_every_status() -> None:
    async with health_server() as (_, health, target), puregrpc.Channel(target) as channel:
        health.set("a.A", NOT_SERVING)
        health.set("b.B", UNKNOWN)
        reply = await HealthStub(channel).List(HealthListRequest())
        assert {name: s.status for name, s in reply.statuses.items()} == {
            "": SERVING,
            "a.A": NOT_SERVING,
            "b.B": UNKNOWN,
        }


async def test_watch_sends_current_status_then_every_change() -> None:
    async with health_server() as (_, health, target), puregrpc.Channel(target) as channel:
        health.set("svc.S", SERVING)
        call = HealthStub(channel).Watch(HealthCheckRequest(service="svc.S"))
        stream = aiter(call)
        assert await next_status(stream) == SERVING
        health.set("svc.S", NOT_SERVING)
        assert await next_status(stream) == NOT_SERVING
        health.set("svc.S", NOT_SERVING)  # no change: no message
        health.set("svc.S", SERVING)
        assert await next_status(stream) == SERVING
        assert len(health._watchers["svc.S"]) == 1
        call.cancel()
        for _ in range(100):  # the server sees the reset and ends the handler
            if "svc.S" not in health._watchers:
                break
            await asyncio.sleep(0.01)
        assert "svc.S" not in health._watchers


async def test_watch_unknown_service_keeps_watching() -> None:
    async with health_server() as (_, health, target), puregrpc.Channel(target) as channel:
        call = HealthStub(channel).Watch(HealthCheckRequest(service="later.Service"))
        stream = aiter(call)
        assert await next_status(stream) == SERVICE_UNKNOWN
        health.set("later.Service", SERVING)
        assert await next_status(stream) == SERVING
        call.cancel()


async def test_server_stop_ends_watches_promptly() -> None:
    server = puregrpc.Server()
    health = puregrpc.health.add_to_server(server)
    health.set("svc.S", SERVING)
    port = await server.start("127.0.0.1:0")
    async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
        stub = HealthStub(channel)
        calls = [stub.Watch(HealthCheckRequest(service=name)) for name in ("", "svc.S", "x.X")]
        streams = [aiter(call) for call in calls]
        assert [await next_status(s) for s in streams] == [SERVING, SERVING, SERVICE_UNKNOWN]
        started = time.monotonic()
        await server.stop(grace=10.0)
        assert time.monotonic() - started < 2.0
        # The watchers heard NOT_SERVING, then the calls ended with OK.
        for stream in streams[:2]:
            assert await next_status(stream) == NOT_SERVING
        for call in calls:
            assert [r async for r in call] == []
            assert await call.code() == StatusCode.OK
    assert health._watchers == {}


async def test_graceful_shutdown_sets_everything_not_serving() -> None:
    async with health_server() as (_, health, target), puregrpc.Channel(target) as channel:
        stub = HealthStub(channel)
        health.set("a.A", SERVING)
        stream = aiter(stub.Watch(HealthCheckRequest(service="a.A")))
        assert await next_status(stream) == SERVING
        health.enter_graceful_shutdown()
        assert await next_status(stream) == NOT_SERVING
        health.set("a.A", SERVING)  # ignored from now on
        for name in ("", "a.A"):
            assert (await stub.Check(HealthCheckRequest(service=name))).status == NOT_SERVING
        assert health.get("a.A") == NOT_SERVING


def test_set_refuses_service_unknown() -> None:
    health = HealthServicer()
    with pytest.raises(ValueError):
        health.set("a.A", SERVICE_UNKNOWN)
    assert health.get("") == SERVING
    assert health.get("a.A") is None


# -- grpcio-health-checking's client (grpc.aio) against our server


@needs_grpcio
async def test_grpcio_health_client_check() -> None:
    async with health_server() as (_, health, target):
        health.set("hello.HelloService", NOT_SERVING)
        async with grpc.aio.insecure_channel(target) as channel:
            stub = grpcio_health_pb2_grpc.HealthStub(channel)  # type: ignore[no-untyped-call]
            overall = await stub.Check(grpcio_health_pb2.HealthCheckRequest(service=""))
            named = await stub.Check(
                grpcio_health_pb2.HealthCheckRequest(service="hello.HelloService")
            )
            try:
                await stub.Check(grpcio_health_pb2.HealthCheckRequest(service="nope.Nope"))
            except grpc.aio.AioRpcError as exc:
                # Not pytest.raises: a kept AioRpcError keeps grpcio's poller thread alive.
                failure = exc.code()
            else:
                pytest.fail("Check of an unknown service should fail")
            listed = await stub.List(grpcio_health_pb2.HealthListRequest())
    assert overall.status == GRPCIO.SERVING
    assert named.status == GRPCIO.NOT_SERVING
    assert failure == grpc.StatusCode.NOT_FOUND
    assert set(listed.statuses) == {"", "hello.HelloService"}


@needs_grpcio
async def test_grpcio_health_client_watch() -> None:
    async with health_server() as (_, health, target), grpc.aio.insecure_channel(target) as channel:
        stub = grpcio_health_pb2_grpc.HealthStub(channel)  # type: ignore[no-untyped-call]
        call = stub.Watch(grpcio_health_pb2.HealthCheckRequest(service="svc.S"))
        seen = [(await asyncio.wait_for(call.read(), 5.0)).status]
        health.set("svc.S", SERVING)
        seen.append((await asyncio.wait_for(call.read(), 5.0)).status)
        health.set("svc.S", NOT_SERVING)
        seen.append((await asyncio.wait_for(call.read(), 5.0)).status)
        overall = stub.Watch(grpcio_health_pb2.HealthCheckRequest(service=""))
        seen.append((await asyncio.wait_for(overall.read(), 5.0)).status)
        call.cancel()
        overall.cancel()
    assert seen == [GRPCIO.SERVICE_UNKNOWN, GRPCIO.SERVING, GRPCIO.NOT_SERVING, GRPCIO.SERVING]


# -- grpc-go's health client (tests/support/peers/go/health_client)


async def run_go(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(
        binary, *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 10.0)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


@pytest.mark.peer
async def test_go_health_client(go_binaries: GoBinaries) -> None:
    binary = str(go_binaries.client.parent / "health_client")
    async with health_server() as (_, health, target):
        health.set("hello.HelloService", NOT_SERVING)
        overall = await run_go(binary, "-target", target)
        named = await run_go(binary, "-target", target, "-service", "hello.HelloService")
        unknown = await run_go(binary, "-target", target, "-service", "nope.Nope")
        watch = await asyncio.create_subprocess_exec(
            *(binary, "-target", target, "-service", "svc.S", "-watch", "3"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        assert watch.stdout is not None
        try:
            lines = [await asyncio.wait_for(watch.stdout.readline(), 10.0)]
            health.set("svc.S", SERVING)
            lines.append(await asyncio.wait_for(watch.stdout.readline(), 10.0))
            health.set("svc.S", NOT_SERVING)
            lines.append(await asyncio.wait_for(watch.stdout.readline(), 10.0))
            assert await asyncio.wait_for(watch.wait(), 10.0) == 0
        finally:
            if watch.returncode is None:
                watch.kill()
                await watch.wait()
    assert (overall.returncode, overall.stdout) == (0, "check: SERVING\n")
    assert (named.returncode, named.stdout) == (0, "check: NOT_SERVING\n")
    assert unknown.returncode == 1
    assert "code=NotFound" in unknown.stderr
    assert lines == [b"watch: SERVICE_UNKNOWN\n", b"watch: SERVING\n", b"watch: NOT_SERVING\n"]


@needs_grpcio
def test_both_health_protos_load_in_one_process() -> None:
    """grpcio's health_pb2 (default descriptor pool) and ours (puregrpc._protos.POOL)."""
    from google.protobuf import descriptor_pool

    from puregrpc._protos import POOL

    ours = puregrpc.health.HealthCheckResponse
    assert (
        ours.DESCRIPTOR.full_name
        == GRPCIO.DESCRIPTOR.full_name
        == "grpc.health.v1.HealthCheckResponse"
    )
    assert ours.DESCRIPTOR.file.pool is POOL
    assert GRPCIO.DESCRIPTOR.file.pool is descriptor_pool.Default()
    message = ours(status=NOT_SERVING)
    assert GRPCIO.FromString(message.SerializeToString()).status == GRPCIO.NOT_SERVING


def test_generated_protos_are_current() -> None:
    """The committed puregrpc/_protos code is what the .proto files and our generator give
    (else: python -m puregrpc._codegen.regenerate_protos)."""
    from puregrpc._codegen import regenerate_protos

    assert regenerate_protos.main(["--check"]) == 0
