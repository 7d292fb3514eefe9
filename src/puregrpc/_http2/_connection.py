"""The HTTP/2 connection state machine (RFC 9113), sans-IO.

Contract:
* `receive_data(bytes)` parses whole frames and returns events; a partial frame waits for more
  bytes. The only exceptions it raises are `ProtocolError` subclasses, each a connection error
  whose GOAWAY is already queued; after one, the connection is closed and ignores input.
* Stream errors caused by the peer never raise: RST_STREAM is queued and a
  `StreamReset(remote=False)` event reports it; the rest of the connection is unaffected.
* `send_*` methods queue frames; `data_to_send()` drains them as one bytes object.
* DATA that does not fit the flow-control windows waits inside the engine (bounded by
  `max_send_buffer` per stream) and goes out as WINDOW_UPDATEs arrive.
* Received DATA holds the receive window until `acknowledge_received_data` hands it back.
* No clock inside: `check_timers(now)` drives the SETTINGS timeout and the reset-rate window.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Sequence

from . import _frames as F
from ._config import H2Config
from ._errors import (
    CalmError,
    CompressionError,
    ConnectionClosedError,
    ErrorCode,
    FlowControlError,
    FrameSizeError,
    ProtocolError,
    SendBufferFullError,
    SettingsTimeoutError,
    StreamClosedError,
    UsageError,
    error_code,
)
from ._events import (
    ConnectionTerminated,
    Event,
    Headers,
    InformationalResponseReceived,
    PingAckReceived,
    PingReceived,
    PriorityReceived,
    RemoteSettingsChanged,
    RequestReceived,
    ResponseReceived,
    SendBufferDrained,
    SettingsAcknowledged,
    StreamReset,
    TrailersReceived,
    data_received,
    request_received,
)
from ._hpack import Decoder, Encoder, HeaderListTooLargeError, Split
from ._settings import PROTOCOL_DEFAULTS, UNLIMITED, SettingCode, check_setting
from ._stream import TABLE, ClosedReason, Stream, StreamInput, StreamState, new_stream
from ._validation import (
    check_request,
    check_response,
    check_trailers,
    outbound_size,
)

_unpack_header = F.FRAME_HEADER.unpack_from
_unpack_u32 = struct.Struct(">L").unpack_from
_unpack_goaway = struct.Struct(">LL").unpack_from
_unpack_setting = struct.Struct(">HL").unpack_from
_pack_u32 = struct.Struct(">L").pack
_pack_header = F.FRAME_HEADER.pack  # (length >> 8, length & 0xFF, type, flags, stream id)

_IDLE = int(StreamState.IDLE)
_OPEN = int(StreamState.OPEN)
_HALF_CLOSED_LOCAL = int(StreamState.HALF_CLOSED_LOCAL)
_HALF_CLOSED_REMOTE = int(StreamState.HALF_CLOSED_REMOTE)
_CLOSED = int(StreamState.CLOSED)
_RECV_HEADERS = int(StreamInput.RECV_HEADERS)
_RECV_DATA = int(StreamInput.RECV_DATA)
_RECV_END = int(StreamInput.RECV_END_STREAM)
_SEND_HEADERS = int(StreamInput.SEND_HEADERS)
_SEND_DATA = int(StreamInput.SEND_DATA)
_SEND_END = int(StreamInput.SEND_END_STREAM)

# Frame types and flags, and a closed reason, as plain globals for the hot paths.
_DATA = F.DATA
_HEADERS = F.HEADERS
_CONTINUATION = F.CONTINUATION
_SETTINGS = F.SETTINGS
_PADDED = F.FLAG_PADDED
_END_STREAM = F.FLAG_END_STREAM
_ENDED = ClosedReason.END_STREAM

_DATA_STATES = (_OPEN, _HALF_CLOSED_LOCAL)  # where a stream may receive DATA

_PREFACE_LEN = len(F.CLIENT_PREFACE)
_HEADERS_END_MASK = F.FLAG_END_HEADERS


class _StreamError(Exception):
    """Internal: a stream error found while handling one frame."""

    def __init__(self, stream_id: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.code = code


class _ResponseMemo:
    """How `send_response` frames one pair of header and trailer tuples (kept by identity)
    while the encoder's table stays at `version`: only the stream id changes per response."""

    __slots__ = (
        "block",
        "head_prefix",
        "headers",
        "pack_head",
        "pack_tail",
        "tail_prefix",
        "trailer_block",
        "trailers",
        "version",
    )

    def __init__(
        self, headers: Headers, trailers: Headers, version: int, block: bytes, trailer_block: bytes
    ) -> None:
        self.headers = headers
        self.trailers = trailers
        self.version = version
        self.block = block
        self.trailer_block = trailer_block
        # HEADERS (END_HEADERS) with the block, then the header of a DATA frame: its length
        # and type as one 32-bit field, the flags a zero pad octet, the stream id.
        self.head_prefix = F.frame_header(len(block), F.HEADERS, F.FLAG_END_HEADERS, 0)[:5]
        self.pack_head = struct.Struct(f">5sL{len(block)}sLxL").pack
        # HEADERS (END_HEADERS, END_STREAM) with the trailer block.
        flags = F.FLAG_END_HEADERS | F.FLAG_END_STREAM
        self.tail_prefix = F.frame_header(len(trailer_block), F.HEADERS, flags, 0)[:5]
        self.pack_tail = struct.Struct(f">5sL{len(trailer_block)}s").pack


