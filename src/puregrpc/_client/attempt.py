"""An attempt: one try of a client call, on one stream of one subchannel.

A call (`puregrpc._client.call`) owns what lasts for the whole RPC (deadline, cancellation,
interceptors, the status, callbacks); each attempt owns what belongs to its stream: the stream,
the response's initial metadata and encoding, the task writing a request iterator, whether the
request side is done, and the replay buffer.

The replay buffer keeps the framed request messages sent on this attempt so that another attempt
could send them again (gRFC A6). It is bounded by `REPLAY_LIMIT` octets. The attempt *commits*
when the response's headers arrive (the server has seen the call) or when the buffer would go
beyond its limit; a committed attempt drops its buffer and can no longer be replaced. Today the
one replacement is the transparent retry of a stream the server refused before processing it
(REFUSED_STREAM, RT7), for a request that is all in the buffer; retry and hedging policies build
on the same two operations (`replay`, `commit`).

The unary fast path makes an attempt whose whole request went out with its headers in one engine
operation (`ClientConnection.open_request`): `Attempt(0, subchannel, stream, whole_request)`.
"""

from __future__ import annotations

import asyncio

from .._transport.streams import ClientStream
from .._vocab.metadata import Metadata
from .._wire.compression import IDENTITY
from .subchannel import Subchannel

REPLAY_LIMIT = 256 * 1024  # octets of request messages an uncommitted attempt keeps (gRFC A6)


class Attempt:
    """One stream of a call, and what the call learnt from it."""

    __slots__ = (
        "buffer",
        "buffered",
        "committed",
        "initial_metadata",
        "number",
        "response_encoding",
        "stream",
        "subchannel",
        "writer",
        "writes_done",
    )

    def __init__(
        self,
        number: int,
        subchannel: Subchannel,
        stream: ClientStream,
        whole_request: bytes | None = None,
    ) -> None:
        """With `whole_request` (the framed messages already sent, ending the request side),
        the attempt starts with its request side done and buffered."""
        self.number = number  # 0 for the first attempt of a call
        self.subchannel = subchannel
        self.stream = stream
        self.initial_metadata: Metadata | None = None
        self.response_encoding = IDENTITY
        self.writer: asyncio.Task[None] | None = None
        self.committed = False
        if whole_request is None:
            self.writes_done = False
            self.buffer: list[bytes] | None = []  # None once committed
            self.buffered = 0
        else:
            self.writes_done = True
            self.buffer = [whole_request]
            self.buffered = len(whole_request)
            if self.buffered > REPLAY_LIMIT:
                self.commit()

    def record(self, data: bytes) -> None:
        """Keep `data` (framed messages just sent) for a replay, or commit if it is too much."""
        buffer = self.buffer
        if buffer is not None:
            self.buffered += len(data)
            if self.buffered > REPLAY_LIMIT:
                self.commit()
            else:
                buffer.append(data)

    def commit(self) -> None:
        """From now on this attempt is the call's only one: its buffer is dropped."""
        self.committed = True
        self.buffer = None

    @property
    def replayable(self) -> bool:
        """Whether another attempt could carry the whole request again."""
        return not self.committed and self.writes_done and self.buffer is not None

    async def replay_on(self, number: int, subchannel: Subchannel, stream: ClientStream) -> Attempt:
        """The next attempt, on `stream`, with this one's request sent again (ending it)."""
        assert self.buffer is not None
        data = b"".join(self.buffer)
        await stream.send_message(data, end=True)
        return Attempt(number, subchannel, stream, data)
