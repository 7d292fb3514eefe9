"""L2: every gRPC rule, once, sans-IO (no sockets, no clock, no asyncio), used by the client,
the server and every fast path alike.

* `framing`: the Length-Prefixed-Message (W12), the streaming decoder with the receive limit.
* `codec`: a message to and from the wire (serialize, send limit, compress; decompress, receive
  limit, deserialize).
* `compression`: the registry of codings, the one `grpc-accept-encoding` parser, the response
  coding a client accepts (C1-C9).
* `cardinality`: a unary side carries exactly one message (S2).
* `request_head`: the request's fields, built by the client (cached tuples, timeout rounding),
  parsed and validated by the server.
* `response_head`: the response's first block: built, validated, Trailers-Only detected.
* `trailers`: trailers <-> `Status`; `grpc-retry-pushback-ms`.
* `status_text`: the `grpc-message` codec (W16).
* `status_mapping`: RST_STREAM codes, HTTP statuses and exceptions -> `Status` (W18, W20).
* `content_type`: which protocol a content-type names (gRPC, gRPC-Web, Connect, other).
* `targets`: channel targets and server listen addresses.
"""
