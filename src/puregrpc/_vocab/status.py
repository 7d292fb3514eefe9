"""The status an RPC ends with (S1-S4)."""

from __future__ import annotations

from .codes import StatusCode
from .metadata import EMPTY, Metadata


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
