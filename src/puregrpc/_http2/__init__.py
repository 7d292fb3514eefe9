"""puregrpc's HTTP/2 engine (RFC 9113 framing and streams, RFC 7541 HPACK), sans-IO.

Feed bytes to `H2Connection.receive_data`, act on the events, queue frames with the `send_*`
methods and write what `data_to_send()` returns. Nothing here touches sockets, clocks or asyncio.
"""

from ._config import H2Config
from ._connection import H2Connection
from ._errors import (
    CalmError,
    CompressionError,
    ConnectionClosedError,
    ErrorCode,
    FlowControlError,
    FrameSizeError,
    H2Error,
    ProtocolError,
    SendBufferFullError,
    SettingsError,
    SettingsTimeoutError,
    StreamClosedError,
    UsageError,
)
from ._events import (
    ConnectionTerminated,
    DataReceived,
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
)
from ._settings import SettingCode
from ._stream import StreamState

__all__ = [
    "CalmError",
    "CompressionError",
    "ConnectionClosedError",
    "ConnectionTerminated",
    "DataReceived",
    "ErrorCode",
    "Event",
    "FlowControlError",
    "FrameSizeError",
    "H2Config",
    "H2Connection",
    "H2Error",
    "Headers",
    "InformationalResponseReceived",
    "PingAckReceived",
    "PingReceived",
    "PriorityReceived",
    "ProtocolError",
    "RemoteSettingsChanged",
    "RequestReceived",
    "ResponseReceived",
    "SendBufferDrained",
    "SendBufferFullError",
    "SettingCode",
    "SettingsAcknowledged",
    "SettingsError",
    "SettingsTimeoutError",
    "StreamClosedError",
    "StreamReset",
    "StreamState",
    "TrailersReceived",
    "UsageError",
]
