"""The picker seam: which subchannel carries the next call (doc/load-balancing.md). A balancer
builds pickers from the state of its subchannels; until resolvers and balancers arrive, a
channel has one subchannel and the picker that always returns it."""

from __future__ import annotations

from typing import Protocol

from .subchannel import Subchannel


class Picker(Protocol):
    def pick(self, method: str) -> Subchannel:
        """The subchannel for a call to `method`."""


class SingleSubchannelPicker:
    __slots__ = ("subchannel",)

    def __init__(self, subchannel: Subchannel) -> None:
        self.subchannel = subchannel

    def pick(self, method: str) -> Subchannel:
        return self.subchannel
