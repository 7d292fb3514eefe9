"""The request's header block, both ways (W1-W6, W8, C3, C4).

Client: `RequestHeaders` builds the fields of a call (pseudo-headers, `grpc-timeout` right after
them, then `content-type`, `user-agent`, `te`, encodings and metadata), one tuple per distinct
(path, encoding, metadata, timeout text), so the engine's HPACK encoder, which caches whole
blocks by the tuple, hits. `timeout_text` rounds timeouts of a second or more up to whole
milliseconds so that calls made within one millisecond share a tuple.

Server: `RequestHead.parse` reads and validates a request's fields but `grpc-timeout` (which
varies from call to call and is decoded per call): path, encodings, metadata, and the status to
answer at once when the request cannot be served (content-type W6, method, grpc-encoding C4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._vocab.codes import StatusCode
from .._vocab.deadline import encode_timeout
from .._vocab.metadata import EMPTY, Metadata
from .._vocab.status import Status
from .compression import ACCEPT_ENCODING, IDENTITY, is_supported, parse_accept_encoding
from .content_type import GRPC, ContentType, classify

Fields = Sequence[tuple[str, str]]
_LIMIT = 256  # header tuples cached per builder; emptied when full


def timeout_text(seconds: float) -> str:
    """The `grpc-timeout` value for `seconds`: from 1 s up, rounded up to whole milliseconds
    (grpc core rounds coarser still), so the calls of one millisecond share a header block;
    below 1 s exactly as `encode_timeout`. Never shorter than `seconds`."""
    if 1.0 <= seconds < 99_999.0:
        return f"{math.ceil(seconds * 1000.0)}m"
    return encode_timeout(seconds)


class RequestHeaders:
    """The request header tuples of one channel (scheme, authority and user-agent fixed)."""

    __slots__ = ("_authority", "_cache", "_scheme", "_user_agent")

    def __init__(self, scheme: str, authority: str, user_agent: str) -> None:
        self._scheme = scheme
        self._authority = authority
        self._user_agent = user_agent
        self._cache: dict[tuple[str, str, Metadata | None, str | None], Fields] = {}

    def build(
        self, path: str, timeout: float | None, metadata: Metadata, encoding: str = IDENTITY
    ) -> Fields:
        """The fields of a call to `path`: the same tuple object for the same arguments."""
        text = None if timeout is None else timeout_text(timeout)
        # (Metadata hashes in Python: spared for the common call without any.)
        key = (path, encoding, None if metadata is EMPTY else metadata, text)
        headers = self._cache.get(key)
        if headers is None:
            fields = [
                (":method", "POST"),
                (":scheme", self._scheme),
                (":path", path),
                (":authority", self._authority),
            ]
            if text is not None:
                fields.append(("grpc-timeout", text))
            fields.append(("content-type", GRPC))
            fields.append(("user-agent", self._user_agent))
            fields.append(("te", "trailers"))
            if encoding != IDENTITY:
                fields.append(("grpc-encoding", encoding))
            fields.append(("grpc-accept-encoding", ACCEPT_ENCODING))
            fields.extend(metadata.to_headers())
            if len(self._cache) >= _LIMIT:
                self._cache.clear()
            headers = self._cache[key] = tuple(fields)
        return headers


class RequestHead:
    """What a server needs from a request's fields but `grpc-timeout`. `problem` is the status
    to answer with at once (and `http_status` the HTTP status of that answer, 415 when the
    request is not gRPC at all); None when the call can go on to method lookup."""

    __slots__ = ("accept", "encoding", "http_status", "metadata", "path", "problem")

    path: str
    encoding: str
    accept: frozenset[str]
    metadata: Metadata
    problem: Status | None
    http_status: int

    @classmethod
    def parse(cls, headers: Fields) -> RequestHead:
        head = cls()
        fields: dict[str, str] = {}
        for name, value in headers:
            fields.setdefault(name, value)
        head.problem = None
        head.http_status = 200
        head.path = fields.get(":path", "")
        head.encoding = fields.get("grpc-encoding", IDENTITY)
        head.accept = parse_accept_encoding(fields.get("grpc-accept-encoding"))
        head.metadata = Metadata.from_headers(headers)
        content_type = fields.get("content-type", "")
        if content_type != GRPC and classify(content_type) is not ContentType.GRPC:
            head.http_status = 415  # W6
            head.problem = Status(StatusCode.UNKNOWN, f"invalid content-type {content_type!r}")
        elif fields.get(":method") != "POST":
            head.problem = Status(
                StatusCode.UNIMPLEMENTED, f"method {fields.get(':method')} not allowed"
            )
        elif not is_supported(head.encoding):
            head.problem = Status(  # C4: answered with our grpc-accept-encoding
                StatusCode.UNIMPLEMENTED, f"grpc-encoding {head.encoding!r} is not supported"
            )
        return head
