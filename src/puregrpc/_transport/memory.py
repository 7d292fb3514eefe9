"""An in-memory byte-stream transport (like grpc-go's bufconn): connections with no sockets.

`MemoryNetwork` is a registry of named listeners. `await network.create_server(factory, name)`
listens on `name`; `await network.create_connection(factory, name)` connects to it and returns
`(transport, protocol)`, as `loop.create_server` / `loop.create_connection` do. Each connection
is a pair of `MemoryTransport`s, one per end. The same bytes flow through it as over TCP: it
carries whatever the protocols write, and nothing else.

Contract:
* Delivery. Bytes written on one end reach the other end's `data_received` in the order they
  were written, from a `loop.call_soon` callback: never inside `write()`. Queued writes are
  coalesced; one callback hands over at most `read_size` bytes (default 256 KiB, what asyncio
  reads from a socket at once), then yields to the loop before the next. Both ends'
  `connection_made` run (the listener's end first) before anything is delivered either way.
* Flow control (as asyncio's socket transports). A writer's buffer is what it wrote and the
  peer's protocol has not been handed yet (`get_write_buffer_size()`). When it grows above the
  high-water mark the writer's `pause_writing()` is called, inside `write()`, as asyncio does;
  when it falls to the low-water mark or below, `resume_writing()` (from the delivery
  callback). `set_write_buffer_limits()` / `get_write_buffer_limits()` as in asyncio (defaults
  64 KiB high, a quarter of it low). `pause_reading()` on an end stops delivery to it: the bytes
  stay queued and count against the writer's buffer; `resume_reading()` restarts delivery.
* `close()`. This end stops reading at once: bytes still queued towards it are dropped (the
  peer's buffer shrinks, and its protocol is resumed if it was paused). What this end had
  queued is still delivered, then the peer's `eof_received()`; this end's
  `connection_lost(None)` follows once its queued bytes are delivered. (While the peer has
  paused reading, queued bytes hold this end's close back, as a full socket buffer holds
  asyncio's; `abort()` does not wait. With nothing queued, connection_lost comes at once and
  only the peer's EOF waits.) If the peer's `eof_received()` returns a false value the peer
  closes too and gets `connection_lost(None)`; if it returns True the peer stays open until
  its protocol closes it, and what it writes meanwhile is discarded.
* `write_eof()` (`can_write_eof()` is True): a half-close. The peer gets `eof_received()` after
  the queued bytes and may go on writing to this end; `write()` afterwards raises RuntimeError.
  Shutting both halves does not close the transport: `close()` does (as with a socket).
* `abort()`. Both directions' queued bytes are dropped; this end gets `connection_lost(None)`
  and the peer, unless already gone, `connection_lost(ConnectionResetError(ECONNRESET))`.
* Writes after `close()`/`abort()`, or to a peer that stopped reading for good, are discarded
  (asyncio discards writes to a lost connection the same way).
* A protocol's `connection_made`, `data_received` or `eof_received` raising is reported with
  `loop.call_exception_handler` and ends the connection: that end gets `connection_lost(exc)`
  and the peer `connection_lost(ConnectionResetError)`. `pause_writing`/`resume_writing`
  raising is reported and nothing is closed; `connection_lost` raising reaches the loop's
  handler through the callback that called it. (All as asyncio does, except that asyncio
  only reports a failing `connection_made`: here the connection ends as well.)
* `get_extra_info`: "sockname" and "peername" are `("memory", name)` tuples. The listener's
  end is `("memory", "<listener name>")`; the connecting end is `("memory", "<listener
  name>#<n>")` where n counts the network's connections from 1. Listener names may not contain
  "#", so the two never collide, and no IP address tuple has a str second item. "socket" and
  "ssl_object" are None. A transport dropped unclosed warns (ResourceWarning), as asyncio's do.
* Listeners (`MemoryServer`, an `asyncio.AbstractServer`): `close()` frees the name and refuses
  new connections (ConnectionRefusedError, as for a name nobody listens on); connections
  already made stay until they are closed. `wait_closed()` returns once the listener is closed
  and every connection it accepted is lost (asyncio >= 3.12.1 semantics). `sockets` is ().
  Everything of one listener belongs to the event loop that created it.
* `loop_network()` is a default network for each event loop, for `memory:<name>` addresses.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import warnings
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

MEMORY = "memory"  # the first item of every address this module hands out
DEFAULT_READ_SIZE = 256 * 1024
_DEFAULT_HIGH_WATER = 64 * 1024

_P = TypeVar("_P", bound=asyncio.Protocol)
ProtocolFactory = Callable[[], asyncio.Protocol]


def _reset_error() -> ConnectionResetError:
    return ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")


class MemoryTransport(asyncio.Transport):
    """One end of an in-memory connection (see the module docstring for the contract)."""

    __slots__ = (
        "_buffer_size",
        "_closing",
        "_eof_pending",
        "_eof_written",
        "_high_water",
        "_loop",
        "_lost",
        "_low_water",
        "_offset",
        "_on_lost",
        "_outbox",
        "_peer",
        "_protocol",
        "_protocol_paused",
        "_pump_handle",
        "_read_closed",
        "_read_size",
        "_reading_paused",
        "_reset",
        "_write_closed",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.Protocol,
        sockname: str,
        peername: str,
        read_size: int = DEFAULT_READ_SIZE,
        on_lost: Callable[[MemoryTransport], None] | None = None,
    ) -> None:
        super().__init__(
            {
                "sockname": (MEMORY, sockname),
                "peername": (MEMORY, peername),
                "socket": None,
                "ssl_object": None,
            }
        )
        self._loop = loop
        self._protocol = protocol
        self._peer: MemoryTransport = self  # set by `_link`
        self._read_size = read_size
        self._on_lost = on_lost
        # What this end wrote and the peer's protocol was not handed yet; `_offset` bytes of
        # the first item are already delivered.
        self._outbox: collections.deque[bytes] = collections.deque()
        self._offset = 0
        self._buffer_size = 0
        self._pump_handle: asyncio.Handle | None = None
        self._high_water = _DEFAULT_HIGH_WATER
        self._low_water = _DEFAULT_HIGH_WATER // 4
        self._protocol_paused = False
        self._reading_paused = False
        self._eof_written = False  # write_eof() was called
        self._write_closed = False  # nothing more is sent: write_eof(), close() or abort()
        self._eof_pending = False  # the peer is due an eof_received() once the outbox drains
        self._read_closed = False  # nothing more is delivered to this end
        self._closing = False  # close() or abort() (or a failure): is_closing()
        self._reset = False  # aborted, or reset by the peer: nothing more is delivered
        self._lost = False  # connection_lost() is scheduled or done

    @staticmethod
    def _link(one: MemoryTransport, other: MemoryTransport) -> None:
        one._peer = other
        other._peer = one

    def __repr__(self) -> str:
        state = "lost" if self._lost else "closing" if self._closing else "open"
        name = self.get_extra_info("sockname")[1]
        peer = self.get_extra_info("peername")[1]
        return f"<MemoryTransport {name} -> {peer} {state} buffered={self._buffer_size}>"

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if not getattr(self, "_closing", True):
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)

    # ------------------------------------------------------------ BaseTransport

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._read_closed = True
        self._reading_paused = False
        if not self._write_closed:
            self._write_closed = True
            self._eof_pending = True
        self._schedule_pump()
        peer = self._peer
        if not peer._reset and (peer._outbox or peer._eof_pending):
            peer._schedule_pump()  # to drop what it queued for us, and resume its protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = cast(asyncio.Protocol, protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    # ------------------------------------------------------------ ReadTransport

    def is_reading(self) -> bool:
        return not self._reading_paused and not self._closing

    def pause_reading(self) -> None:
        if self._closing or self._reading_paused:
            return
        self._reading_paused = True

    def resume_reading(self) -> None:
        if self._closing or not self._reading_paused:
            return
        self._reading_paused = False
        peer = self._peer
        if peer._outbox or peer._eof_pending:
            peer._schedule_pump()

    # ------------------------------------------------------------ WriteTransport

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = _DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water = high
        self._low_water = low
        self._maybe_pause_protocol()

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low_water, self._high_water)

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if self._eof_written:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._write_closed or self._peer._read_closed or not data:
            return  # closing or lost, or nobody will read it: discarded
        chunk = data if type(data) is bytes else bytes(data)  # the caller may reuse its buffer
        self._outbox.append(chunk)
        self._buffer_size += len(chunk)
        if self._pump_handle is None:
            self._pump_handle = self._loop.call_soon(self._pump)
        if self._buffer_size > self._high_water:
            self._maybe_pause_protocol()

    def write_eof(self) -> None:
        if self._closing or self._write_closed:
            return
        self._eof_written = True
        self._write_closed = True
        self._eof_pending = True
        self._schedule_pump()

    def can_write_eof(self) -> bool:
        return True

    def abort(self) -> None:
        self._force_close(None)

    # ------------------------------------------------------------ delivery (this end -> peer)

    def _schedule_pump(self) -> None:
        if self._pump_handle is None:
            self._pump_handle = self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        """Hand the peer one chunk of what this end queued, or else its EOF; once a closing
        end has nothing left to deliver, its own connection_lost."""
        self._pump_handle = None
        if self._reset:
            return
        peer = self._peer
        if peer._read_closed:
            if self._outbox:  # the peer closed: nobody reads it
                self._outbox.clear()
                self._offset = 0
                self._buffer_size = 0
                if not self._lost:
                    self._maybe_resume_protocol()
            self._eof_pending = False
        elif peer._reading_paused:
            pass  # peer.resume_reading() schedules this again
        elif self._outbox:
            data = self._take(self._read_size)
            self._buffer_size -= len(data)
            peer._receive_data(data)
            if not self._lost:
                self._maybe_resume_protocol()
            if not self._reset and (self._outbox or self._eof_pending or self._closing):
                self._schedule_pump()  # the rest on a later loop turn
            return
        elif self._eof_pending:
            self._eof_pending = False
            peer._receive_eof()
        if self._closing and not self._lost and not self._outbox:
            self._schedule_lost(None)

    def _take(self, limit: int) -> bytes:
        """Up to `limit` bytes from the front of the outbox, removed from it."""
        outbox = self._outbox
        parts: list[bytes] = []
        while outbox and limit:
            first = outbox[0]
            start = self._offset
            available = len(first) - start
            if available <= limit:
                parts.append(first[start:] if start else first)
                outbox.popleft()
                self._offset = 0
                limit -= available
            else:
                parts.append(first[start : start + limit])
                self._offset = start + limit
                limit = 0
        return parts[0] if len(parts) == 1 else b"".join(parts)

    # ------------------------------------------------------------ on this end's protocol

    def _connection_made(self) -> None:
        try:
            self._protocol.connection_made(self)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "protocol.connection_made() call failed")

    def _receive_data(self, data: bytes) -> None:
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _receive_eof(self) -> None:
        self._read_closed = True
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()

    def _maybe_pause_protocol(self) -> None:
        if self._buffer_size <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        try:
            self._protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report(exc, "protocol.pause_writing() failed")

    def _maybe_resume_protocol(self) -> None:
        if not self._protocol_paused or self._buffer_size > self._low_water:
            return
        self._protocol_paused = False
        try:
            self._protocol.resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report(exc, "protocol.resume_writing() failed")

    def _report(self, exc: BaseException, message: str) -> None:
        self._loop.call_exception_handler(
            {"message": message, "exception": exc, "transport": self, "protocol": self._protocol}
        )

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        self._report(exc, message)
        self._force_close(cast(Exception, exc))  # (asyncio passes a BaseException on as well)

    # ------------------------------------------------------------ ending

    def _force_close(self, exc: Exception | None) -> None:
        """Drop everything queued either way; connection_lost(exc) here and a reset for the
        peer (unless it is gone already)."""
        if self._lost:
            return
        self._reset = True
        self._outbox.clear()
        self._offset = 0
        self._buffer_size = 0
        self._eof_pending = False
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        self._schedule_lost(exc)
        peer = self._peer
        if not peer._lost:
            peer._force_close(_reset_error())

    def _schedule_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self._read_closed = True
        self._write_closed = True
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: Exception | None) -> None:
        try:
            self._protocol.connection_lost(exc)  # (an exception reaches the loop's handler)
        finally:
            on_lost, self._on_lost = self._on_lost, None
            if on_lost is not None:
                on_lost(self)


class MemoryServer(asyncio.AbstractServer):
    """A listener of a `MemoryNetwork` (made by `MemoryNetwork.create_server`)."""

    def __init__(
        self,
        network: MemoryNetwork,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: ProtocolFactory,
        name: str,
    ) -> None:
        self._network = network
        self._loop = loop
        self._protocol_factory = protocol_factory
        self._name = name
        self._listening = True  # the name is ours
        self._serving = False  # connections are accepted
        self._connections: set[MemoryTransport] = set()  # our ends of the connections not lost
        self._waiters: list[asyncio.Future[None]] | None = []  # None once closed and idle
        self._serving_forever: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<MemoryServer {self._name!r} connections={len(self._connections)}>"

    @property
    def name(self) -> str:
        return self._name

    @property
    def address(self) -> tuple[str, str]:
        """What the listener's end of each connection reports as its sockname."""
        return (MEMORY, self._name)

    @property
    def sockets(self) -> tuple[Any, ...]:
        return ()

    @property
    def connections(self) -> int:
        """How many connections accepted here are not lost yet."""
        return len(self._connections)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if self._listening:
            self._serving = True

    async def serve_forever(self) -> None:
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if not self._listening:
            raise RuntimeError(f"server {self!r} is closed")
        self._serving = True
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    def close(self) -> None:
        """Stop listening (the name is free again); connections already made stay."""
        if not self._listening:
            return
        self._listening = False
        self._serving = False
        self._network._unregister(self)
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
        if not self._connections:
            self._wakeup()

    def close_clients(self) -> None:
        """close() every connection accepted here that is still open."""
        for transport in list(self._connections):
            transport.close()

    def abort_clients(self) -> None:
        """abort() every connection accepted here that is not lost yet."""
        for transport in list(self._connections):
            transport.abort()

    async def wait_closed(self) -> None:
        """Until the listener is closed and every connection it accepted is lost."""
        if self._waiters is None:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter

    def _wakeup(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def _detach(self, transport: MemoryTransport) -> None:
        self._connections.discard(transport)
        if not self._listening and not self._connections:
            self._wakeup()


class MemoryNetwork:
    """Named in-memory listeners, and connections to them. `read_size` bounds what one
    `data_received` call is handed (1 delivers byte by byte)."""

    def __init__(self, *, read_size: int = DEFAULT_READ_SIZE) -> None:
        if read_size < 1:
            raise ValueError("read_size must be at least 1")
        self._read_size = read_size
        self._listeners: dict[str, MemoryServer] = {}
        self._connections = 0

    def __repr__(self) -> str:
        return f"<MemoryNetwork listeners={sorted(self._listeners)!r}>"

    async def create_server(
        self, protocol_factory: ProtocolFactory, name: str, *, start_serving: bool = True
    ) -> MemoryServer:
        """Listen on `name`: each connection gets a protocol from `protocol_factory`. Raises
        OSError(EADDRINUSE) while another listener holds the name."""
        if not isinstance(name, str) or not name or "#" in name:
            raise ValueError(f"a memory address is a non-empty str without '#', not {name!r}")
        if name in self._listeners:
            raise OSError(errno.EADDRINUSE, f"memory address {name!r} is already in use")
        server = MemoryServer(self, asyncio.get_running_loop(), protocol_factory, name)
        self._listeners[name] = server
        if start_serving:
            await server.start_serving()
        return server

    async def create_connection(
        self, protocol_factory: Callable[[], _P], name: str
    ) -> tuple[MemoryTransport, _P]:
        """Connect to the listener on `name`; ConnectionRefusedError if there is none (or it
        is not serving), ConnectionResetError if its protocol factory raised (reported to the
        loop's exception handler). Both ends' connection_made have run when this returns."""
        loop = asyncio.get_running_loop()
        listener = self._listeners.get(name)
        if listener is None or not listener.is_serving():
            raise ConnectionRefusedError(
                errno.ECONNREFUSED, f"nothing listens on memory address {name!r}"
            )
        if listener.get_loop() is not loop:
            raise RuntimeError(f"memory address {name!r} belongs to another event loop")
        protocol = protocol_factory()  # (its exceptions are the caller's, as in asyncio)
        try:
            server_protocol = listener._protocol_factory()
        except Exception as exc:
            loop.call_exception_handler(
                {"message": "Error on transport creation for incoming connection", "exception": exc}
            )
            raise ConnectionResetError(
                errno.ECONNRESET, f"memory address {name!r} failed to accept the connection"
            ) from exc
        self._connections += 1
        client_name = f"{name}#{self._connections}"
        size = self._read_size
        ours = MemoryTransport(loop, protocol, client_name, name, size)
        theirs = MemoryTransport(loop, server_protocol, name, client_name, size, listener._detach)
        MemoryTransport._link(ours, theirs)
        listener._connections.add(theirs)
        theirs._connection_made()
        ours._connection_made()
        return ours, protocol

    def _unregister(self, server: MemoryServer) -> None:
        if self._listeners.get(server.name) is server:
            del self._listeners[server.name]


_loop_networks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MemoryNetwork] = (
    weakref.WeakKeyDictionary()
)


def loop_network(loop: asyncio.AbstractEventLoop | None = None) -> MemoryNetwork:
    """The default network of `loop` (the running loop when None), made on first use: where
    `memory:<name>` addresses of Server.start and Channel would live. It goes with the loop
    (a listener left open keeps both alive)."""
    if loop is None:
        loop = asyncio.get_running_loop()
    network = _loop_networks.get(loop)
    if network is None:
        network = _loop_networks[loop] = MemoryNetwork()
    return network
