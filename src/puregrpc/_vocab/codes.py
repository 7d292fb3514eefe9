"""The 17 gRPC status codes (S1; doc/statuscodes.md)."""

from __future__ import annotations

import enum


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
