"""A hand-driven HTTP/2 server on the sans-IO engine, for our client against servers that answer
in any way (or not at all): ``async with scripted(script) as channel:`` runs ``script`` once per
request with a `RawStream` on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import puregrpc
from puregrpc._http2 import DataReceived, H2Config, H2Connection, RequestReceived
from puregrpc._http2 import _frames as F


class RawStream:
    """What a script can do to the request stream and its connection."""

    def __init__(
        self, h2: H2Connection, writer: asyncio.StreamWriter, stream_id: int, headers: object
    ) -> None:
        self.h2 = h2
        self.writer = writer
        self.stream_id = stream_id
        self.headers = headers

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    def send_headers(self, headers: Sequence[tuple[str, str]], end_stream: bool = False) -> None:
        self.h2.send_headers(self.stream_id, headers, end_stream)
        self._flush()

    def send_data(self, data: bytes, end_stream: bool = False) -> None:
        self.h2.send_data(self.stream_id, data, end_stream)
        self._flush()

    def send_rst(self, code: int) -> None:
        """RST_STREAM with any code, known to the engine or not, written as raw bytes."""
        self._flush()
        self.writer.write(F.build_rst_stream(self.stream_id, code))

    def drop_connection(self) -> None:
        """Close the socket at once: no GOAWAY, nothing more."""
        self._flush()
        self.writer.transport.abort()


Script = Callable[[RawStream], Awaitable[None]]


class ScriptedServer:
    """A hand-driven HTTP/2 server on the sans-IO engine: `script` runs once per request, as
    soon as its HEADERS arrive, and may answer in any way (or not at all)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        h2 = H2Connection(H2Config(client_side=False))
        h2.initiate_connection()
        writer.write(h2.data_to_send())
        try:
            while not writer.is_closing():
                data = await reader.read(65536)
                if not data:
                    break
                for event in h2.receive_data(data):
                    if isinstance(event, DataReceived):
                        h2.acknowledge_received_data(event.stream_id, event.flow_controlled_length)
                    elif isinstance(event, RequestReceived):
                        await self.script(RawStream(h2, writer, event.stream_id, event.headers))
                if not writer.is_closing():
                    writer.write(h2.data_to_send())
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            self._tasks.discard(task)

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[puregrpc.Channel]:
    server = ScriptedServer(script)
    port = await server.start()
    try:
        async with puregrpc.Channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.close()


RESPONSE_HEAD = ((":status", "200"), ("content-type", "application/grpc"))