class H2Connection:
    """One HTTP/2 connection, client or server side, with no I/O of its own."""

    def __init__(self, config: H2Config) -> None:
        self.config = config
        self.client_side = config.client_side
        self._out: list[bytes] = []
        self._inbuf = b""
        self._preface_pending = not config.client_side
        # The only frame type the peer may send next, 0 for any: SETTINGS until its first
        # SETTINGS (3.4), CONTINUATION while a header block is in progress (4.3).
        self._frame_gate = _SETTINGS
        self._closed = False  # we sent a connection-ending GOAWAY or the peer's input is done
        # Settings.
        self.local_settings: dict[int, int] = dict(PROTOCOL_DEFAULTS)
        self.remote_settings: dict[int, int] = dict(PROTOCOL_DEFAULTS)
        self._pending_local_settings: deque[dict[int, int]] = deque()
        self._settings_sent_at: deque[float | None] = deque()
        self._peer_max_frame = 16384
        self._peer_initial_window = 65535
        self._peer_max_streams = UNLIMITED
        self._peer_max_header_list = UNLIMITED
        # Until the peer acknowledges our SETTINGS it may use the default 65535 (RFC 9113
        # 6.9.2): a smaller configured window takes effect at the ACK, a larger one at once.
        self._local_initial_window = max(65535, config.initial_window_size)
        # Limits on the peer are enforced at the configured value from the start: stricter
        # ones (streams) protect us before the peer acknowledges, looser ones (frame size)
        # never reject what the peer may send once it has read our SETTINGS.
        self._max_inbound_streams = config.max_concurrent_streams
        self._max_inbound_frame = max(16384, config.max_frame_size)
        # HPACK.
        self._encoder = Encoder(min(4096, config.encoder_max_table_size))
        self._decoder = Decoder(4096, config.max_header_list_size)
        # Streams.
        self._streams: dict[int, Stream] = {}
        # Closed streams remembered in two generations: between N and 2N of the latest.
        self._closed_recent: dict[int, ClosedReason] = {}
        self._closed_older: dict[int, ClosedReason] = {}
        self._closed_forgotten = False
        self._next_local_id = 1 if config.client_side else 2
        self._highest_peer_id = 0
        self._peer_open = 0
        self._local_open = 0
        self._blocked: dict[int, Stream] = {}  # streams with DATA waiting for window
        # Connection flow control.
        self._send_window = 65535
        self._recv_window = 65535
        self._recv_unacked = 0
        self._connection_ack_threshold = 65535 // 2  # acknowledged octets are sent back from here
        # Header block in progress (HEADERS without END_HEADERS, then CONTINUATIONs).
        self._hb_stream = 0
        self._hb_flags = 0
        self._hb_fragments: list[bytes] = []
        self._hb_size = 0
        self._hb_count = 0
        # GOAWAY.
        self._goaway_sent_last_id: int | None = None
        self._goaway_received_last_id: int | None = None
        # Abuse accounting.
        self._control_queued = 0
        self._empty_data_frames = 0
        self._resets_in_window = 0
        self._reset_window_start: float | None = None
        # Header tuples already validated, by identity (the tuple is kept, so its id stays
        # unique): HPACK hands out the same tuple for a repeated block.
        self._valid_header_sets: dict[int, tuple[Headers, int]] = {}
        self._valid_trailer_sets: dict[int, Headers] = {}
        # The same for request headers without grpc-timeout (`Decoder.split` bases): base ->
        # (base, content-length, number of pseudo-headers).
        self._valid_bases: dict[int, tuple[Headers, int, int]] = {}
        self._response_memo: _ResponseMemo | None = None

    # ----------------------------------------------------------------- introspection

    @property
    def open_streams(self) -> int:
        """Streams not yet closed, either side's."""
        return len(self._streams)

    @property
    def open_outbound_streams(self) -> int:
        return self._local_open

    @property
    def open_inbound_streams(self) -> int:
        return self._peer_open

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def goaway_received(self) -> bool:
        return self._goaway_received_last_id is not None

    @property
    def goaway_sent(self) -> bool:
        return self._goaway_sent_last_id is not None

    @property
    def highest_inbound_stream_id(self) -> int:
        return self._highest_peer_id

    def stream_state(self, stream_id: int) -> StreamState:
        stream = self._streams.get(stream_id)
        if stream is not None:
            return StreamState(stream.state)
        if self._is_past_stream(stream_id):
            return StreamState.CLOSED
        return StreamState.IDLE

    def is_stream_open(self, stream_id: int) -> bool:
        """Whether the stream exists and is not yet closed both ways (cheap)."""
        return stream_id in self._streams

    def local_flow_control_window(self, stream_id: int) -> int:
        """Octets of DATA that could be sent on the stream right now."""
        stream = self._streams.get(stream_id)
        if stream is None:
            raise StreamClosedError(stream_id, "no such open stream")
        return max(0, min(stream.send_window, self._send_window))

    def outbound_buffered(self, stream_id: int) -> int:
        """Octets of DATA queued on the stream, waiting for flow-control window."""
        stream = self._streams.get(stream_id)
        return 0 if stream is None else stream.pending_size

    def max_outbound_streams(self) -> int:
        return self._peer_max_streams

    # ----------------------------------------------------------------- output

    def data_to_send(self) -> bytes:
        """Everything queued so far, in order; empty when nothing is."""
        out = self._out
        self._control_queued = 0
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def initiate_connection(self) -> None:
        """Queue the preface (client), our SETTINGS and the connection window increase."""
        cfg = self.config
        if self.client_side:
            self._out.append(F.CLIENT_PREFACE)
        settings: dict[int, int] = {
            SettingCode.HEADER_TABLE_SIZE: cfg.header_table_size,
            SettingCode.ENABLE_PUSH: 0,
            SettingCode.MAX_CONCURRENT_STREAMS: cfg.max_concurrent_streams,
            SettingCode.INITIAL_WINDOW_SIZE: cfg.initial_window_size,
            SettingCode.MAX_FRAME_SIZE: cfg.max_frame_size,
            SettingCode.MAX_HEADER_LIST_SIZE: cfg.max_header_list_size,
        }
        if not self.client_side:
            del settings[SettingCode.ENABLE_PUSH]  # only a client may send it meaningfully
        self._queue_settings(settings)
        increase = cfg.connection_window_size - 65535
        if increase > 0:
            self._out.append(F.build_window_update(0, increase))
            self._recv_window += increase
            self._connection_ack_threshold = cfg.connection_window_size // 2

    def update_settings(self, changes: dict[int, int]) -> None:
        """Send new SETTINGS; they take effect locally when the peer acknowledges them."""
        for code, value in changes.items():
            check_setting(code, value)
        self._queue_settings(dict(changes))
        # A larger frame size is honoured at once: the peer may use it before our ACK arrives.
        frame_size = changes.get(SettingCode.MAX_FRAME_SIZE, 0)
        self._max_inbound_frame = max(self._max_inbound_frame, frame_size)

    def _queue_settings(self, settings: dict[int, int]) -> None:
        self._ensure_open()
        self._out.append(F.build_settings(settings))
        self._pending_local_settings.append(settings)
        self._settings_sent_at.append(None)

    # ----------------------------------------------------------------- sending on streams

    def get_next_available_stream_id(self) -> int:
        """The id the next locally initiated stream will get."""
        stream_id = self._next_local_id
        if stream_id > F.MAX_STREAM_ID:
            raise UsageError("stream ids are exhausted on this connection; open a new one")
        return stream_id

    def can_open_stream(self) -> bool:
        """Whether a stream of ours could be opened now: the connection is open, the peer sent
        no GOAWAY, its concurrency limit leaves room and stream ids remain."""
        return (
            not self._closed
            and self._goaway_received_last_id is None
            and self._local_open < self._peer_max_streams
            and self._next_local_id <= F.MAX_STREAM_ID
        )

    def send_headers(
        self, stream_id: int, headers: Sequence[tuple[str, str]], end_stream: bool = False
    ) -> None:
        """Open a stream (client), or send response headers or trailers on one.

        Trailers (a later header block with `end_stream`) wait behind any DATA still queued.
        """
        if self._closed:
            self._ensure_open()
        fields = headers if type(headers) is tuple else tuple(headers)
        # A block the encoder has cached went through `_check_outbound` when first sent.
        block = self._encoder.cached_block(fields)
        if block is None:
            self._check_outbound(fields)
        stream = self._streams.get(stream_id)
        if stream is None:
            if self._is_past_stream(stream_id):
                raise StreamClosedError(stream_id, "stream is closed")
            stream = self._open_local_stream(stream_id)
        elif stream.local_ended:
            raise StreamClosedError(stream_id, "already ended")
        elif stream.final_headers_sent:
            if not end_stream:
                raise UsageError("only trailers (end_stream=True) may follow final headers")
            if stream.pending:
                # Encoded when it goes out: HPACK blocks must reach the peer in encoding order.
                stream.pending_trailers = fields
                stream.local_ended = True
                return
        self._emit_headers(stream, fields, end_stream, block)

    def _check_outbound(self, headers: Headers) -> None:
        """Refuse a header section a conforming peer would reject, before anything changes."""
        found = outbound_size(headers)
        if isinstance(found, str):
            raise UsageError(f"cannot send this header section: {found}")
        if found > self._peer_max_header_list:
            raise UsageError(
                f"header list of {found} octets exceeds the peer's limit "
                f"{self._peer_max_header_list}"
            )

    def _emit_headers(
        self, stream: Stream, headers: Headers, end_stream: bool, block: bytes | None = None
    ) -> None:
        nxt = TABLE[stream.state][_SEND_HEADERS]
        if nxt < 0:
            raise StreamClosedError(
                stream.stream_id, f"cannot send headers in {StreamState(stream.state).name}"
            )
        if block is None:
            block = self._encoder.encode(headers)
        stream_id = stream.stream_id
        if len(block) <= self._peer_max_frame:
            flags = F.FLAG_END_HEADERS | F.FLAG_END_STREAM if end_stream else F.FLAG_END_HEADERS
            size = len(block)
            self._out.append(_pack_header(size >> 8, size & 0xFF, 1, flags, stream_id) + block)
        else:
            self._out.extend(
                F.build_header_frames(stream_id, block, end_stream, self._peer_max_frame)
            )
        stream.state = nxt
        stream.headers_sent = True
        if not stream.final_headers_sent:
            status = headers[0][1] if headers and headers[0][0] == ":status" else ""
            if not (len(status) == 3 and status[0] == "1"):
                stream.final_headers_sent = True
        if end_stream:
            stream.local_ended = True
            self._end_local(stream)

    def _open_local_stream(self, stream_id: int) -> Stream:
        if not self.client_side:
            raise UsageError("a server cannot open streams (push is not supported)")
        if stream_id != self._next_local_id:
            raise UsageError(f"next stream id must be {self._next_local_id}, not {stream_id}")
        if self._goaway_received_last_id is not None:
            raise ConnectionClosedError("the peer sent GOAWAY; open a new connection")
        if self._local_open >= self._peer_max_streams:
            raise UsageError(
                f"the peer allows {self._peer_max_streams} concurrent streams; wait for one "
                "to close"
            )
        self.get_next_available_stream_id()
        self._next_local_id += 2
        stream = new_stream(stream_id, self._peer_initial_window, self._local_initial_window)
        self._streams[stream_id] = stream
        self._local_open += 1
        return stream

    def send_data(self, stream_id: int, data: bytes, end_stream: bool = False) -> None:
        """Queue DATA, split to the peer's frame size; what the windows refuse waits inside.

        Raises `SendBufferFullError` when the stream already holds `max_send_buffer` octets
        waiting for window: wait for `SendBufferDrained` before sending more.
        """
        if self._closed:
            self._ensure_open()
        stream = self._streams.get(stream_id)
        if stream is None or stream.local_ended:
            raise StreamClosedError(stream_id)
        if not stream.final_headers_sent:
            raise UsageError("send the final headers before DATA")
        if TABLE[stream.state][_SEND_DATA] < 0:
            raise StreamClosedError(
                stream_id, f"cannot send data in {StreamState(stream.state).name}"
            )
        size = len(data)
        if end_stream:
            stream.local_ended = True
        if not stream.pending:
            if (
                size <= stream.send_window
                and size <= self._send_window
                and (size <= self._peer_max_frame)
            ):
                # The common case: one frame, no copy of the payload beyond the join.
                flags = F.FLAG_END_STREAM if end_stream else 0
                self._out.append(_pack_header(size >> 8, size & 0xFF, 0, flags, stream_id))
                if size:
                    self._out.append(data)
                stream.send_window -= size
                self._send_window -= size
                if end_stream:
                    self._end_local(stream)
                return
        elif stream.pending_size >= self.config.max_send_buffer:
            if end_stream:
                stream.local_ended = False
            raise SendBufferFullError(
                f"stream {stream_id} holds {stream.pending_size} octets waiting for window"
            )
        pending = stream.pending
        if pending is None:
            pending = stream.pending = deque()
        if size:
            pending.append(memoryview(data))
            stream.pending_size += size
        if end_stream:
            stream.pending_end = True
            if not size and not pending:
                pending.append(memoryview(b""))
        self._flush_stream(stream)
        if stream.pending and stream.stream_id in self._streams:
            self._blocked[stream_id] = stream

    def end_stream(self, stream_id: int) -> None:
        """End our side with an empty DATA frame carrying END_STREAM."""
        self.send_data(stream_id, b"", end_stream=True)

    def send_response(
        self,
        stream_id: int,
        headers: Sequence[tuple[str, str]],
        data: bytes,
        trailers: Sequence[tuple[str, str]],
    ) -> None:
        """A whole response at once: final headers, one DATA payload, trailers ending it.

        Equivalent to `send_headers`, `send_data` and `send_headers(end_stream=True)` in a row
        (and done that way when a block is not cached or `data` does not fit the windows and
        one frame); the common case looks the stream up once and queues three frames.
        """
        stream = self._streams.get(stream_id)
        size = len(data)
        if (
            self._closed
            or stream is None
            or stream.headers_sent
            or stream.state != _HALF_CLOSED_REMOTE
            or size > stream.send_window
            or size > self._send_window
            or size > self._peer_max_frame
        ):
            return self._send_response_slowly(stream_id, headers, data, trailers)
        memo = self._response_memo
        if (
            memo is None
            or memo.headers is not headers
            or memo.trailers is not trailers
            or memo.version != self._encoder.version
        ):
            memo = self._memo_response(headers, trailers)
            if memo is None:
                return self._send_response_slowly(stream_id, headers, data, trailers)
        # HALF_CLOSED_REMOTE --headers, data--> HALF_CLOSED_REMOTE --end--> CLOSED
        out = self._out
        out.append(memo.pack_head(memo.head_prefix, stream_id, memo.block, size << 8, stream_id))
        if size:
            out.append(data)
        out.append(memo.pack_tail(memo.tail_prefix, stream_id, memo.trailer_block))
        stream.send_window -= size
        self._send_window -= size
        stream.state = _CLOSED
        # `_forget`, for a stream the peer opened that holds no pending DATA (the record is
        # dropped, so its sent and ended flags are left as they were)
        del self._streams[stream_id]
        self._peer_open -= 1
        recent = self._closed_recent
        recent[stream_id] = _ENDED
        if len(recent) >= self.config.closed_streams_remembered:
            self._rotate_closed()

    def _memo_response(
        self, headers: Sequence[tuple[str, str]], trailers: Sequence[tuple[str, str]]
    ) -> _ResponseMemo | None:
        """A `_ResponseMemo` for these header and trailer objects (tuples only), if both
        blocks are cached by the encoder and each fits one frame."""
        if type(headers) is not tuple or type(trailers) is not tuple:
            return None
        block = self._encoder.cached_block(headers)
        trailer_block = self._encoder.cached_block(trailers)
        if (
            block is None
            or trailer_block is None
            or len(block) > self._peer_max_frame
            or len(trailer_block) > self._peer_max_frame
            or not headers
            or headers[0] != (":status", "200")
        ):
            return None
        memo = _ResponseMemo(headers, trailers, self._encoder.version, block, trailer_block)
        self._response_memo = memo
        return memo

    def _send_response_slowly(
        self,
        stream_id: int,
        headers: Sequence[tuple[str, str]],
        data: bytes,
        trailers: Sequence[tuple[str, str]],
    ) -> None:
        self.send_headers(stream_id, headers)
        self.send_data(stream_id, data)
        self.send_headers(stream_id, trailers, end_stream=True)

    def send_request(self, stream_id: int, headers: Sequence[tuple[str, str]], data: bytes) -> None:
        """A whole request at once (client): open `stream_id` with `headers`, then `data` in
        DATA carrying END_STREAM.

        Equivalent to `send_headers(stream_id, headers)` then `send_data(stream_id, data,
        end_stream=True)`, raising what they raise (and done that way when the header block is
        not cached, or `data` does not fit the windows and one frame); the common case queues
        two frames and leaves the stream half-closed (local).
        """
        size = len(data)
        max_frame = self._peer_max_frame
        if (
            self._closed
            or stream_id != self._next_local_id
            or not self.client_side
            or stream_id > F.MAX_STREAM_ID
            or self._goaway_received_last_id is not None
            or self._local_open >= self._peer_max_streams
            or size > self._peer_initial_window
            or size > self._send_window
            or size > max_frame
        ):
            return self._send_request_slowly(stream_id, headers, data)
        fields = headers if type(headers) is tuple else tuple(headers)
        block = self._encoder.cached_block(fields)  # checked by `_check_outbound` before
        if block is None or len(block) > max_frame:
            return self._send_request_slowly(stream_id, headers, data)
        # IDLE --headers--> OPEN --end--> HALF_CLOSED_LOCAL
        self._next_local_id += 2
        stream = new_stream(stream_id, self._peer_initial_window - size, self._local_initial_window)
        stream.state = _HALF_CLOSED_LOCAL
        stream.headers_sent = stream.final_headers_sent = stream.local_ended = True
        self._streams[stream_id] = stream
        self._local_open += 1
        self._send_window -= size
        size_h = len(block)
        out = self._out
        out.append(
            _pack_header(size_h >> 8, size_h & 0xFF, 1, 4, stream_id)
            + block
            + _pack_header(size >> 8, size & 0xFF, 0, 1, stream_id)
        )
        if size:
            out.append(data)

    def _send_request_slowly(
        self, stream_id: int, headers: Sequence[tuple[str, str]], data: bytes
    ) -> None:
        self.send_headers(stream_id, headers)
        self.send_data(stream_id, data, end_stream=True)

    def _flush_stream(self, stream: Stream) -> bool:
        """Send as much of the stream's pending DATA as the windows allow.

        Returns True when the stream's buffer became empty.
        """
        pending = stream.pending
        if pending is None:
            return True
        out = self._out
        max_frame = self._peer_max_frame
        sid = stream.stream_id
        while pending:
            chunk = pending[0]
            size = len(chunk)
            if size:
                allowed = min(stream.send_window, self._send_window, max_frame)
                if allowed <= 0:
                    return False
                if size > allowed:
                    pending[0] = chunk[allowed:]
                    out.append(F.frame_header(allowed, F.DATA, 0, sid))
                    out.append(bytes(chunk[:allowed]))
                    stream.send_window -= allowed
                    self._send_window -= allowed
                    stream.pending_size -= allowed
                    continue
            pending.popleft()
            last = not pending and stream.pending_end and stream.pending_trailers is None
            out.append(F.frame_header(size, F.DATA, F.FLAG_END_STREAM if last else 0, sid))
            if size:
                out.append(bytes(chunk))
                stream.send_window -= size
                self._send_window -= size
                stream.pending_size -= size
            if last:
                self._end_local(stream)
                return True
        if stream.pending_trailers is not None:
            trailers = stream.pending_trailers
            stream.pending_trailers = None
            stream.local_ended = False
            self._emit_headers(stream, trailers, True)
        return True

    def _flush_blocked(self, events: list[Event]) -> None:
        if not self._blocked or self._send_window <= 0:
            return
        for stream in list(self._blocked.values()):
            if self._send_window <= 0:
                break
            if stream.send_window <= 0 and stream.pending_size:
                continue
            if self._flush_stream(stream):
                self._blocked.pop(stream.stream_id, None)
                events.append(SendBufferDrained(stream.stream_id))

    def _end_local(self, stream: Stream) -> None:
        nxt = TABLE[stream.state][_SEND_END]
        stream.state = nxt
        if nxt == _CLOSED:
            self._forget(stream, ClosedReason.END_STREAM)

    def reset_stream(self, stream_id: int, error_code: ErrorCode = ErrorCode.CANCEL) -> None:
        """Abort a stream with RST_STREAM. Resetting a stream already closed does nothing."""
        self._ensure_open()
        stream = self._streams.get(stream_id)
        if stream is None:
            if self._is_past_stream(stream_id):
                return
            raise StreamClosedError(stream_id, "cannot reset an idle stream")
        self._out.append(F.build_rst_stream(stream_id, error_code))
        self._forget(stream, ClosedReason.RESET_SENT)

    def acknowledge_received_data(self, stream_id: int, length: int) -> None:
        """Hand back `length` flow-controlled octets the application has consumed."""
        if length <= 0 or self._closed:
            return
        self._recv_unacked += length
        if self._recv_unacked >= self._connection_ack_threshold:
            self._out.append(F.build_window_update(0, self._recv_unacked))
            self._recv_window += self._recv_unacked
            self._recv_unacked = 0
        stream = self._streams.get(stream_id)
        if stream is None or stream.state in (_HALF_CLOSED_REMOTE, _CLOSED):
            return
        stream.recv_unacked += length
        if stream.recv_unacked >= self._local_initial_window // 2:
            self._out.append(F.build_window_update(stream_id, stream.recv_unacked))
            stream.recv_window += stream.recv_unacked
            stream.recv_unacked = 0

    def ping(self, data: bytes) -> None:
        if len(data) != 8:
            raise UsageError("PING data must be exactly 8 octets")
        self._ensure_open()
        self._out.append(F.build_ping(data))

    def close_connection(
        self,
        error_code: ErrorCode = ErrorCode.NO_ERROR,
        additional_data: bytes = b"",
        last_stream_id: int | None = None,
    ) -> None:
        """Send GOAWAY. With NO_ERROR, streams up to `last_stream_id` (default: the highest the
        peer opened) may still complete; no new ones are accepted."""
        if self._closed:
            return
        if last_stream_id is None:
            last_stream_id = self._highest_peer_id
        if self._goaway_sent_last_id is not None:
            last_stream_id = min(last_stream_id, self._goaway_sent_last_id)
        self._goaway_sent_last_id = last_stream_id
        self._out.append(F.build_goaway(last_stream_id, error_code, additional_data))
        if error_code != ErrorCode.NO_ERROR:
            self._closed = True

    def start_graceful_shutdown(
        self, ping_data: bytes = b"shutdown", additional_data: bytes = b""
    ) -> None:
        """First phase of a graceful shutdown: GOAWAY with the maximum stream id and a PING.
        When the PING's ACK arrives (every stream the peer started before is then known),
        call `close_connection()` for the second GOAWAY."""
        if self._goaway_sent_last_id is not None or self._closed:
            return
        self._goaway_sent_last_id = F.MAX_STREAM_ID
        self._out.append(F.build_goaway(F.MAX_STREAM_ID, ErrorCode.NO_ERROR, additional_data))
        self.ping(ping_data)

    def check_timers(self, now: float) -> None:
        """Drive time-based rules; call it at least once a second while open.

        Raises `SettingsTimeoutError` (GOAWAY queued) when our SETTINGS went unacknowledged
        for `settings_timeout` seconds.
        """
        if self._closed:
            return
        sent = self._settings_sent_at
        for index, when in enumerate(sent):
            if when is None:
                sent[index] = now
        if sent and sent[0] is not None and now - sent[0] > self.config.settings_timeout:
            error = SettingsTimeoutError("SETTINGS not acknowledged in time")
            self._connection_error(error)
            raise error
        if self._reset_window_start is None:
            self._reset_window_start = now
        elif now - self._reset_window_start >= self.config.reset_window_seconds:
            self._reset_window_start = now
            self._resets_in_window = 0

    def _ensure_open(self) -> None:
        if self._closed:
            raise ConnectionClosedError("the connection is closed")

    # ----------------------------------------------------------------- receiving

    def receive_data(self, data: bytes) -> list[Event]:
        """Process bytes from the peer; return the events they produce, in order."""
        if self._closed:
            return []
        if self._inbuf:
            data = self._inbuf + data
            self._inbuf = b""
        events: list[Event] = []
        try:
            pos = 0
            if self._preface_pending:
                if len(data) < _PREFACE_LEN:
                    if not F.CLIENT_PREFACE.startswith(data):
                        raise ProtocolError("invalid connection preface")
                    self._inbuf = data
                    return events
                if data[:_PREFACE_LEN] != F.CLIENT_PREFACE:
                    raise ProtocolError("invalid connection preface")
                self._preface_pending = False
                pos = _PREFACE_LEN
            end = len(data)
            while end - pos >= 9:
                hi, lo, ftype, flags, sid = _unpack_header(data, pos)
                length = (hi << 8) | lo
                if length > self._max_inbound_frame:
                    raise FrameSizeError(f"frame of {length} octets exceeds MAX_FRAME_SIZE")
                if end - pos - 9 < length:
                    break
                start = pos + 9
                pos = start + length
                sid &= 0x7FFFFFFF
                if self._frame_gate and ftype != self._frame_gate:
                    if self._frame_gate == _CONTINUATION:
                        raise ProtocolError("header block interrupted by another frame")
                    raise ProtocolError("the first frame from the peer must be SETTINGS")
                try:
                    if ftype == _DATA:
                        stream = self._streams.get(sid)
                        if (
                            stream is None
                            or flags & _PADDED
                            or not 0 < length <= self._recv_window
                            or length > stream.recv_window
                            or stream.content_length != -1  # -1: final headers, no length
                            or stream.state not in _DATA_STATES
                        ):
                            self._on_data(data, start, length, flags, sid, events)
                            continue
                        # `_on_data` for what passes every check there: not padded, not
                        # empty, within the windows, after final headers without
                        # content-length, in a state for DATA.
                        self._recv_window -= length
                        self._empty_data_frames = 0
                        stream.recv_window -= length
                        end_stream = flags & _END_STREAM == _END_STREAM
                        events.append(data_received(sid, data[start:pos], length, end_stream))
                        if end_stream:
                            if stream.state == _OPEN:
                                stream.state = _HALF_CLOSED_REMOTE
                            else:
                                stream.state = _CLOSED
                                self._forget(stream, _ENDED)
                    elif ftype == _HEADERS:
                        if flags & 0x2C == _HEADERS_END_MASK and sid:  # no padding or priority
                            self._on_header_block(sid, flags, data[start:pos], False, events)
                        else:
                            self._on_headers(data, start, length, flags, sid, events)
                    else:
                        handler = _HANDLERS.get(ftype)
                        # Unknown frame types are ignored (section 5.5).
                        if handler is not None:
                            handler(self, data[start:pos], flags, sid, events)
                except _StreamError as exc:
                    self._stream_error(exc, events)
            if pos < end:
                self._inbuf = data[pos:]
            if self._control_queued > self.config.max_control_frames_queued:
                raise CalmError("too many control frames queued for the peer")
        except ProtocolError as exc:
            self._connection_error(exc)
            raise
        except (ValueError, IndexError, struct.error, UnicodeError) as exc:
            # Belt and braces: nothing the peer sends may escape as anything else.
            error = ProtocolError(f"malformed input: {exc}")
            self._connection_error(error)
            raise error from exc
        if self._blocked:
            self._flush_blocked(events)
        return events

    def _connection_error(self, exc: ProtocolError) -> None:
        if self._closed:
            return
        self._goaway_sent_last_id = self._highest_peer_id
        self._out.append(
            F.build_goaway(self._highest_peer_id, exc.error_code, str(exc).encode()[:256])
        )
        self._closed = True

    def _stream_error(self, exc: _StreamError, events: list[Event]) -> None:
        stream_id = exc.stream_id
        if stream_id not in self._streams and not self._is_past_stream(stream_id):
            # No RST_STREAM may name an idle stream (6.4); a stream error may always be
            # treated as a connection error instead (5.4.1).
            raise ProtocolError(str(exc), exc.code)
        self._out.append(F.build_rst_stream(stream_id, exc.code))
        self._control_queued += 1
        stream = self._streams.get(stream_id)
        if stream is not None:
            self._forget(stream, ClosedReason.RESET_SENT)
            events.append(StreamReset(stream_id, exc.code, remote=False))
        else:
            self._remember_closed(stream_id, ClosedReason.RESET_SENT)

    def _count_reset(self) -> None:
        self._resets_in_window += 1
        if self._resets_in_window > self.config.max_resets_per_window:
            raise CalmError("too many streams reset (rapid reset)")

    # -- DATA

    def _on_data(
        self, data: bytes, start: int, length: int, flags: int, sid: int, events: list[Event]
    ) -> None:
        if sid == 0:
            raise ProtocolError("DATA on stream 0")
        flow_len = length
        if flags & F.FLAG_PADDED:
            if length < 1:
                raise FrameSizeError("padded DATA without pad length")
            pad = data[start]
            if pad >= length:
                raise ProtocolError("DATA padding exceeds the payload")
            payload = data[start + 1 : start + length - pad]
        else:
            payload = data[start : start + length]
        if flow_len > self._recv_window:
            raise FlowControlError("DATA exceeds the connection receive window")
        self._recv_window -= flow_len
        end_stream = flags & F.FLAG_END_STREAM == F.FLAG_END_STREAM
        if flow_len == 0 and not end_stream:
            self._empty_data_frames += 1
            if self._empty_data_frames > self.config.max_empty_data_frames:
                raise CalmError("too many empty DATA frames")
        else:
            self._empty_data_frames = 0
        stream = self._streams.get(sid)
        if stream is None:
            # Nobody will consume it: give the connection window back at once.
            self.acknowledge_received_data(0, flow_len)
            self._frame_on_missing_stream(sid, F.DATA)
            return
        nxt = TABLE[stream.state][_RECV_DATA]
        if nxt < 0:
            self.acknowledge_received_data(0, flow_len)
            raise _StreamError(sid, ErrorCode.STREAM_CLOSED, "DATA after END_STREAM")
        if not stream.final_headers_received:
            self.acknowledge_received_data(0, flow_len)
            raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "DATA before headers")
        if flow_len > stream.recv_window:
            self.acknowledge_received_data(0, flow_len)
            raise _StreamError(sid, ErrorCode.FLOW_CONTROL_ERROR, "DATA exceeds stream window")
        stream.recv_window -= flow_len
        if stream.content_length >= 0:
            stream.data_received += len(payload)
            if stream.data_received > stream.content_length or (
                end_stream and stream.data_received != stream.content_length
            ):
                self.acknowledge_received_data(0, flow_len)
                raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "content-length mismatch")
        events.append(data_received(sid, payload, flow_len, end_stream))
        if end_stream:
            stream.state = nxt = TABLE[stream.state][_RECV_END]
            if nxt == _CLOSED:
                self._forget(stream, ClosedReason.END_STREAM)

    # -- HEADERS and CONTINUATION

    def _on_headers(
        self, data: bytes, start: int, length: int, flags: int, sid: int, events: list[Event]
    ) -> None:
        if sid == 0:
            raise ProtocolError("HEADERS on stream 0")
        end = start + length
        if flags & F.FLAG_PADDED:
            # Too short for the pad length (and priority fields) is a frame size error (4.2);
            # padding longer than what remains for the fragment a PROTOCOL_ERROR (6.2).
            fixed = 5 if flags & F.FLAG_PRIORITY else 0
            if length < 1 + fixed:
                raise FrameSizeError("HEADERS too short for its pad length and priority fields")
            pad = data[start]
            start += 1
            end -= pad
            if end < start + fixed:
                raise ProtocolError("HEADERS padding exceeds the payload")
        priority_problem = False
        if flags & F.FLAG_PRIORITY:
            if end - start < 5:
                raise FrameSizeError("HEADERS too short for its priority fields")
            depends_on = _unpack_u32(data, start)[0] & 0x7FFFFFFF
            priority_problem = depends_on == sid
            start += 5
        fragment = data[start:end]
        if flags & _HEADERS_END_MASK:
            self._on_header_block(sid, flags, fragment, priority_problem, events)
        else:
            self._hb_stream = sid
            self._frame_gate = _CONTINUATION
            self._hb_flags = flags | (0x100 if priority_problem else 0)
            self._hb_fragments = [fragment]
            self._hb_size = len(fragment)
            self._hb_count = 0

    def _on_continuation(self, payload: bytes, flags: int, sid: int, events: list[Event]) -> None:
        if not self._hb_stream or sid != self._hb_stream:
            raise ProtocolError("CONTINUATION without a header block in progress")
        self._hb_count += 1
        self._hb_size += len(payload)
        if self._hb_count > self.config.max_continuation_frames:
            raise CalmError("too many CONTINUATION frames in one header block")
        if self._hb_size > self.config.max_header_block_size:
            raise CalmError("header block too large")
        self._hb_fragments.append(payload)
        if flags & F.FLAG_END_HEADERS:
            block = b"".join(self._hb_fragments)
            hb_flags = self._hb_flags
            self._hb_stream = 0
            self._frame_gate = 0
            self._hb_fragments = []
            self._on_header_block(sid, hb_flags, block, bool(hb_flags & 0x100), events)

    def _on_header_block(
        self, sid: int, flags: int, block: bytes, priority_problem: bool, events: list[Event]
    ) -> None:
        # Decode first, always: the HPACK state must follow every block the peer sent.
        headers: Headers | None
        try:
            headers = self._decoder.decode(block)
        except HeaderListTooLargeError:
            headers = None  # over MAX_HEADER_LIST_SIZE: a stream error, decided below
        except CompressionError:
            raise
        except ProtocolError as exc:
            raise CompressionError(str(exc)) from exc
        end_stream = flags & F.FLAG_END_STREAM == F.FLAG_END_STREAM
        stream = self._streams.get(sid)
        if stream is None:
            stream = self._open_remote_stream(sid)
            if stream is None:
                return
            if priority_problem:
                raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "stream depends on itself")
            if headers is None:
                raise _StreamError(sid, ErrorCode.ENHANCE_YOUR_CALM, "header list too large")
            if self._decoder.split is None and not self.client_side:
                cached = self._valid_header_sets.get(id(headers))
                if cached is not None and cached[0] is headers and not (end_stream and cached[1]):
                    # `_first_headers_event` for request headers validated before
                    stream.final_headers_received = True
                    stream.content_length = cached[1]
                    events.append(request_received(sid, headers, end_stream, headers, None))
                    stream.state = _HALF_CLOSED_REMOTE if end_stream else _OPEN
                    return
        else:
            if priority_problem:
                raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "stream depends on itself")
            if TABLE[stream.state][_RECV_HEADERS] < 0:
                raise _StreamError(sid, ErrorCode.STREAM_CLOSED, "HEADERS after END_STREAM")
            if headers is None:
                raise _StreamError(sid, ErrorCode.ENHANCE_YOUR_CALM, "header list too large")
        state = stream.state
        event: Event
        if state == _IDLE:
            stream.state = _OPEN
            split = self._decoder.split
            if split is not None and not self.client_side:
                event = self._request_event(stream, headers, end_stream, split)
            else:
                event = self._first_headers_event(stream, headers, end_stream)
        elif not stream.final_headers_received:
            event = self._first_headers_event(stream, headers, end_stream)
        else:
            if not end_stream:
                raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM")
            if self._valid_trailer_sets.get(id(headers)) is not headers:
                problem = check_trailers(headers)
                if problem:
                    raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, problem)
                if len(self._valid_trailer_sets) >= 64:
                    self._valid_trailer_sets.clear()
                self._valid_trailer_sets[id(headers)] = headers
            if stream.content_length >= 0 and stream.data_received != stream.content_length:
                raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "content-length mismatch")
            event = TrailersReceived(sid, headers)
        events.append(event)
        if end_stream:
            stream.state = nxt = TABLE[stream.state][_RECV_END]
            if nxt == _CLOSED:
                self._forget(stream, ClosedReason.END_STREAM)

    def _request_event(
        self, stream: Stream, headers: Headers, end_stream: bool, split: Split
    ) -> RequestReceived:
        """`_first_headers_event` for request headers with grpc-timeout: validation is cached
        for the headers without it (`split[0]`), the timeout's value checked on its own."""
        base, value, position = split
        cached = self._valid_bases.get(id(base))
        if (
            cached is not None
            and cached[0] is base
            and position >= cached[2]  # after the pseudo-headers
            and len(headers) == len(base) + 1  # the only one
            and value.isalnum()  # no CR, LF, NUL or whitespace
        ):
            length = cached[1]
        else:
            found = check_request(headers)
            if isinstance(found, str):
                raise _StreamError(stream.stream_id, ErrorCode.PROTOCOL_ERROR, found)
            length = found
            # Valid with the grpc-timeout fields, so valid without: they are regular fields.
            pseudo = 0
            for name, _ in base:
                if name[:1] == ":":
                    pseudo += 1
            if len(self._valid_bases) >= 64:
                self._valid_bases.clear()
            self._valid_bases[id(base)] = (base, length, pseudo)
        stream.final_headers_received = True
        stream.content_length = length
        if end_stream and length > 0:
            raise _StreamError(
                stream.stream_id, ErrorCode.PROTOCOL_ERROR, "content-length mismatch"
            )
        return request_received(stream.stream_id, headers, end_stream, base, value)

    def _first_headers_event(self, stream: Stream, headers: Headers, end_stream: bool) -> Event:
        sid = stream.stream_id
        cached = self._valid_header_sets.get(id(headers))
        if cached is not None and cached[0] is headers:
            length = cached[1]
        else:
            found = check_response(headers) if self.client_side else check_request(headers)
            if isinstance(found, str):
                raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, found)
            length = found
            if len(self._valid_header_sets) >= 64:
                self._valid_header_sets.clear()
            self._valid_header_sets[id(headers)] = (headers, length)
        if self.client_side:
            status = headers[0][1]
            if status[0] == "1":
                if end_stream:
                    raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "1xx with END_STREAM")
                return InformationalResponseReceived(sid, headers)
            stream.final_headers_received = True
            stream.content_length = length
            if end_stream and length > 0:
                raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "content-length mismatch")
            return ResponseReceived(sid, headers, end_stream)
        stream.final_headers_received = True
        stream.content_length = length
        if end_stream and length > 0:
            raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "content-length mismatch")
        return request_received(sid, headers, end_stream, headers, None)

    def _open_remote_stream(self, sid: int) -> Stream | None:
        """A header block for a stream we do not hold: open it, or decide it is late or
        illegal. None means the frame is to be ignored."""
        if (
            self.client_side
            or not sid & 1
            or sid <= self._highest_peer_id
            or self._goaway_sent_last_id is not None
            or self._peer_open >= self._max_inbound_streams
        ):
            return self._open_remote_stream_irregular(sid)
        self._highest_peer_id = sid
        stream = new_stream(sid, self._peer_initial_window, self._local_initial_window)
        self._streams[sid] = stream
        self._peer_open += 1
        return stream

    def _open_remote_stream_irregular(self, sid: int) -> Stream | None:
        """`_open_remote_stream` for a client, or a server that may have to refuse."""
        if self.client_side:
            if sid % 2 == 1 and sid < self._next_local_id:
                self._frame_on_missing_stream(sid, F.HEADERS)
                return None
            raise ProtocolError(f"HEADERS on stream {sid}, which this client never opened")
        if sid % 2 == 0:
            raise ProtocolError(f"client opened even-numbered stream {sid}")
        if sid <= self._highest_peer_id:
            if self._closed_reason(sid) is None and not self._closed_forgotten:
                # Never opened (no closed stream was forgotten yet): a new stream whose id
                # went backwards, an unexpected stream identifier (5.1.1).
                raise ProtocolError(f"new stream {sid} below stream {self._highest_peer_id}")
            self._frame_on_missing_stream(sid, F.HEADERS)
            return None
        self._highest_peer_id = sid
        if self._goaway_sent_last_id is not None and sid > self._goaway_sent_last_id:
            # After our GOAWAY new streams are ignored (section 6.8), and so are their frames.
            self._remember_closed(sid, ClosedReason.RESET_SENT)
            return None
        if self._peer_open >= self._max_inbound_streams:
            self._count_reset()
            raise _StreamError(sid, ErrorCode.REFUSED_STREAM, "too many concurrent streams")
        stream = new_stream(sid, self._peer_initial_window, self._local_initial_window)
        self._streams[sid] = stream
        self._peer_open += 1
        return stream

    def _is_past_stream(self, sid: int) -> bool:
        """Whether `sid` belongs to a stream opened and closed earlier."""
        if sid % 2 == (1 if self.client_side else 0):
            return sid < self._next_local_id
        return sid <= self._highest_peer_id

    def _frame_on_missing_stream(self, sid: int, ftype: int) -> None:
        """DATA or HEADERS on a stream not open: late frames after our reset are ignored,
        frames on idle streams are connection errors, anything else a stream error."""
        reason = self._closed_reason(sid)
        if reason == ClosedReason.RESET_SENT:
            return
        if not self._is_past_stream(sid):
            name = F.FRAME_NAMES[ftype]
            raise ProtocolError(f"{name} on idle stream {sid}")
        if reason == ClosedReason.END_STREAM:
            raise ProtocolError(
                f"{F.FRAME_NAMES[ftype]} on closed stream {sid}", ErrorCode.STREAM_CLOSED
            )
        raise _StreamError(sid, ErrorCode.STREAM_CLOSED, f"frame on closed stream {sid}")

    # -- the other frame types; each takes (payload, flags, stream id, events)

    def _on_priority(self, payload: bytes, flags: int, sid: int, events: list[Event]) -> None:
        if sid == 0:
            raise ProtocolError("PRIORITY on stream 0")
        if len(payload) != 5:
            raise _StreamError(sid, ErrorCode.FRAME_SIZE_ERROR, "PRIORITY must be 5 octets")
        raw = _unpack_u32(payload, 0)[0]
        depends_on = raw & 0x7FFFFFFF
        if depends_on == sid:
            raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "stream depends on itself")
        events.append(PriorityReceived(sid, depends_on, payload[4] + 1, bool(raw >> 31)))

    def _on_rst_stream(self, payload: bytes, flags: int, sid: int, events: list[Event]) -> None:
        if sid == 0:
            raise ProtocolError("RST_STREAM on stream 0")
        if len(payload) != 4:
            raise FrameSizeError("RST_STREAM must be 4 octets")
        stream = self._streams.get(sid)
        if stream is None:
            if not self._is_past_stream(sid):
                raise ProtocolError(f"RST_STREAM on idle stream {sid}")
            return
        code = error_code(_unpack_u32(payload, 0)[0])
        if not self.client_side:
            self._count_reset()
        self._forget(stream, ClosedReason.RESET_RECEIVED)
        events.append(StreamReset(sid, code, remote=True))

    def _on_settings(self, payload: bytes, flags: int, sid: int, events: list[Event]) -> None:
        if sid != 0:
            raise ProtocolError("SETTINGS on a stream")
        if flags & F.FLAG_ACK:
            if payload:
                raise FrameSizeError("SETTINGS ACK with a payload")
            if not self._pending_local_settings:
                raise ProtocolError("SETTINGS ACK without SETTINGS outstanding")
            self._settings_sent_at.popleft()
            events.append(
                SettingsAcknowledged(self._apply_local(self._pending_local_settings.popleft()))
            )
            return
        if len(payload) % 6:
            raise FrameSizeError("SETTINGS length is not a multiple of 6")
        changed: dict[int, int] = {}
        for offset in range(0, len(payload), 6):
            code, value = _unpack_setting(payload, offset)
            check_setting(code, value)
            if code == SettingCode.ENABLE_PUSH and value == 1 and self.client_side:
                raise ProtocolError("a server may not enable push")
            changed[code] = value
        self._frame_gate = 0  # no header block can be in progress: this is not CONTINUATION
        self._apply_remote(changed)
        self._out.append(F.SETTINGS_ACK)
        self._control_queued += 1
        events.append(RemoteSettingsChanged(changed))

    def _apply_remote(self, changed: dict[int, int]) -> None:
        self._response_memo = None  # made for the old frame size and header list limit
        for code, value in changed.items():
            self.remote_settings[code] = value
            if code == SettingCode.INITIAL_WINDOW_SIZE:
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                for stream in self._streams.values():
                    stream.send_window += delta
                    if stream.send_window > F.MAX_WINDOW:
                        raise FlowControlError("INITIAL_WINDOW_SIZE overflows a stream window")
            elif code == SettingCode.MAX_FRAME_SIZE:
                self._peer_max_frame = value
            elif code == SettingCode.MAX_CONCURRENT_STREAMS:
                self._peer_max_streams = value
            elif code == SettingCode.MAX_HEADER_LIST_SIZE:
                self._peer_max_header_list = value
                self._encoder.forget_blocks()  # cached blocks were checked against the old one
            elif code == SettingCode.HEADER_TABLE_SIZE:
                self._encoder.set_max_table_size(min(value, self.config.encoder_max_table_size))

    def _apply_local(self, settings: dict[int, int]) -> dict[int, int]:
        for code, value in settings.items():
            self.local_settings[code] = value
            if code == SettingCode.INITIAL_WINDOW_SIZE:
                delta = value - self._local_initial_window
                self._local_initial_window = value
                for stream in self._streams.values():
                    stream.recv_window += delta
                    # Octets already handed back may now reach the (smaller) threshold of
                    # `acknowledge_received_data`; hold them back and the peer may wait forever.
                    unacked = stream.recv_unacked
                    if (
                        unacked
                        and unacked >= value // 2
                        and stream.state in (_OPEN, _HALF_CLOSED_LOCAL)
                    ):
                        self._out.append(F.build_window_update(stream.stream_id, unacked))
                        stream.recv_window += unacked
                        stream.recv_unacked = 0
            elif code == SettingCode.MAX_CONCURRENT_STREAMS:
                self._max_inbound_streams = value
            elif code == SettingCode.MAX_FRAME_SIZE:
                self._max_inbound_frame = value
            elif code == SettingCode.HEADER_TABLE_SIZE:
                self._decoder.max_table_size = value
            elif code == SettingCode.MAX_HEADER_LIST_SIZE:
                self._decoder.max_header_list_size = value
        return settings

    def _on_push_promise(self, payload: bytes, flags: int, sid: int, events: list[Event]) -> None:
        raise ProtocolError("PUSH_PROMISE received, but push is disabled")

    def _on_ping(self, payload: bytes, flags: int, sid: int, events: list[Event]) -> None:
        if sid != 0:
            raise ProtocolError("PING on a stream")
        if len(payload) != 8:
            raise FrameSizeError("PING must be 8 octets")
        if flags & F.FLAG_ACK:
            events.append(PingAckReceived(payload))
            return
        self._out.append(F.build_ping(payload, ack=True))
        self._control_queued += 1
        events.append(PingReceived(payload))

    def _on_goaway(self, payload: bytes, flags: int, sid: int, events: list[Event]) -> None:
        if sid != 0:
            raise ProtocolError("GOAWAY on a stream")
        if len(payload) < 8:
            raise FrameSizeError("GOAWAY shorter than 8 octets")
        last_id, code = _unpack_goaway(payload, 0)
        last_id &= 0x7FFFFFFF
        if self._goaway_received_last_id is not None:
            last_id = min(last_id, self._goaway_received_last_id)
        self._goaway_received_last_id = last_id
        mine = 1 if self.client_side else 0
        for stream in list(self._streams.values()):
            if stream.stream_id > last_id and stream.stream_id % 2 == mine:
                self._forget(stream, ClosedReason.RESET_RECEIVED)
                events.append(StreamReset(stream.stream_id, ErrorCode.REFUSED_STREAM, True))
        events.append(ConnectionTerminated(error_code(code), last_id, payload[8:]))

    def _on_window_update(self, payload: bytes, flags: int, sid: int, events: list[Event]) -> None:
        if len(payload) != 4:
            raise FrameSizeError("WINDOW_UPDATE must be 4 octets")
        increment = _unpack_u32(payload, 0)[0] & 0x7FFFFFFF
        if sid == 0:
            if increment == 0:
                raise ProtocolError("WINDOW_UPDATE with zero increment on the connection")
            self._send_window += increment
            if self._send_window > F.MAX_WINDOW:
                raise FlowControlError("connection send window exceeds 2^31-1")
            return
        stream = self._streams.get(sid)
        if stream is None:
            if not self._is_past_stream(sid):
                raise ProtocolError(f"WINDOW_UPDATE on idle stream {sid}")
            return
        if increment == 0:
            raise _StreamError(sid, ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE with zero increment")
        stream.send_window += increment
        if stream.send_window > F.MAX_WINDOW:
            raise _StreamError(sid, ErrorCode.FLOW_CONTROL_ERROR, "stream window exceeds 2^31-1")

    # -- stream bookkeeping

    def _forget(self, stream: Stream, reason: ClosedReason) -> None:
        sid = stream.stream_id
        stream.state = _CLOSED
        if stream.pending is not None:
            stream.pending = None
            stream.pending_size = 0
        stream.pending_trailers = None
        if self._streams.pop(sid, None) is None:
            return
        if self._blocked:
            self._blocked.pop(sid, None)
        if (sid & 1 == 1) == self.client_side:
            self._local_open -= 1
        else:
            self._peer_open -= 1
        recent = self._closed_recent
        recent[sid] = reason
        if len(recent) >= self.config.closed_streams_remembered:
            self._rotate_closed()

    def _remember_closed(self, sid: int, reason: ClosedReason) -> None:
        self._closed_recent[sid] = reason
        if len(self._closed_recent) >= self.config.closed_streams_remembered:
            self._rotate_closed()

    def _rotate_closed(self) -> None:
        self._closed_forgotten = bool(self._closed_older)
        self._closed_older = self._closed_recent
        self._closed_recent = {}

    def _closed_reason(self, sid: int) -> ClosedReason | None:
        reason = self._closed_recent.get(sid)
        return reason if reason is not None else self._closed_older.get(sid)


_Handler = Callable[[H2Connection, bytes, int, int, list[Event]], None]
_HANDLERS: dict[int, _Handler] = {
    F.PRIORITY: H2Connection._on_priority,
    F.RST_STREAM: H2Connection._on_rst_stream,
    F.SETTINGS: H2Connection._on_settings,
    F.PUSH_PROMISE: H2Connection._on_push_promise,
    F.PING: H2Connection._on_ping,
    F.GOAWAY: H2Connection._on_goaway,
    F.WINDOW_UPDATE: H2Connection._on_window_update,
    F.CONTINUATION: H2Connection._on_continuation,
}
