"""The gRPC server: services, listening, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from .._http2 import H2Config
from .._transport.credentials import ensure_alpn_h2
from .._transport.keepalive import KeepalivePolicy, PingPolicy
from .._transport.memory import loop_network
from .._vocab.errors import ConnectionLostError
from .._wire.targets import parse_listen_address
from .connection import ServerConnection
from .handlers import MethodHandler, ServiceDefinition
from .interceptors import ServerChain, ServerInterceptor

DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024


class Server:
    """A gRPC server. Add services, `await start(address)`, later `await stop(grace)`."""

    def __init__(
        self,
        *,
        max_receive_message_length: int = DEFAULT_MAX_RECEIVE,
        max_concurrent_streams: int = 1000,
        ssl_context: ssl.SSLContext | None = None,
        interceptors: Sequence[ServerInterceptor] = (),
        keepalive_time: float | None = 7200.0,
        keepalive_timeout: float = 20.0,
        permit_keepalive_time: float = 300.0,
        permit_keepalive_without_calls: bool = False,
        max_connection_idle: float | None = None,
        max_connection_age: float | None = None,
        max_connection_age_grace: float | None = None,
    ) -> None:
        """Keepalive and connection limits follow gRFC A8/A9 (K2, K5); times in seconds,
        None for never."""
        self._chain = ServerChain(tuple(interceptors))
        self._keepalive = (
            KeepalivePolicy(keepalive_time, keepalive_timeout, permit_without_calls=True)
            if keepalive_time is not None
            else None
        )
        self._ping_policy = PingPolicy(permit_keepalive_time, permit_keepalive_without_calls)
        self._max_idle = max_connection_idle
        self._max_age = max_connection_age
        self._max_age_grace = max_connection_age_grace
        self.methods: dict[str, MethodHandler[Any, Any]] = {}
        self._services: dict[str, ServiceDefinition] = {}
        self.max_receive = max_receive_message_length
        self._h2_config = H2Config(client_side=False, max_concurrent_streams=max_concurrent_streams)
        self._ssl = ensure_alpn_h2(ssl_context) if ssl_context is not None else None
        self._servers: list[asyncio.AbstractServer] = []
        self._unix_paths: list[tuple[str, int]] = []  # (path, inode) of sockets we bound
        self._connections: set[ServerConnection] = set()
        self._stopping = False
        self._stopped: asyncio.Event | None = None
        self._stop_callbacks: list[Callable[[], object]] = []

    def add_service(self, service: ServiceDefinition) -> None:
        if service.name in self._services:
            raise ValueError(f"service {service.name} is already registered")
        self._services[service.name] = service
        self.methods.update(service.paths())

    @property
    def services(self) -> dict[str, ServiceDefinition]:
        return dict(self._services)

    def add_stop_callback(self, callback: Callable[[], object]) -> None:
        """Call `callback()` when `stop()` begins, before the drain (e.g. to end watch streams)."""
        self._stop_callbacks.append(callback)

    async def start(self, address: str) -> int:
        """Listen on `host:port`, `[v6]:port`, `unix:/path` or `memory:name` (the in-memory
        transport, `puregrpc.testing`); returns the port bound (0 for a Unix socket or memory).
        May be called more than once for several addresses."""
        if self._stopped is None:
            self._stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        listen = parse_listen_address(address)
        if listen.memory_name is not None:
            if self._ssl is not None:  # a TLS server must not take plaintext connections
                raise ValueError("the in-memory transport carries no TLS: use a server without it")
            self._servers.append(
                await loop_network(loop).create_server(self._make_protocol, listen.memory_name)
            )
            return 0
        if listen.unix_path is not None:
            path = listen.unix_path
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            server = await loop.create_unix_server(self._make_protocol, path, ssl=self._ssl)
            self._servers.append(server)
            self._unix_paths.append((path, os.stat(path).st_ino))
            return 0
        port = listen.port
        hosts = listen.hosts
        for index, each in enumerate(hosts):
            try:
                server = await loop.create_server(
                    self._make_protocol, each, port, ssl=self._ssl, reuse_address=True
                )
            except OSError:
                if index == 0 and len(hosts) > 1:
                    continue  # no IPv6 on this machine: IPv4 alone
                raise
            self._servers.append(server)
            if port == 0 and server.sockets:
                port = int(server.sockets[0].getsockname()[1])
        return port

    def _make_protocol(self) -> ServerConnection:
        return ServerConnection(self, self._h2_config)

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting; with `grace`, let running calls finish for that long (GOAWAY drain),
        then cancel what is left and close every connection."""
        self._stopping = True
        for callback in self._stop_callbacks:
            callback()
        for server in self._servers:
            server.close()
        connections = list(self._connections)
        for conn in connections:
            conn.start_shutdown()
        if grace:
            calls = [c.task for conn in connections for c in conn.calls if c.task is not None]
            if calls:
                await asyncio.wait(calls, timeout=grace)
        for conn in connections:
            for call in list(conn.calls):
                call.on_stream_failed(ConnectionLostError("server stopping"))
            tasks = [c.task for c in conn.calls if c.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=1.0)
            conn.close()
        for conn in connections:
            try:
                await asyncio.wait_for(conn.wait_closed(), 1.0)
            except TimeoutError:
                conn.abort()
                await conn.wait_closed()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        for path, inode in self._unix_paths:
            with contextlib.suppress(OSError):
                if os.stat(path).st_ino == inode:  # not a socket bound since by someone else
                    os.unlink(path)
        self._unix_paths.clear()
        if self._stopped is not None:
            self._stopped.set()

    async def wait_for_termination(self) -> None:
        if self._stopped is not None:
            await self._stopped.wait()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop(grace=None)
