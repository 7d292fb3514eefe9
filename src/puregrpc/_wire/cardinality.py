"""How many messages a unary side may carry (S2): exactly one. A peer that sends none or more
than one ends the call UNIMPLEMENTED, on whichever side notices it."""

from __future__ import annotations

from .._vocab.codes import StatusCode
from .._vocab.status import Status


def no_message(what: str) -> Status:
    """The status when the peer's unary side ended without its one `what` message."""
    return Status(StatusCode.UNIMPLEMENTED, f"no {what} message")


def extra_message(what: str) -> Status:
    """The status when the peer's unary side carried more than one `what` message."""
    return Status(StatusCode.UNIMPLEMENTED, f"more than one {what} message")
