"""Tunables of one HTTP/2 connection, with defaults suited to gRPC traffic."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(slots=True, frozen=True)
class H2Config:
    """What a connection advertises and the limits it enforces on its peer.

    Window sizes are large because gRPC streams carry whole messages and round trips for
    WINDOW_UPDATE cost throughput; every buffer they allow is still bounded by them.
    """

    client_side: bool
    # Advertised in our SETTINGS.
    header_table_size: int = 4096
    max_concurrent_streams: int = 1000
    initial_window_size: int = 1 << 20
    max_frame_size: int = 16384
    max_header_list_size: int = 64 * 1024
    # The connection-level receive window, opened with a WINDOW_UPDATE at start.
    connection_window_size: int = 16 << 20
    # Largest HPACK dynamic table our encoder will use, whatever the peer allows.
    encoder_max_table_size: int = 4096
    # Outbound DATA a stream may hold while waiting for window before `send_data` refuses more.
    max_send_buffer: int = 4 << 20
    # Abuse limits (RFC 9113 section 10.5).
    max_continuation_frames: int = 64
    max_header_block_size: int = 256 * 1024
    max_control_frames_queued: int = 1000
    max_empty_data_frames: int = 100
    max_resets_per_window: int = 1000
    reset_window_seconds: float = 1.0
    settings_timeout: float = 10.0
    # Streams whose closing we remember, to tell late frames from protocol errors.
    closed_streams_remembered: int = 1024
