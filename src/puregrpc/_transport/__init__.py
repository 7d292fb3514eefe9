"""L3: the only asyncio I/O. `connection` (one HTTP/2 connection: the engine, writes, keepalive)
and `stream` (one stream, implementing the `streams` seams `ServerStream` and `ClientStream`),
`keepalive`, `credentials` (TLS contexts with ALPN h2), `memory` (the in-memory transport)."""
