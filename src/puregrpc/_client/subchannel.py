"""A subchannel: the channel's link to one address. It owns that address's connection (made on
first use, remade when broken, with the reconnect backoff of K6 in between), its connectivity
state, and the connections still draining after a GOAWAY.

The channel never touches a connection: it picks a subchannel (`puregrpc._client.picker`) and
asks it for a connection that can carry a stream now.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import ssl
from collections.abc import Awaitable, Callable

from .._transport.client_connection import ClientConnection
from .._transport.keepalive import KeepalivePolicy
from .._transport.memory import loop_network
from .._vocab.codes import StatusCode
from .._vocab.errors import ConnectionLostError, RpcError
from .._vocab.status import Status
from .._wire.targets import Target

CONNECT_TIMEOUT = 20.0  # K6 MIN_CONNECT_TIMEOUT
INITIAL_BACKOFF = 1.0  # K6
BACKOFF_MULTIPLIER = 1.6
BACKOFF_JITTER = 0.2
MAX_BACKOFF = 120.0

logger = logging.getLogger("puregrpc.channel")

ConnectionFactory = Callable[[], ClientConnection]
# Opens a transport to an address and returns the protocol `factory` made for it.
Dialer = Callable[[Target, ConnectionFactory], Awaitable[ClientConnection]]


class ConnectivityState(enum.Enum):
    """doc/connectivity-semantics-and-api.md."""

    IDLE = "idle"
    CONNECTING = "connecting"
    READY = "ready"
    TRANSIENT_FAILURE = "transient_failure"
    SHUTDOWN = "shutdown"


class SubchannelSettings:
    """What every subchannel of a channel shares: TLS, limits, keepalive, how to dial."""

    __slots__ = ("dial", "keepalive", "max_receive", "on_lost", "server_hostname", "ssl")

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        max_receive: int,
        keepalive: KeepalivePolicy | None,
        dial: Dialer | None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.ssl = ssl_context
        self.on_lost = on_lost  # a connection that was up is gone (re-resolution)
        self.server_hostname = server_hostname
        self.max_receive = max_receive
        self.keepalive = keepalive
        self.dial = dial


async def dial_socket(
    target: Target,
    factory: ConnectionFactory,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
) -> ClientConnection:
    """A TCP, Unix-socket or in-memory connection to `target`, TLS when `ssl_context` is set
    (never in memory: the channel refuses that combination)."""
    loop = asyncio.get_running_loop()
    hostname = (server_hostname or target.host) if ssl_context is not None else None
    if target.memory_name is not None:
        _, conn = await loop_network(loop).create_connection(factory, target.memory_name)
    elif target.unix_path is not None:
        _, conn = await loop.create_unix_connection(
            factory, target.unix_path, ssl=ssl_context, server_hostname=hostname
        )
    else:
        _, conn = await loop.create_connection(
            factory, target.host, target.port, ssl=ssl_context, server_hostname=hostname
        )
    return conn


class Subchannel:
    """One address. `connection()` returns a usable connection or raises RpcError."""

    def __init__(self, target: Target, settings: SubchannelSettings) -> None:
        self.target = target
        self._settings = settings
        self._keepalive = settings.keepalive
        self.state = ConnectivityState.IDLE
        self._shutdown_reason = "channel closed"
        self._conn: ClientConnection | None = None
        self._draining: set[ClientConnection] = set()
        self._connecting: asyncio.Lock | None = None
        self._backoff = INITIAL_BACKOFF
        self._retry_at = 0.0
        self._last_failure: Status | None = None

    @property
    def ready_connection(self) -> ClientConnection | None:
        """The connection, if it is up and can open a stream now (the unary fast path)."""
        conn = self._conn
        return conn if conn is not None and conn.can_open() else None

    async def connection(self, deadline: float | None, wait_for_ready: bool) -> ClientConnection:
        """A usable connection: the current one, or a new one. Within the reconnect backoff it
        fails fast with the last failure unless `wait_for_ready` (WF1)."""
        conn = self._conn
        if conn is not None and conn.is_usable:
            return conn
        if self.state is ConnectivityState.SHUTDOWN:
            raise RpcError(Status(StatusCode.UNAVAILABLE, self._shutdown_reason))
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            conn = self._conn
            if conn is not None and conn.is_usable:
                return conn
            if conn is not None and not conn.is_closed:
                self._draining.add(conn)  # finishes its calls, then closes itself
            self._conn = None
            loop = asyncio.get_running_loop()
            while True:
                wait = self._retry_at - loop.time()
                if wait > 0:
                    if not wait_for_ready and self._last_failure is not None:
                        raise RpcError(self._last_failure)
                    if deadline is not None and loop.time() + wait >= deadline:
                        raise RpcError(Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
                    await asyncio.sleep(wait)
                self.state = ConnectivityState.CONNECTING
                try:
                    conn = await self._connect(deadline)
                except RpcError as exc:
                    if exc.code() != StatusCode.UNAVAILABLE:
                        self.state = ConnectivityState.IDLE
                        raise
                    self.state = ConnectivityState.TRANSIENT_FAILURE
                    self._last_failure = exc.status
                    jitter = random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
                    self._retry_at = loop.time() + self._backoff * jitter
                    self._backoff = min(self._backoff * BACKOFF_MULTIPLIER, MAX_BACKOFF)
                    if not wait_for_ready:
                        raise
                    continue
                self._backoff = INITIAL_BACKOFF  # reset once the server's SETTINGS arrived
                self._retry_at = 0.0
                self._last_failure = None
                self.state = ConnectivityState.READY
                return conn

    def _too_many_pings(self) -> None:
        """K3: the server said we ping too often; double the interval for new connections."""
        policy = self._keepalive
        if policy is not None:
            logger.warning(
                "server sent GOAWAY too_many_pings; keepalive time now %.0f s", policy.time * 2
            )
            self._keepalive = KeepalivePolicy(
                policy.time * 2, policy.timeout, policy.permit_without_calls
            )

    async def _connect(self, deadline: float | None) -> ClientConnection:
        loop = asyncio.get_running_loop()
        settings = self._settings
        target = self.target
        timeout = CONNECT_TIMEOUT
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - loop.time()))

        made: list[ClientConnection] = []

        def factory() -> ClientConnection:
            conn = ClientConnection(
                settings.max_receive, self._keepalive, self._too_many_pings, settings.on_lost
            )
            made.append(conn)
            return conn

        try:
            async with asyncio.timeout(timeout):
                if settings.dial is not None:
                    conn = await settings.dial(target, factory)
                else:
                    conn = await dial_socket(
                        target, factory, settings.ssl, settings.server_hostname
                    )
                if settings.ssl is not None and (
                    conn.ssl_object is None or conn.ssl_object.selected_alpn_protocol() != "h2"
                ):
                    conn.abort()  # W22; checked before waiting for SETTINGS it may never send
                    raise RpcError(
                        Status(StatusCode.UNAVAILABLE, "server did not negotiate ALPN h2")
                    )
                await conn.wait_ready()
        except TimeoutError:
            for each in made:
                each.abort()
            if deadline is not None and loop.time() >= deadline:
                raise RpcError(Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")) from None
            raise RpcError(
                Status(StatusCode.UNAVAILABLE, f"connect to {target.display} timed out")
            ) from None
        except (OSError, ConnectionLostError, ssl.SSLError) as exc:
            hint = ""
            for each in made:
                each.abort()
                if settings.ssl is not None and isinstance(exc, ConnectionLostError):
                    # asyncio drops the TLS alert of a server refusing our certificate
                    hint = " (closed by the server after the TLS handshake: it may require a "
                    hint += "client certificate or have refused ours)"
            raise RpcError(
                Status(
                    StatusCode.UNAVAILABLE, f"failed to connect to {target.display}: {exc}{hint}"
                )
            ) from None
        self._conn = conn
        return conn

    def retire(self) -> None:
        """The resolver dropped this address: no new calls; connections close once their
        calls have ended (`close` still ends them at the channel's close)."""
        self.state = ConnectivityState.SHUTDOWN
        self._shutdown_reason = f"the resolver no longer lists {self.target.display}"
        for conn in (self._conn, *self._draining):
            if conn is not None:
                conn.drain()

    async def close(self) -> None:
        """Shut down: every stream of every connection is cancelled, the connections closed."""
        self.state = ConnectivityState.SHUTDOWN
        self._shutdown_reason = "channel closed"
        connections = [c for c in (self._conn, *self._draining) if c is not None]
        self._conn = None
        self._draining.clear()
        for conn in connections:
            for stream in list(conn.streams.values()):
                stream.cancel()
            conn.close()
        for conn in connections:
            try:
                await asyncio.wait_for(conn.wait_closed(), 5.0)
            except TimeoutError:
                conn.abort()
                await conn.wait_closed()
