"""Interceptors: hooks around every call, on the client (`puregrpc._client.interceptors`) and on
the server (`puregrpc._server.interceptors`).

An interceptor overrides only the hooks it needs; the others cost nothing. For every kind of
call (unary or streaming either way) the hooks run:

* `on_call` once before anything is sent: read or change metadata, or refuse the call by
  raising (`RpcError` on the client, `context.abort(...)` on the server);
* `on_request` for each request message and `on_response` for each response message: observe
  it, return it or a replacement;
* `on_end` once with the final `Status`.

Order: with interceptors ``[a, b]``, `on_call` and `on_request` run a then b; `on_response`
and `on_end` run b then a (the first interceptor is the outermost, as in grpcio and grpc-go).
"""

from __future__ import annotations

from typing import Any


def overridden(interceptors: tuple[Any, ...], base: type, hook: str) -> tuple[Any, ...]:
    """The interceptors that override `hook` (so the others cost no await per message)."""
    default = getattr(base, hook)
    return tuple(i for i in interceptors if getattr(type(i), hook, default) is not default)
