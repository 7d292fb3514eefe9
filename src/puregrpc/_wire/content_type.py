"""Which protocol a request's `content-type` asks for (W6; doc/PROTOCOL-HTTP2.md,
doc/PROTOCOL-WEB.md, the Connect protocol).

`application/grpc` and `application/grpc+<subtype>` (optionally with `;` parameters) are native
gRPC; `application/grpc-web[+<subtype>]` and `application/grpc-web-text[+<subtype>]` are
gRPC-Web; `application/connect+<subtype>` (streaming) and `application/proto`/`application/json`
(unary) are Connect. Only native gRPC is served over HTTP/2 today: the others get 415 (W6).
"""

from __future__ import annotations

import enum

GRPC = "application/grpc"


class ContentType(enum.Enum):
    GRPC = "grpc"
    GRPC_WEB = "grpc-web"
    GRPC_WEB_TEXT = "grpc-web-text"
    CONNECT = "connect"
    OTHER = "other"


_CONNECT_UNARY = frozenset({"application/proto", "application/json"})


def classify(value: str | None) -> ContentType:
    """The protocol `value` names (OTHER for anything else, and for no content-type)."""
    if not value:
        return ContentType.OTHER
    media = value.partition(";")[0].strip()
    base, plus, subtype = media.partition("+")
    if plus and not subtype:
        return ContentType.OTHER
    if base == GRPC:
        return ContentType.GRPC
    if base == "application/grpc-web":
        return ContentType.GRPC_WEB
    if base == "application/grpc-web-text":
        return ContentType.GRPC_WEB_TEXT
    if (base == "application/connect" and plus) or (not plus and base in _CONNECT_UNARY):
        return ContentType.CONNECT
    return ContentType.OTHER


def is_grpc(value: str | None) -> bool:
    """Whether `value` is native gRPC's content-type (the common case checked first)."""
    return value == GRPC or classify(value) is ContentType.GRPC
