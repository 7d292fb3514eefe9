"""Well-formedness of header sections (RFC 9113 sections 8.2 and 8.3).

Each check returns an error message for a malformed section, or None when it is fine;
a malformed section is a stream error of type PROTOCOL_ERROR (section 8.1.1).
"""

from __future__ import annotations

import re

from ._events import Headers

REQUEST_PSEUDO = frozenset({":method", ":scheme", ":path", ":authority", ":protocol"})
RESPONSE_PSEUDO = frozenset({":status"})
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


def check_request(headers: Headers) -> str | None:
    """A request's header section: pseudo-headers first, once each, the mandatory ones set."""
    seen: set[str] = set()
    regular = False
    for name, value in headers:
        if name[:1] == ":":
            if regular:
                return f"pseudo-header {name!r} after a regular header"
            if name not in REQUEST_PSEUDO:
                return f"unknown request pseudo-header {name!r}"
            if name in seen:
                return f"duplicate pseudo-header {name!r}"
            seen.add(name)
            problem = check_value(name, value)
        else:
            regular = True
            problem = check_regular_field(name, value)
        if problem:
            return problem
    method = _first(headers, ":method")
    if method is None:
        return "request without :method"
    if method == "CONNECT" and ":protocol" not in seen:
        if ":scheme" in seen or ":path" in seen:
            return "CONNECT request with :scheme or :path"
        if ":authority" not in seen:
            return "CONNECT request without :authority"
        return None
    if ":scheme" not in seen:
        return "request without :scheme"
    if not _first(headers, ":path"):
        return "request without a non-empty :path"
    return None


def check_response(headers: Headers) -> str | None:
    """A response's header section: exactly one :status of three digits, first."""
    status_seen = False
    regular = False
    for name, value in headers:
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
        else:
            regular = True
            problem = check_regular_field(name, value)
            if problem:
                return problem
    if not status_seen:
        return "response without :status"
    return None


def check_trailers(headers: Headers) -> str | None:
    """A trailer section: no pseudo-headers at all."""
    for name, value in headers:
        if name[:1] == ":":
            return f"pseudo-header {name!r} in trailers"
        problem = check_regular_field(name, value)
        if problem:
            return problem
    return None


def content_length(headers: Headers) -> int | str:
    """The declared content-length, -1 when absent, or an error message."""
    found = -1
    for name, value in headers:
        if name == "content-length":
            if not value.isascii() or not value.isdigit():
                return f"invalid content-length {value!r}"
            if found not in (-1, int(value)):
                return "conflicting content-length values"
            found = int(value)
    return found


def _first(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None
