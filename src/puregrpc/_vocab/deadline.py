"""The `grpc-timeout` header codec (W5). Times are seconds as floats."""

from __future__ import annotations

import contextvars

from .errors import TimeoutFormatError

_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_MAX_VALUE = 99_999_999  # at most 8 digits
# Finest unit first: the first that fits in 8 digits keeps the most precision.
_ENCODE_ORDER = (("n", 1e9), ("u", 1e6), ("m", 1e3), ("S", 1.0), ("M", 1 / 60), ("H", 1 / 3600))


def encode_timeout(seconds: float) -> str:
    """`seconds` (> 0) as the shortest-unit `grpc-timeout` value of at most 8 digits,
    rounded up so the peer never sees a shorter deadline than ours."""
    if seconds <= 0:
        return "1n"
    for unit, scale in _ENCODE_ORDER:
        value = seconds * scale
        if value <= _MAX_VALUE:
            whole = int(value)
            return f"{whole if whole == value else whole + 1}{unit}"
    return f"{_MAX_VALUE}H"


def decode_timeout(text: str) -> float:
    """Seconds from a `grpc-timeout` value; `TimeoutFormatError` when it is malformed."""
    if len(text) < 2 or len(text) > 9:
        raise TimeoutFormatError(f"invalid grpc-timeout {text!r}")
    digits, unit = text[:-1], text[-1]
    scale = _UNITS.get(unit)
    if scale is None or not digits.isascii() or not digits.isdigit():
        raise TimeoutFormatError(f"invalid grpc-timeout {text!r}")
    return int(digits) * scale


# The deadline (event-loop time) of the server call whose handler is running, so client calls
# made inside it inherit it (deadline propagation).
current_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "puregrpc_deadline", default=None
)
