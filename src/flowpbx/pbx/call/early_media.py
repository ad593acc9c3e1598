"""Early media passed to the caller while a call out rings (SPEC §3 `call_phone`: the
provider's ringback or announcements, "the number you called is not available", reach the
caller before any answer).

When a ringing leg's 18x brings SDP (`UacLeg.on_early_media`), the first such leg's audio
is relayed one way to the caller — the caller's own RTP goes nowhere yet — over the RTP fast
path (no decoding for the same codec, no media clock): the callee endpoint's ``peer`` is
the caller's. Our own ringback stops, and an unanswered caller gets 183 with our SDP. The
relay ends when ringing ends (`stop`), before the winner is bridged or the caller hears the
flow again.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowpbx.pbx.call.uac_leg import UacLeg
    from flowpbx.pbx.call.uas_leg import UasLeg
    from flowpbx.pbx.rtp.clock import MediaClock
    from flowpbx.pbx.rtp.player import Player


class EarlyMedia:
    """One caller's early-media relay during one ring (see the module docstring)."""

    __slots__ = ("_caller", "_clock", "_ringback", "_source")

    def __init__(self, caller: UasLeg, clock: MediaClock, ringback: Player | None) -> None:
        self._caller = caller
        self._clock = clock
        self._ringback = ringback  # our ringback to the caller, stopped for early media
        self._source: UacLeg | None = None

    @property
    def source(self) -> UacLeg | None:
        """The ringing leg the caller hears, if any."""
        return self._source

    def watch(self, legs: list[UacLeg]) -> None:
        for leg in legs:
            leg.on_early_media = partial(self.start, leg)

    def start(self, leg: UacLeg) -> None:
        """`leg`'s early media reaches the caller (only the first leg that has any)."""
        caller = self._caller
        if self._source is not None or caller.is_ended or leg.is_ended:
            return
        if caller.rtp.peer is not None or caller.rtp.bridge is not None:
            return  # the caller already hears somebody: leave that alone
        self._source = leg
        if self._ringback is not None:
            self._clock.stop_player(self._ringback)
        if not caller.answered:
            caller.early_media()  # 183 Session Progress with our SDP
        leg.rtp.peer = caller.rtp

    def stop(self, legs: list[UacLeg]) -> None:
        for leg in legs:
            leg.on_early_media = None
        source, self._source = self._source, None
        if source is not None and source.rtp.peer is self._caller.rtp:
            source.rtp.peer = None


__all__ = ["EarlyMedia"]
