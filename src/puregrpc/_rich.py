"""Rich error details (S4): `google.rpc.Status` in the `grpc-status-details-bin` trailer,
interoperable with grpcio-status and grpc-go's `status.WithDetails`.

Needs `googleapis-common-protos` (`pip install 'puregrpc[status]'`); nothing else in puregrpc
does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._vocab.codes import StatusCode
from ._vocab.errors import RpcError
from ._vocab.metadata import Metadata, MetadataLike
from ._vocab.status import Status

if TYPE_CHECKING:
    from google.protobuf.message import Message
    from google.rpc import status_pb2


def _status_pb2() -> Any:
    try:
        from google.rpc import status_pb2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "rich error details need googleapis-common-protos: pip install 'puregrpc[status]'"
        ) from exc
    return status_pb2


def rich_status(
    code: StatusCode,
    message: str,
    details: Iterable[Message] = (),
    trailing_metadata: MetadataLike = (),
) -> Status:
    """A `Status` carrying a `google.rpc.Status` with `details` packed as `Any` messages;
    pass it to `context.abort_with_status`."""
    status_pb2 = _status_pb2()
    proto = status_pb2.Status(code=int(code), message=message)
    for detail in details:
        proto.details.add().Pack(detail)
    return Status(
        StatusCode(code), message, Metadata.of(trailing_metadata), proto.SerializeToString()
    )


def status_details(error: RpcError | Status) -> status_pb2.Status | None:
    """The `google.rpc.Status` a failed call carried, or None when it carried none.

    Raises ValueError when it disagrees with the call's own code (as grpcio-status does).
    """
    status = error.status if isinstance(error, RpcError) else error
    if status.rich is None:
        return None
    proto: status_pb2.Status = _status_pb2().Status.FromString(status.rich)
    if proto.code != int(status.code):
        raise ValueError(
            f"grpc-status-details-bin says code {proto.code}, the call ended with "
            f"{int(status.code)}"
        )
    return proto
