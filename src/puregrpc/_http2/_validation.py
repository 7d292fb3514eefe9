"""Well-formedness of header sections (RFC 9113 sections 8.2 and 8.3).

Each check returns an error message for a malformed section, or None when it is fine;
a malformed section is a stream error of type PROTOCOL_ERROR (section 8.1.1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._events import Headers
from ._hpack import VOLATILE

CONNECTION_SPECIFIC = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)
# A field name: no upper case, no controls, no space, no DEL, no non-ASCII, not empty
# (RFC 9113 8.2.1), with one leading ':' allowed for pseudo-headers.
_NAME = re.compile(r":?[!#$%&'*+\-.^_`|~0-9a-z]+\Z")
_MAX_NAME_CACHE = 1024
_valid_names: set[str] = set()


def check_name(name: str) -> str | None:
    if name in _valid_names:
        return None
    if not _NAME.match(name):
        return f"invalid header field name {name!r}"
    if len(_valid_names) < _MAX_NAME_CACHE:
        _valid_names.add(name)
    return None


def check_value(name: str, value: str) -> str | None:
    if "\r" in value or "\n" in value or "\x00" in value:
        return f"header {name!r} has CR, LF or NUL in its value"
    if value and (value[0] in " \t" or value[-1] in " \t"):
        return f"header {name!r} has leading or trailing whitespace"
    return None


def check_regular_field(name: str, value: str) -> str | None:
    if name in CONNECTION_SPECIFIC:
        return f"connection-specific header {name!r}"
    if name == "te" and value != "trailers":
        return "te header with a value other than 'trailers'"
    return check_name(name) or check_value(name, value)


# Fields already found valid, so repeated ones cost one set lookup. Bounded: emptied when
# full, so one-off values (a per-call grpc-timeout) cannot crowd out the repeated ones.
_MAX_GOOD_FIELDS = 4096
_good_regular: set[tuple[str, str]] = set()
_good_pseudo: set[tuple[str, str]] = set()


def _check_regular(field: tuple[str, str]) -> str | None:
    problem = check_regular_field(*field)
    if problem is None and field[0] not in VOLATILE:
        if len(_good_regular) >= _MAX_GOOD_FIELDS:
            _good_regular.clear()
        _good_regular.add(field)
    return problem


_METHOD, _SCHEME, _PATH, _AUTHORITY, _PROTOCOL = 1, 2, 4, 8, 16
_REQUEST_PSEUDO_BITS = {
    ":method": _METHOD,
    ":scheme": _SCHEME,
    ":path": _PATH,
    ":authority": _AUTHORITY,
    ":protocol": _PROTOCOL,
}


def check_request(headers: Headers) -> int | str:
    """A request's header section: pseudo-headers first, once each, the mandatory ones set.

    Returns the declared content-length (-1 when absent), or an error message.
    """
    seen = 0  # bits of the pseudo-headers met so far
    regular = False
    connect = empty_path = False
    length = -1
    for field in headers:
        if field in _good_regular:
            regular = True
            if field[0] == "content-length":
                length = _content_length(field[1], length)
                if length == -2:
                    return "conflicting content-length values"
            continue
        name = field[0]
        bit = _REQUEST_PSEUDO_BITS.get(name)
        if bit is not None:
            if regular:
                return f"pseudo-header {name!r} after a regular header"
            if seen & bit:
                return f"duplicate pseudo-header {name!r}"
            seen |= bit
            if field not in _good_pseudo:
                problem = check_value(name, field[1])
                if problem:
                    return problem
                # The two values that change the rules below are never cached as good.
                if field == (":method", "CONNECT"):
                    connect = True
                elif field == (":path", ""):
                    empty_path = True
                else:
                    if len(_good_pseudo) >= _MAX_GOOD_FIELDS:
                        _good_pseudo.clear()
                    _good_pseudo.add(field)
            continue
        if name[:1] == ":":
            if regular:
                return f"pseudo-header {name!r} after a regular header"
            return f"unknown request pseudo-header {name!r}"
        regular = True
        problem = _check_regular(field)
        if problem:
            return problem
        if name == "content-length":
            if not field[1].isascii() or not field[1].isdigit():
                _good_regular.discard(field)
                return f"invalid content-length {field[1]!r}"
            length = _content_length(field[1], length)
            if length == -2:
                return "conflicting content-length values"
    if not seen & _METHOD:
        return "request without :method"
    if connect and not seen & _PROTOCOL:
        if seen & (_SCHEME | _PATH):
            return "CONNECT request with :scheme or :path"
        if not seen & _AUTHORITY:
            return "CONNECT request without :authority"
        return length
    if not seen & _SCHEME:
        return "request without :scheme"
    if not seen & _PATH or empty_path:
        return "request without a non-empty :path"
    return length


def check_response(headers: Headers) -> int | str:
    """A response's header section: exactly one :status of three digits, first.

    Returns the declared content-length (-1 when absent), or an error message.
    """
    status_seen = False
    regular = False
    length = -1
    for field in headers:
        if field in _good_regular:
            regular = True
            if field[0] == "content-length":
                length = _content_length(field[1], length)
                if length == -2:
                    return "conflicting content-length values"
            continue
        name, value = field
        if name[:1] == ":":
            if regular:
                return f"pseudo-header {name!r} after a regular header"
            if name != ":status":
                return f"unknown response pseudo-header {name!r}"
            if status_seen:
                return "duplicate :status"
            status_seen = True
            if len(value) != 3 or not value.isdigit() or not value.isascii():
                return f"invalid :status {value!r}"
            if value == "101":
                return ":status 101 is not allowed in HTTP/2"
            continue
        regular = True
        problem = _check_regular(field)
        if problem:
            return problem
        if name == "content-length":
            if not value.isascii() or not value.isdigit():
                _good_regular.discard(field)
                return f"invalid content-length {value!r}"
            length = _content_length(value, length)
            if length == -2:
                return "conflicting content-length values"
    if not status_seen:
        return "response without :status"
    return length


def check_trailers(headers: Headers) -> str | None:
    """A trailer section: no pseudo-headers at all."""
    for field in headers:
        if field in _good_regular:
            continue
        if field[0][:1] == ":":
            return f"pseudo-header {field[0]!r} in trailers"
        problem = _check_regular(field)
        if problem:
            return problem
    return None


# Outbound fields already found valid -> their share of the header list size. Per-call values
# (VOLATILE: grpc-timeout) are checked every time instead, so they cannot crowd out the rest.
_good_outbound: dict[tuple[str, str], int] = {}


def outbound_size(headers: Sequence[tuple[str, str]]) -> int | str:
    """The header list size (RFC 9113 6.5.2) of a section we are about to send, or what is
    wrong with it: names and values must be ones a conforming peer accepts."""
    total = 0
    known = _good_outbound.get
    for field in headers:
        size = known(field)
        if size is None:
            name, value = field
            if name[:1] == ":":
                problem = check_name(name) or check_value(name, value)
            else:
                problem = check_regular_field(name, value)
            if problem:
                return problem
            size = len(name) + len(value) + 32
            if name not in VOLATILE:
                if len(_good_outbound) >= _MAX_GOOD_FIELDS:
                    _good_outbound.clear()
                _good_outbound[field] = size
        total += size
    return total


def _content_length(value: str, previous: int) -> int:
    """The content-length `value` declares given the one seen before; -2 if they conflict."""
    if not value.isascii() or not value.isdigit():
        return -2
    length = int(value)
    return length if previous in (-1, length) else -2
