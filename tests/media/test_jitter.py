"""Jitter buffer: prefetch, reordering, loss, duplicates, late packets, wrap, resets."""

from __future__ import annotations

import pytest

from flowpbx.media.jitter import JitterBuffer
from flowpbx.media.rtp import RtpHeader


def hdr(seq: int, ssrc: int = 1) -> RtpHeader:
    return RtpHeader(
        payload_type=0,
        marker=False,
        sequence=seq & 0xFFFF,
        timestamp=seq * 160,
        ssrc=ssrc,
        header_len=12,
        payload_end=13,
    )


def p(seq: int) -> bytes:
    return seq.to_bytes(2, "big")


def drain(jb: JitterBuffer, ticks: int) -> list[int | None]:
    out = []
    for _ in range(ticks):
        payload = jb.get()
        out.append(None if payload is None else int.from_bytes(payload, "big"))
    return out


def test_prefetch_then_in_order() -> None:
    jb = JitterBuffer(prefetch=3)
    assert jb.get() is None and not jb.playing
    for s in (10, 11):
        jb.put(hdr(s), p(s))
    assert not jb.playing and jb.get() is None
    jb.put(hdr(12), p(12))
    assert jb.playing and len(jb) == 3
    assert drain(jb, 3) == [10, 11, 12]


def test_reordering_is_undone_and_loss_is_a_gap() -> None:
    jb = JitterBuffer(prefetch=3)
    for s in (101, 100, 103, 105, 104):
        jb.put(hdr(s), p(s))
    assert drain(jb, 6) == [100, 101, None, 103, 104, 105]
    assert jb.stats.missing == 1 and jb.stats.played == 5


def test_duplicates_and_late_packets_are_dropped() -> None:
    jb = JitterBuffer(prefetch=2)
    for s in (1, 2, 2):
        jb.put(hdr(s), p(s))
    assert drain(jb, 2) == [1, 2]
    jb.put(hdr(1), p(1))  # already played
    jb.put(hdr(3), p(3))
    assert drain(jb, 1) == [3]
    assert (jb.stats.duplicates, jb.stats.late) == (1, 1)


def test_sequence_wrap() -> None:
    jb = JitterBuffer(prefetch=2)
    for s in (0xFFFF, 0xFFFE, 0, 1):
        jb.put(hdr(s), p(s))
    assert drain(jb, 4) == [0xFFFE, 0xFFFF, 0, 1]


def test_far_ahead_packet_skips_forward() -> None:
    jb = JitterBuffer(capacity=4, prefetch=1)
    jb.put(hdr(1), p(1))
    assert drain(jb, 1) == [1]
    jb.put(hdr(3), p(3))
    jb.put(hdr(10), p(10))  # 8 ahead of next (2) with capacity 4: next becomes 7
    assert drain(jb, 4) == [None, None, None, 10]
    assert jb.stats.skipped == 5


def test_new_ssrc_and_long_silence_rebuffer() -> None:
    jb = JitterBuffer(capacity=4, prefetch=2)
    for s in (1, 2):
        jb.put(hdr(s), p(s))
    jb.put(hdr(500, ssrc=2), p(500))
    assert not jb.playing and jb.stats.resets == 1
    jb.put(hdr(501, ssrc=2), p(501))
    assert drain(jb, 2) == [500, 501]
    assert drain(jb, 4) == [None] * 4
    assert not jb.playing and jb.stats.resets == 2
    jb.put(hdr(900, ssrc=2), p(900))
    jb.put(hdr(901, ssrc=2), p(901))
    assert drain(jb, 2) == [900, 901]


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(capacity=2, prefetch=3)


def test_concealer_repeats_fading_then_silence() -> None:
    import numpy as np

    from flowpbx.media.jitter import Concealer

    c = Concealer(max_repeats=3)
    assert not c.frame(None).any()  # nothing heard yet: silence
    good = np.full(160, 8000, dtype=np.int16)
    assert c.frame(good) is good
    levels = [int(c.frame(None)[0]) for _ in range(5)]
    assert levels == [4000, 2000, 1000, 0, 0]
    assert c.concealed == 3
    assert c.frame(good) is good  # recovery resets the fade
    assert int(c.frame(None)[0]) == 4000


def test_adaptive_depth_grows_on_late_packets_and_shrinks_when_calm() -> None:
    jb = JitterBuffer(capacity=16, prefetch=2, adaptive=True, shrink_after=50)
    seq = 0
    for _ in range(2):
        jb.put(hdr(seq), p(seq))
        seq += 1
    out: list[int | None] = []
    # Steady stream, then packet 10 arrives 2 ticks late: it is lost, the buffer deepens.
    for tick in range(40):
        if seq != 10:
            jb.put(hdr(seq), p(seq))
        if tick == 11:
            jb.put(hdr(10), p(10))  # too late: already played past it
        seq += 1
        out.append(int.from_bytes(jb.get() or b"\xff\xff", "big"))
    assert jb.stats.late == 1 and jb.target == 3 and jb.stats.grown == 1
    assert len(jb) == 3  # one frame deeper than the 2 it started with
    played = [x for x in out if x != 0xFFFF]
    assert played == sorted(played)  # nothing out of order, nothing repeated
    # A calm network: after shrink_after ticks one frame is dropped, back to the prefetch.
    for _ in range(60):
        jb.put(hdr(seq), p(seq))
        seq += 1
        jb.get()
    assert jb.target == 2 and jb.stats.shrunk >= 1 and len(jb) == 2


def test_adaptive_depth_is_bounded() -> None:
    jb = JitterBuffer(capacity=8, prefetch=2, adaptive=True, max_depth=4)
    for s in range(3):
        jb.put(hdr(s), p(s))
    drain(jb, 3)
    for _ in range(10):
        jb.put(hdr(0), p(0))  # a stream of very late packets
    assert jb.target == 4 and jb.stats.late == 10
