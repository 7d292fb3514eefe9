"""A message between the application and the wire, both ways, with its rules (C1-C9, W12).

* `encode_message`: serialize, check the send limit, compress when asked, frame.
* `decode_message`: check the compressed flag against the stream's `grpc-encoding`, decompress
  within the receive limit, deserialize. Failures raise `WireError` subclasses whose `code` is
  the status the call ends with (`puregrpc._wire.status_mapping.status_for_error`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._vocab.errors import DecodeError, MessageTooLargeError, WireError
from .compression import CODECS, IDENTITY
from .framing import frame_message

Serializer = Callable[[Any], bytes]
Deserializer = Callable[[bytes], Any]


def encode_message(
    message: Any,
    serialize: Serializer | None,
    encoding: str = IDENTITY,
    compress: bool = False,
    max_send: int | None = None,
) -> bytes:
    """`message` framed for the wire: serialized (`bytes(message)` without a serializer), at most
    `max_send` octets before compression (MessageTooLargeError beyond), compressed with
    `encoding` when `compress` and the encoding is not identity."""
    payload = serialize(message) if serialize is not None else bytes(message)
    if max_send is not None and len(payload) > max_send:
        raise MessageTooLargeError(f"sent message larger than max ({len(payload)} vs. {max_send})")
    if compress and encoding != IDENTITY:
        return frame_message(CODECS[encoding].compress(payload), True)
    return frame_message(payload)


def decode_message(
    compressed: bool,
    payload: bytes,
    encoding: str,
    max_receive: int,
    deserialize: Deserializer | None,
    what: str = "message",
) -> Any:
    """The application's value of a received message (`payload` itself without a deserializer).

    `encoding` is the stream's `grpc-encoding`, already known to be supported; `what` names the
    message in errors ("request", "response")."""
    if compressed:
        if encoding == IDENTITY:
            raise DecodeError("compressed message without grpc-encoding")
        try:
            payload = CODECS[encoding].decompress(payload, max_receive)
        except WireError:
            raise
        except Exception as exc:
            raise DecodeError(f"decompression failed: {exc}") from None
    if deserialize is None:
        return payload
    try:
        return deserialize(payload)
    except Exception as exc:
        raise DecodeError(f"could not parse {what}: {exc}") from None
