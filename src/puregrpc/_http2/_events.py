"""What `H2Connection.receive_data` reports. Each event is a small slotted record.

Stream events carry `stream_id`. Headers are tuples of `(name, value)` str pairs decoded from
the wire with UTF-8 and `surrogateescape`, so every byte survives a round trip; the same tuple
object may be handed out again for an identical header block, so never mutate it.
"""

from __future__ import annotations

from ._errors import ErrorCode

Headers = tuple[tuple[str, str], ...]

_new = object.__new__


class Event:
    __slots__ = ()

    def __repr__(self) -> str:
        names: tuple[str, ...] = self.__slots__
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({fields})"


class RequestReceived(Event):
    """Server side: a new stream opened by the client's request headers.

    `grpc_timeout` is the value of the first `grpc-timeout` field (None without one), and
    `stable_headers` the headers without any `grpc-timeout` field (`headers` itself when there
    is none). The timeout changes from call to call while the rest of a method's headers
    usually does not: on one connection, equal `stable_headers` are mostly the same tuple
    object, so a cache of what was parsed from them can be keyed on the object (hold the tuple
    and compare with `is`; an equal tuple may still come as a new object).
    """

    __slots__ = ("end_stream", "grpc_timeout", "headers", "stable_headers", "stream_id")

    def __init__(
        self,
        stream_id: int,
        headers: Headers,
        end_stream: bool,
        stable_headers: Headers | None = None,
        grpc_timeout: str | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.headers = headers
        self.end_stream = end_stream
        self.stable_headers = headers if stable_headers is None else stable_headers
        self.grpc_timeout = grpc_timeout


def request_received(
    stream_id: int,
    headers: Headers,
    end_stream: bool,
    stable_headers: Headers,
    grpc_timeout: str | None,
) -> RequestReceived:
    """`RequestReceived(...)` for the engine's hot path: without the class call and the
    `__init__` frame (creating a class instance costs an extra C-level call)."""
    event: RequestReceived = _new(RequestReceived)
    event.stream_id = stream_id
    event.headers = headers
    event.end_stream = end_stream
    event.stable_headers = stable_headers
    event.grpc_timeout = grpc_timeout
    return event


class ResponseReceived(Event):
    """Client side: the final (non-1xx) response headers."""

    __slots__ = ("end_stream", "headers", "stream_id")

    def __init__(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        self.stream_id = stream_id
        self.headers = headers
        self.end_stream = end_stream


class InformationalResponseReceived(Event):
    """Client side: a 1xx response; the final response is still to come."""

    __slots__ = ("headers", "stream_id")

    def __init__(self, stream_id: int, headers: Headers) -> None:
        self.stream_id = stream_id
        self.headers = headers


class TrailersReceived(Event):
    """A header block after the first one; it always ends the peer's side of the stream."""

    __slots__ = ("headers", "stream_id")

    def __init__(self, stream_id: int, headers: Headers) -> None:
        self.stream_id = stream_id
        self.headers = headers

    end_stream = True


class DataReceived(Event):
    """DATA payload. `flow_controlled_length` (payload plus padding) must be handed back to
    `acknowledge_received_data` once the application has consumed it, to reopen the window."""

    __slots__ = ("data", "end_stream", "flow_controlled_length", "stream_id")

    def __init__(
        self, stream_id: int, data: bytes, flow_controlled_length: int, end_stream: bool
    ) -> None:
        self.stream_id = stream_id
        self.data = data
        self.flow_controlled_length = flow_controlled_length
        self.end_stream = end_stream


def data_received(
    stream_id: int, data: bytes, flow_controlled_length: int, end_stream: bool
) -> DataReceived:
    """`DataReceived(...)` for the engine's hot path, as `request_received`."""
    event: DataReceived = _new(DataReceived)
    event.stream_id = stream_id
    event.data = data
    event.flow_controlled_length = flow_controlled_length
    event.end_stream = end_stream
    return event


class StreamReset(Event):
    """The stream is gone. `remote` tells whether the peer sent RST_STREAM or we did (a stream
    error the engine detected, or a stream refused by the peer's GOAWAY, whose code is then
    REFUSED_STREAM: such a request was never processed and is safe to retry)."""

    __slots__ = ("error_code", "remote", "stream_id")

    def __init__(self, stream_id: int, error_code: ErrorCode | int, remote: bool) -> None:
        self.stream_id = stream_id
        self.error_code = error_code
        self.remote = remote


class SendBufferDrained(Event):
    """A stream's DATA waiting for flow-control window has been sent down to the low-water
    mark (or fully); callers that stopped on back-pressure may send again."""

    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class RemoteSettingsChanged(Event):
    """The peer's SETTINGS were applied (and acknowledged); `changed` maps code -> new value."""

    __slots__ = ("changed",)

    def __init__(self, changed: dict[int, int]) -> None:
        self.changed = changed


class SettingsAcknowledged(Event):
    """The peer acknowledged our SETTINGS; `changed` is what took effect."""

    __slots__ = ("changed",)

    def __init__(self, changed: dict[int, int]) -> None:
        self.changed = changed


class PingReceived(Event):
    """The peer sent a PING; the ACK is already queued."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class PingAckReceived(Event):
    """The peer acknowledged one of our PINGs."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class ConnectionTerminated(Event):
    """The peer sent GOAWAY. Streams we opened above `last_stream_id` were already reported
    as `StreamReset(REFUSED_STREAM)`; those at or below it may still complete."""

    __slots__ = ("additional_data", "error_code", "last_stream_id")

    def __init__(
        self, error_code: ErrorCode | int, last_stream_id: int, additional_data: bytes
    ) -> None:
        self.error_code = error_code
        self.last_stream_id = last_stream_id
        self.additional_data = additional_data


class PriorityReceived(Event):
    """PRIORITY information (parsed, validated, otherwise ignored)."""

    __slots__ = ("depends_on", "exclusive", "stream_id", "weight")

    def __init__(self, stream_id: int, depends_on: int, weight: int, exclusive: bool) -> None:
        self.stream_id = stream_id
        self.depends_on = depends_on
        self.weight = weight
        self.exclusive = exclusive
