"""puregrpc: gRPC in pure Python, asyncio native, with its own HTTP/2 engine.

Client: `Channel` and its multi-callables (or generated stubs). Server: `Server`,
`ServiceDefinition` and the `*_handler` factories. Errors: `RpcError` with a `StatusCode`.
See docs/api.md.
"""

from ._client.call import StreamStreamCall, StreamUnaryCall, UnaryStreamCall, UnaryUnaryCall
from ._client.channel import Channel
from ._client.interceptors import ClientCallDetails, ClientInterceptor
from ._client.multicallable import (
    StreamStreamMultiCallable,
    StreamUnaryMultiCallable,
    UnaryStreamMultiCallable,
    UnaryUnaryMultiCallable,
)
from ._rich import rich_status, status_details
from ._server.context import ServicerContext
from ._server.handlers import (
    MethodHandler,
    ServiceDefinition,
    stream_stream_handler,
    stream_unary_handler,
    unary_stream_handler,
    unary_unary_handler,
)
from ._server.interceptors import ServerInterceptor
from ._server.server import Server
from ._transport.credentials import channel_ssl_context, server_ssl_context
from ._vocab.codes import StatusCode
from ._vocab.errors import AbortError, MetadataError, RpcError
from ._vocab.metadata import Metadata, MetadataLike
from ._vocab.status import Status
from ._vocab.version import VERSION as __version__

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
