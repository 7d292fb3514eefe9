"""The engine's hot-path constructors build the same records as the classes' own."""

from __future__ import annotations

from puregrpc._http2._events import (
    DataReceived,
    RequestReceived,
    data_received,
    request_received,
)
from puregrpc._http2._stream import Stream, new_stream


def test_new_stream_sets_every_field_like_init() -> None:
    made = new_stream(5, 100, 200)
    expected = Stream(5, 100, 200)
    assert type(made) is Stream
    for name in Stream.__slots__:
        assert getattr(made, name) == getattr(expected, name), name


def test_event_factories_match_constructors() -> None:
    headers = ((":method", "POST"), ("grpc-timeout", "1S"))
    base = ((":method", "POST"),)
    assert repr(request_received(1, headers, False, base, "1S")) == repr(
        RequestReceived(1, headers, False, base, "1S")
    )
    assert repr(request_received(3, base, True, base, None)) == repr(RequestReceived(3, base, True))
    assert repr(data_received(1, b"abc", 4, True)) == repr(DataReceived(1, b"abc", 4, True))
    assert type(data_received(1, b"", 0, False)) is DataReceived
