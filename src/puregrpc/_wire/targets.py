"""Addresses: channel targets (N1-N3: `host:port`, `[v6]:port`, `dns:[//authority/]host[:port]`,
`ipv4:addr:port`, `ipv6:[addr]:port`, `unix:path` and `unix:///abs/path`) and the listen addresses
of a server (`host:port`, `[v6]:port`, `:port` or `[::]:port` for every interface of both
families, `unix:path`). Both also take `memory:<name>`, a listener of the in-memory transport
(`puregrpc.testing`)."""

from __future__ import annotations

import dataclasses

from .._vocab.errors import TargetError

DEFAULT_PORT = 443  # N2


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    unix_path: str | None
    authority: str  # what goes in :authority
    display: str  # the target as the user wrote it
    memory_name: str | None = None  # `memory:<name>`: the in-memory transport's listener


def parse_target(target: str) -> Target:
    if target.startswith("memory:"):
        name = target[7:]
        if not name:
            raise TargetError(f"target {target!r} names no in-memory listener")
        return Target("localhost", 0, None, "localhost", target, name)
    if target.startswith("unix:"):
        path = target[5:]
        if path.startswith("//"):
            path = path[2:]  # unix:///abs -> /abs
        if not path:
            raise TargetError(f"target {target!r} names no socket path")
        return Target("localhost", 0, path, "localhost", target)
    rest = target
    for scheme in ("dns:", "ipv4:", "ipv6:"):
        if rest.startswith(scheme):
            rest = rest[len(scheme) :]
            if rest.startswith("//"):
                rest = rest[2:].partition("/")[2]  # drop the DNS server authority
            break
    host, port = _host_port(rest, target)
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Target(host, port, None, authority, target)


def _host_port(text: str, target: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, after = text[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise TargetError(f"target {target!r} names no host")
    if not port_text:
        return host, DEFAULT_PORT
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise TargetError(f"target {target!r} has an invalid port {port_text!r}")
    return host, int(port_text)


@dataclasses.dataclass(frozen=True, slots=True)
class ListenAddress:
    hosts: tuple[str, ...]  # to bind, in order; empty for a Unix socket
    port: int  # 0: any free port
    unix_path: str | None
    memory_name: str | None = None


def parse_listen_address(address: str) -> ListenAddress:
    """Where a server listens. "" and "::" as host mean every interface of both families, as in
    grpc-go and grpcio (asyncio binds "::" to IPv6 only, so IPv4 is bound on its own too)."""
    if address.startswith("memory:"):
        if not address[7:]:
            raise TargetError(f"listen address {address!r} names no in-memory listener")
        return ListenAddress((), 0, None, address[7:])
    if address.startswith("unix:"):
        path = address[5:]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise TargetError(f"listen address {address!r} names no socket path")
        return ListenAddress((), 0, path)
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    else:
        host, colon, port_text = address.rpartition(":")
        if not colon:
            raise TargetError(f"listen address {address!r} has no port")
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        raise TargetError(f"listen address {address!r} has an invalid port {port_text!r}")
    hosts = ("::", "0.0.0.0") if host in ("", "::") else (host,)
    return ListenAddress(hosts, int(port_text), None)
