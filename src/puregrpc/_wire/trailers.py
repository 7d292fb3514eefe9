"""Trailers and the `Status` they carry, both ways (W16, W17, S4).

`trailers_for(status)` builds the fields a server ends a response with (`grpc-status` always,
`grpc-message` percent-encoded, trailing metadata, `grpc-status-details-bin`); `status_from`
reads them back on the client, with the HTTP status mapping when `grpc-status` is missing.
`retry_pushback` reads `grpc-retry-pushback-ms` (gRFC A6) for the retry machinery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .._vocab.codes import StatusCode, status_code
from .._vocab.metadata import Metadata, decode_binary, encode_binary
from .._vocab.status import Status
from .status_mapping import status_for_http
from .status_text import decode_message, encode_message

OK_TRAILERS: Sequence[tuple[str, str]] = (("grpc-status", "0"),)
OK = Status(StatusCode.OK)  # shared: a status is never changed once made


def trailers_for(status: Status) -> Sequence[tuple[str, str]]:
    """The trailer fields that carry `status` (also the tail of a Trailers-Only response)."""
    if status is OK or (
        status.code == StatusCode.OK
        and not status.details
        and not status.trailing_metadata
        and status.rich is None
    ):
        return OK_TRAILERS
    fields = [("grpc-status", str(int(status.code)))]
    if status.details:
        fields.append(("grpc-message", encode_message(status.details)))
    fields.extend(status.trailing_metadata.to_headers())
    if status.rich is not None:
        fields.append(("grpc-status-details-bin", encode_binary(status.rich)))
    return fields


def status_from(headers: Iterable[tuple[str, str]]) -> Status:
    """The status a response's trailers (or Trailers-Only headers) carry."""
    fields: dict[str, str] = {}
    for name, value in headers:
        fields.setdefault(name, value)
    raw = fields.get("grpc-status")
    if raw is None:
        http = fields.get(":status", "200")
        if http != "200" and http.isdigit():
            return Status(status_for_http(int(http)), f"HTTP status {http}")
        return Status(StatusCode.UNKNOWN, "server sent no grpc-status")
    code = status_code(int(raw)) if raw.isascii() and raw.isdigit() else StatusCode.UNKNOWN
    details = decode_message(fields.get("grpc-message", ""))
    rich = None
    if "grpc-status-details-bin" in fields:
        rich = decode_binary(fields["grpc-status-details-bin"])
    return Status(code, details, Metadata.from_headers(headers), rich)


def retry_pushback(headers: Iterable[tuple[str, str]]) -> float | None:
    """Seconds the server asks a retrying client to wait (`grpc-retry-pushback-ms`, gRFC A6);
    -1.0 when the value says not to retry (negative or malformed); None when absent."""
    for name, value in headers:
        if name == "grpc-retry-pushback-ms":
            if value.isascii() and value.isdigit():
                return int(value) / 1000.0
            return -1.0
    return None
