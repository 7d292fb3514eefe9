"""asyncio transports over puregrpc's sans-IO HTTP/2 engine.

For now a minimal HTTP/2 binding (`serve_h2`, `H2ClientConnection`); it grows into the gRPC
transport.
"""

from ._h2_binding import (
    ConnectionLostError,
    H2ClientConnection,
    H2Request,
    H2Response,
    H2Server,
    H2TransportError,
    Handler,
    StreamRefusedError,
    StreamResetError,
    serve_h2,
)

__all__ = [
    "ConnectionLostError",
    "H2ClientConnection",
    "H2Request",
    "H2Response",
    "H2Server",
    "H2TransportError",
    "Handler",
    "StreamRefusedError",
    "StreamResetError",
    "serve_h2",
]
