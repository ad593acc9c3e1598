"""A fixed-delay RTP jitter buffer, sans-I/O: packets in as they arrive, one frame per tick.

Used where flowpbx consumes audio itself (mixing, recording, in-band DTMF) rather than
relaying it. Packets are kept in a ring indexed by sequence number (RFC 3550 §5.1), so
reordering within the buffer depth is undone and duplicates are dropped. Playout starts
once `prefetch` packets are buffered; then every `get()` (one per 20 ms tick of the media
clock) returns the next packet's payload, or None for a missing one (the caller conceals it
with silence or the previous frame). A packet that arrives after its slot was played is
counted as late and dropped; one too far ahead makes the buffer skip forward; a new SSRC or
a long run of empty ticks (the far end stopped sending) starts buffering again.

It assumes one packet per tick (20 ms ptime), which is what flowpbx negotiates.

With `adaptive=True` the depth follows the network: each late packet (one that would have
been played had the buffer been a frame deeper) makes the buffer one frame deeper, up to
`max_depth`, by holding playout for one tick; after `shrink_after` ticks without a late
packet while more than the target is buffered, one frame is dropped to come back towards
`prefetch` (latency is only added while it is needed).

`Concealer` fills the holes on the decoded side: a missing frame is replaced by the last
good one, faded (halved per repeated tick), for a few ticks, then silence — a lost or
reordered packet is a short soft repeat, never a click or a dropout of the whole leg.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flowpbx.media.rtp import RtpHeader

__all__ = ["Concealer", "JitterBuffer", "JitterStats"]

Frame = npt.NDArray[np.int16]


@dataclass(slots=True)
class JitterStats:
    """Counters of one jitter buffer (mutable, read by metrics)."""

    played: int = 0
    missing: int = 0  # ticks without the expected packet
    late: int = 0  # packets that arrived after their slot was played
    duplicates: int = 0
    skipped: int = 0  # packets jumped over when a packet arrived too far ahead
    resets: int = 0  # SSRC changes and re-buffering after a silence
    grown: int = 0  # adaptive: ticks held to deepen the buffer
    shrunk: int = 0  # adaptive: frames dropped to make it shallower


class JitterBuffer:
    """Reorders one RTP stream and releases one payload per tick."""

    __slots__ = (
        "_calm_ticks",
        "_count",
        "_empty_ticks",
        "_hold",
        "_next",
        "_payloads",
        "_seqs",
        "_ssrc",
        "adaptive",
        "capacity",
        "max_depth",
        "prefetch",
        "shrink_after",
        "stats",
        "target",
    )

    def __init__(
        self,
        *,
        capacity: int = 16,
        prefetch: int = 3,
        adaptive: bool = False,
        max_depth: int | None = None,
        shrink_after: int = 250,
    ) -> None:
        if not 1 <= prefetch <= capacity:
            raise ValueError("need 1 <= prefetch <= capacity")
        self.capacity = capacity
        self.prefetch = prefetch
        self.adaptive = adaptive
        self.max_depth = min(capacity - 1, max_depth if max_depth is not None else capacity // 2)
        self.max_depth = max(self.max_depth, prefetch)
        self.shrink_after = shrink_after
        self.target = prefetch  # the depth adaptive mode aims at
        self._hold = 0
        self._calm_ticks = 0
        self.stats = JitterStats()
        self._seqs: list[int | None] = [None] * capacity
        self._payloads: list[bytes] = [b""] * capacity
        self._count = 0
        self._next: int | None = None  # next sequence number to play; None while buffering
        self._ssrc: int | None = None
        self._empty_ticks = 0

    def __len__(self) -> int:
        return self._count

    @property
    def playing(self) -> bool:
        """True once prefetching is over and `get` releases frames."""
        return self._next is not None

    def _clear(self) -> None:
        self._seqs = [None] * self.capacity
        self._payloads = [b""] * self.capacity
        self._count = 0
        self._next = None
        self._empty_ticks = 0

    def _oldest(self) -> int:
        """The buffered sequence number that comes first (mod 2^16), while buffering."""
        seqs = [s for s in self._seqs if s is not None]
        ref = seqs[0]
        return min(seqs, key=lambda s: (s - ref + 0x8000) & 0xFFFF)

    def put(self, header: RtpHeader, payload: bytes) -> None:
        """Store a received packet."""
        if header.ssrc != self._ssrc:
            if self._ssrc is not None:
                self.stats.resets += 1
            self._ssrc = header.ssrc
            self._clear()
        seq = header.sequence
        if self._next is not None:
            ahead = (seq - self._next) & 0xFFFF
            if ahead >= 0x8000:
                self.stats.late += 1
                if self.adaptive and self.target < self.max_depth:
                    self.target += 1
                    self._hold += 1
                self._calm_ticks = 0
                return
            if ahead >= self.capacity:
                # Too far ahead: skip forward so that `seq` is the newest slot.
                new_next = (seq - self.capacity + 1) & 0xFFFF
                skipped = (new_next - self._next) & 0xFFFF
                self.stats.skipped += skipped
                for i in range(min(skipped, self.capacity)):
                    slot = (self._next + i) % self.capacity
                    if self._seqs[slot] is not None:
                        self._seqs[slot] = None
                        self._count -= 1
                self._next = new_next
        slot = seq % self.capacity
        stored = self._seqs[slot]
        if stored == seq:
            self.stats.duplicates += 1
            return
        if stored is None:
            self._count += 1
        self._seqs[slot] = seq
        self._payloads[slot] = payload
        if self._next is None and self._count >= self.prefetch:
            self._next = self._oldest()

    def get(self) -> bytes | None:
        """The payload for this tick; None while buffering or when the packet is missing."""
        nxt = self._next
        if nxt is None:
            return None
        if self.adaptive:
            if self._hold:
                self._hold -= 1
                self.stats.grown += 1
                return None
            self._calm_ticks += 1
            if self._calm_ticks >= self.shrink_after and self._count > self.target:
                self._calm_ticks = 0
                if self.target > self.prefetch:
                    self.target -= 1
                slot = nxt % self.capacity
                if self._seqs[slot] == nxt:  # drop the oldest frame: one frame less latency
                    self._seqs[slot] = None
                    self._count -= 1
                    self.stats.shrunk += 1
                nxt = self._next = (nxt + 1) & 0xFFFF
        slot = nxt % self.capacity
        self._next = (nxt + 1) & 0xFFFF
        if self._seqs[slot] == nxt:
            self._seqs[slot] = None
            self._count -= 1
            self._empty_ticks = 0
            self.stats.played += 1
            return self._payloads[slot]
        self.stats.missing += 1
        if self._count == 0:
            self._empty_ticks += 1
            if self._empty_ticks >= self.capacity:
                # The far end went quiet: buffer again before the next talk spurt.
                self.stats.resets += 1
                self._clear()
        return None


class Concealer:
    """Packet loss concealment for one decoded stream (one frame per tick)."""

    __slots__ = ("_last", "_repeats", "concealed", "max_repeats", "silence")

    def __init__(self, *, frame_size: int = 160, max_repeats: int = 3) -> None:
        self.max_repeats = max_repeats
        self.silence: Frame = np.zeros(frame_size, dtype=np.int16)
        self._last: Frame | None = None
        self._repeats = 0
        self.concealed = 0  # ticks filled by a faded repeat

    def frame(self, decoded: Frame | None) -> Frame:
        """`decoded` when there is one (and remember it), else a concealment frame."""
        if decoded is not None:
            self._last = decoded
            self._repeats = 0
            return decoded
        last = self._last
        if last is None or self._repeats >= self.max_repeats:
            return self.silence
        self._repeats += 1
        self.concealed += 1
        return (last >> self._repeats).astype(np.int16)  # -6 dB per repeated tick
