"""Status codes, the status an RPC ends with, and the exceptions that carry one (S1-S4)."""

from __future__ import annotations

import enum

from ._metadata import EMPTY, Metadata


class StatusCode(enum.IntEnum):
    """The 17 gRPC status codes (doc/statuscodes.md)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


def status_code(value: int) -> StatusCode:
    """The code for a `grpc-status` number; numbers outside 0-16 are UNKNOWN."""
    try:
        return StatusCode(value)
    except ValueError:
        return StatusCode.UNKNOWN


class Status:
    """How an RPC ended: code, details, trailing metadata, and the serialized
    `google.rpc.Status` of `grpc-status-details-bin` when the peer sent one (S4)."""

    __slots__ = ("code", "details", "rich", "trailing_metadata")

    def __init__(
        self,
        code: StatusCode,
        details: str = "",
        trailing_metadata: Metadata | None = None,
        rich: bytes | None = None,
    ) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata if trailing_metadata is not None else EMPTY
        self.rich = rich

    @property
    def ok(self) -> bool:
        return self.code == StatusCode.OK

    def __repr__(self) -> str:
        return f"Status({self.code.name}, {self.details!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return (self.code, self.details) == (other.code, other.details)

    __hash__ = None  # type: ignore[assignment]


class RpcError(Exception):
    """A call ended with a status other than OK. Raised by client calls.

    `code()`, `details()`, `initial_metadata()` and `trailing_metadata()` mirror grpcio's
    names so code written for `grpc.aio` keeps working.
    """

    def __init__(self, status: Status, initial_metadata: Metadata | None = None) -> None:
        super().__init__(f"{status.code.name}: {status.details}")
        self.status = status
        self._initial_metadata = initial_metadata if initial_metadata is not None else EMPTY

    def code(self) -> StatusCode:
        return self.status.code

    def details(self) -> str:
        return self.status.details

    def initial_metadata(self) -> Metadata:
        return self._initial_metadata

    def trailing_metadata(self) -> Metadata:
        return self.status.trailing_metadata


class AbortError(RpcError):
    """Raised by `ServicerContext.abort` inside a handler; the call ends with its status."""
