"""Keepalive (gRFC A8, doc/keepalive.md: K1-K4): our pings, and enforcement of the peer's."""

from __future__ import annotations

import dataclasses

KEEPALIVE_PING = b"keepaliv"  # 8 octets: the data of our keepalive PINGs
MIN_KEEPALIVE_TIME = 10.0  # K1: smaller client values are raised to this


@dataclasses.dataclass(frozen=True, slots=True)
class KeepalivePolicy:
    """When to ping an idle connection, and how long to wait for the ACK before declaring it
    dead. `time` counts from the last byte read, not the last ping sent (K1)."""

    time: float
    timeout: float = 20.0
    permit_without_calls: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class PingPolicy:
    """What a server tolerates from its clients' pings (K2): pings closer together than
    `min_time` (or any ping without calls unless `permit_without_calls`) are strikes; more
    than `max_strikes` end the connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings"."""

    min_time: float = 300.0
    permit_without_calls: bool = False
    max_strikes: int = 2


class KeepaliveState:
    """The clock-driven part, kept apart from I/O so it can be tested with plain numbers."""

    __slots__ = ("last_ping_received", "last_read", "ping_sent_at", "policy", "strikes")

    def __init__(self, policy: KeepalivePolicy | None, now: float) -> None:
        self.policy = policy
        self.last_read = now
        self.ping_sent_at: float | None = None
        self.last_ping_received: float | None = None
        self.strikes = 0

    def due(self, now: float, active_calls: bool) -> str | None:
        """ "ping" when a keepalive PING should go out now, "dead" when the last one went
        unanswered for `timeout`, else None."""
        policy = self.policy
        if policy is None:
            return None
        if self.ping_sent_at is not None:
            if now - self.ping_sent_at > policy.timeout:
                return "dead"
            return None
        if not active_calls and not policy.permit_without_calls:
            return None
        if now - self.last_read >= policy.time:
            self.ping_sent_at = now
            return "ping"
        return None

    def on_read(self, now: float) -> None:
        self.last_read = now
        self.ping_sent_at = None  # any byte read proves the peer alive

    def ping_is_abusive(self, enforcement: PingPolicy, now: float, active_calls: bool) -> bool:
        """Count a received PING against `enforcement`; True once the peer must be cut off."""
        last = self.last_ping_received
        self.last_ping_received = now
        if not active_calls and not enforcement.permit_without_calls:
            bad = last is not None and now - last < 7200.0
        else:
            bad = last is not None and now - last < enforcement.min_time
        if bad:
            self.strikes += 1
        return self.strikes > enforcement.max_strikes
