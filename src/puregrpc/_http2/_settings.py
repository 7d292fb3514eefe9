"""SETTINGS parameters (RFC 9113 section 6.5.2) and their legal ranges."""

from __future__ import annotations

import enum

from ._errors import ErrorCode, FlowControlError, SettingsError
from ._frames import MAX_MAX_FRAME_SIZE, MAX_WINDOW, MIN_MAX_FRAME_SIZE


class SettingCode(enum.IntEnum):
    HEADER_TABLE_SIZE = 0x1
    ENABLE_PUSH = 0x2
    MAX_CONCURRENT_STREAMS = 0x3
    INITIAL_WINDOW_SIZE = 0x4
    MAX_FRAME_SIZE = 0x5
    MAX_HEADER_LIST_SIZE = 0x6
    ENABLE_CONNECT_PROTOCOL = 0x8


UNLIMITED = 2**32 - 1
"""What an absent MAX_CONCURRENT_STREAMS / MAX_HEADER_LIST_SIZE means."""

# The values every endpoint starts from, before any SETTINGS frame (section 6.5.2).
PROTOCOL_DEFAULTS: dict[int, int] = {
    SettingCode.HEADER_TABLE_SIZE: 4096,
    SettingCode.ENABLE_PUSH: 1,
    SettingCode.MAX_CONCURRENT_STREAMS: UNLIMITED,
    SettingCode.INITIAL_WINDOW_SIZE: 65535,
    SettingCode.MAX_FRAME_SIZE: 16384,
    SettingCode.MAX_HEADER_LIST_SIZE: UNLIMITED,
}


def check_setting(code: int, value: int) -> None:
    """Raise the connection error section 6.5.2 prescribes for an illegal value."""
    if code == SettingCode.ENABLE_PUSH and value > 1:
        raise SettingsError(f"ENABLE_PUSH must be 0 or 1, got {value}")
    if code == SettingCode.INITIAL_WINDOW_SIZE and value > MAX_WINDOW:
        raise FlowControlError(f"INITIAL_WINDOW_SIZE {value} exceeds 2^31-1")
    if code == SettingCode.MAX_FRAME_SIZE and not (
        MIN_MAX_FRAME_SIZE <= value <= MAX_MAX_FRAME_SIZE
    ):
        raise SettingsError(f"MAX_FRAME_SIZE {value} outside [2^14, 2^24-1]")
    if code == SettingCode.ENABLE_CONNECT_PROTOCOL and value > 1:
        raise SettingsError(f"ENABLE_CONNECT_PROTOCOL must be 0 or 1, got {value}")


__all__ = ["PROTOCOL_DEFAULTS", "UNLIMITED", "ErrorCode", "SettingCode", "check_setting"]
