"""puregrpc: gRPC in pure Python, asyncio native, with its own HTTP/2 engine.

Client: `Channel` and its multi-callables (or generated stubs). Server: `Server`,
`ServiceDefinition` and the `*_handler` factories. Errors: `RpcError` with a `StatusCode`.
See docs/api.md.
"""

__version__ = "0.1.0.dev0"

from ._channel import (
    Channel,
    StreamStreamCall,
    StreamStreamMultiCallable,
    StreamUnaryCall,
    StreamUnaryMultiCallable,
    UnaryStreamCall,
    UnaryStreamMultiCallable,
    UnaryUnaryCall,
    UnaryUnaryMultiCallable,
)
from ._credentials import channel_ssl_context, server_ssl_context
from ._handlers import (
    MethodHandler,
    ServiceDefinition,
    stream_stream_handler,
    stream_unary_handler,
    unary_stream_handler,
    unary_unary_handler,
)
from ._interceptors import ClientCallDetails, ClientInterceptor, ServerInterceptor
from ._metadata import Metadata, MetadataError, MetadataLike
from ._rich import rich_status, status_details
from ._server import Server, ServicerContext
from ._status import AbortError, RpcError, Status, StatusCode

__all__ = [
    "AbortError",
    "Channel",
    "ClientCallDetails",
    "ClientInterceptor",
    "Metadata",
    "MetadataError",
    "MetadataLike",
    "MethodHandler",
    "RpcError",
    "Server",
    "ServerInterceptor",
    "ServiceDefinition",
    "ServicerContext",
    "Status",
    "StatusCode",
    "StreamStreamCall",
    "StreamStreamMultiCallable",
    "StreamUnaryCall",
    "StreamUnaryMultiCallable",
    "UnaryStreamCall",
    "UnaryStreamMultiCallable",
    "UnaryUnaryCall",
    "UnaryUnaryMultiCallable",
    "__version__",
    "channel_ssl_context",
    "rich_status",
    "server_ssl_context",
    "status_details",
    "stream_stream_handler",
    "stream_unary_handler",
    "unary_stream_handler",
    "unary_unary_handler",
]
