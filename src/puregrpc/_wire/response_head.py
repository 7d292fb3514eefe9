"""The response's first header block, both ways (W7, W15, W17, W18, C5, C7).

Server: `response_headers` builds it (`PLAIN_RESPONSE_HEADERS` is the one tuple of the common
response, so the engine's caches know it); `http_error_headers` answers a request that is not
gRPC (W6). Client: `check_response_head` validates it (HTTP status, content-type, encoding) and
`plain_metadata` recognises the common plain head; `is_trailers_only` tells a Trailers-Only
response (the status in the only header block).
"""

from __future__ import annotations

from collections.abc import Sequence

from .._vocab.codes import StatusCode
from .._vocab.metadata import Metadata
from .._vocab.status import Status
from .compression import ACCEPT_ENCODING, IDENTITY, is_supported
from .content_type import GRPC, is_grpc
from .status_mapping import status_for_http
from .status_text import encode_message

Fields = Sequence[tuple[str, str]]

PLAIN_RESPONSE_HEADERS: Fields = (
    (":status", "200"),
    ("content-type", GRPC),
    ("grpc-accept-encoding", ACCEPT_ENCODING),
)


def response_headers(encoding: str = IDENTITY, extra: Fields = ()) -> Fields:
    """The head of a response compressed with `encoding`, followed by `extra` fields (initial
    metadata, or the trailers of a Trailers-Only response)."""
    if not extra and encoding == IDENTITY:
        return PLAIN_RESPONSE_HEADERS
    headers = [(":status", "200"), ("content-type", GRPC)]
    if encoding != IDENTITY:
        headers.append(("grpc-encoding", encoding))
    headers.append(("grpc-accept-encoding", ACCEPT_ENCODING))
    headers.extend(extra)
    return headers


def http_error_headers(http_status: int, message: str) -> Fields:
    """A complete answer to a request that is not gRPC (W6: 415), readable by gRPC clients."""
    return (
        (":status", str(http_status)),
        ("content-type", GRPC),
        ("grpc-status", str(int(StatusCode.UNKNOWN))),
        ("grpc-message", encode_message(message)),
    )


def is_trailers_only(headers: Fields, peer_ended: bool, trailers: Fields | None) -> bool:
    """Whether `headers` are a Trailers-Only response: the only block, carrying grpc-status."""
    return peer_ended and trailers is None and any(name == "grpc-status" for name, _ in headers)


def check_response_head(headers: Fields) -> tuple[Metadata, str] | Status:
    """(initial metadata, grpc-encoding) of a response head that is not Trailers-Only, or the
    status to end the call with: its HTTP status mapped (W18), a content-type that is not gRPC
    (UNKNOWN), an encoding we cannot read (INTERNAL, C5)."""
    fields = dict(headers)
    http = fields.get(":status", "")
    if http != "200":
        code = status_for_http(int(http)) if http.isdigit() else StatusCode.UNKNOWN
        return Status(code, f"HTTP status {http}")
    content_type = fields.get("content-type", "")
    if not is_grpc(content_type):
        return Status(StatusCode.UNKNOWN, f"invalid content-type {content_type!r}")
    encoding = fields.get("grpc-encoding", IDENTITY)
    if not is_supported(encoding):
        return Status(StatusCode.INTERNAL, f"unsupported grpc-encoding {encoding!r}")
    return Metadata.from_headers(headers), encoding


def plain_metadata(headers: Fields) -> Metadata | None:
    """The initial metadata of a plain head (a valid one without `grpc-encoding` other than
    identity), or None for any other head, which then goes through `check_response_head`."""
    checked = check_response_head(headers)
    if isinstance(checked, Status) or checked[1] != IDENTITY:
        return None
    return checked[0]
