"""RTP packets, the sending stream (incl. the relay fast path) and receiver statistics."""

from __future__ import annotations

import itertools
import struct

import pytest

from flowpbx.media.rtp import (
    RtpHeader,
    RtpReceiveStats,
    RtpSender,
    build_rtp,
    parse_rtp,
    payload_of,
)

# V=2 P=0 X=0 CC=0 | M=1 PT=0 | seq 0x1234 | ts 0xDEADBEEF | SSRC 0x01020304 | payload
GOLDEN = bytes.fromhex("8080 1234 deadbeef 01020304") + b"\xff" * 4


def test_build_golden_bytes() -> None:
    packet = build_rtp(
        payload_type=0,
        sequence=0x1234,
        timestamp=0xDEADBEEF,
        ssrc=0x01020304,
        payload=b"\xff" * 4,
        marker=True,
    )
    assert packet == GOLDEN


def test_parse_golden_bytes_and_round_trip() -> None:
    header = parse_rtp(GOLDEN)
    assert header == RtpHeader(
        payload_type=0,
        marker=True,
        sequence=0x1234,
        timestamp=0xDEADBEEF,
        ssrc=0x01020304,
        header_len=12,
        payload_end=16,
    )
    assert payload_of(header, GOLDEN) == b"\xff" * 4
    rebuilt = build_rtp(
        payload_type=header.payload_type,
        sequence=header.sequence,
        timestamp=header.timestamp,
        ssrc=header.ssrc,
        payload=payload_of(header, GOLDEN),
        marker=header.marker,
    )
    assert rebuilt == GOLDEN
    assert repr(header).startswith("RtpHeader(payload_type=0, marker=True, sequence=4660,")


def test_parse_csrc_extension_and_padding() -> None:
    # CC=2, X=1, P=1: 12 + 8 (CSRCs) + 4 + 8 (extension of 2 words) = 32; 3 padding octets.
    head = bytes([0x80 | 0x20 | 0x10 | 2, 8]) + struct.pack("!HII", 7, 1000, 42)
    csrcs = struct.pack("!II", 1, 2)
    ext = struct.pack("!HH", 0xBEDE, 2) + b"\x11" * 8
    packet = head + csrcs + ext + b"PAYLOAD" + b"\x00\x00\x03"
    header = parse_rtp(packet)
    assert header is not None
    assert (header.payload_type, header.marker, header.csrc_count) == (8, False, 2)
    assert header.header_len == 32
    assert payload_of(header, packet) == b"PAYLOAD"
    assert header.payload_end == len(packet) - 3


@pytest.mark.parametrize(
    "data",
    [
        b"",
        GOLDEN[:11],  # shorter than the fixed header
        bytes([0x40]) + GOLDEN[1:],  # version 1
        bytes([0x80, 200]) + GOLDEN[2:],  # RTCP SR (RFC 5761 §4)
        bytes([0x81, 201]) + GOLDEN[2:],  # RTCP RR
        bytes([0x80, 0xCC]) + GOLDEN[2:],  # masked PT 76 = RTCP APP
        bytes([0x83]) + GOLDEN[1:],  # CC=3 but no room for the CSRCs
        bytes([0x90]) + GOLDEN[1:12],  # extension bit without extension header
        bytes([0x90]) + GOLDEN[1:12] + struct.pack("!HH", 0xBEDE, 5),  # extension too long
        bytes([0xA0]) + GOLDEN[1:15] + b"\x00",  # padding count 0
        bytes([0xA0]) + GOLDEN[1:15] + b"\x09",  # padding longer than the payload
    ],
)
def test_parse_rejects_non_rtp(data: bytes) -> None:
    assert parse_rtp(data) is None


def test_build_masks_fields() -> None:
    packet = build_rtp(
        payload_type=101, sequence=0x1_0001, timestamp=(1 << 32) + 5, ssrc=7, payload=b""
    )
    header = parse_rtp(packet)
    assert header is not None
    assert (header.payload_type, header.sequence, header.timestamp) == (101, 1, 5)


def _parse(data: bytes) -> RtpHeader:
    header = parse_rtp(data)
    assert header is not None
    return header


def test_sender_wraps_sequence_and_timestamp() -> None:
    sender = RtpSender(payload_type=8, ssrc=99, sequence=0xFFFE, timestamp=0xFFFFFF00)
    headers = [_parse(sender.packet(b"\xd5" * 160)) for _ in range(4)]
    assert [h.sequence for h in headers] == [0xFFFE, 0xFFFF, 0, 1]
    assert [h.timestamp for h in headers] == [0xFFFFFF00, 0xFFFFFFA0, 0x40, 0xE0]
    assert {h.ssrc for h in headers} == {99}
    assert {h.payload_type for h in headers} == {8}
    assert sender.sequence == 2 and sender.timestamp == 0x180


def test_sender_random_start_and_custom_advance() -> None:
    a = RtpSender(payload_type=0)
    b = RtpSender(payload_type=0)
    # RFC 3550 §5.1: random SSRC, sequence and timestamp (64+ random bits cannot collide here)
    assert (a.ssrc, a.sequence, a.timestamp) != (b.ssrc, b.sequence, b.timestamp)
    first = _parse(a.packet(b"x", marker=True, advance=80))
    second = _parse(a.packet(b"y"))
    assert first.marker and not second.marker
    assert (second.timestamp - first.timestamp) & 0xFFFFFFFF == 80
    assert (second.sequence - first.sequence) & 0xFFFF == 1


def test_event_packets_hold_timestamp_while_the_stream_clock_runs() -> None:
    sender = RtpSender(payload_type=0, ssrc=1, sequence=10, timestamp=1000)
    sender.packet(b"a" * 160)
    event_ts = sender.timestamp
    assert event_ts == 1160
    packets = [
        _parse(
            sender.event_packet(
                b"\x01\x0a\x00\xa0", timestamp=event_ts, marker=i == 0, payload_type=101
            )
        )
        for i in range(3)
    ]
    assert [p.timestamp for p in packets] == [1160] * 3
    assert [p.sequence for p in packets] == [11, 12, 13]
    assert [p.marker for p in packets] == [True, False, False]
    assert {p.payload_type for p in packets} == {101}
    after = _parse(sender.packet(b"b" * 160))
    assert after.sequence == 14
    assert after.timestamp == 1160 + 3 * 160  # media time went on during the event


def test_skip_advances_timestamp_only() -> None:
    sender = RtpSender(payload_type=0, ssrc=1, sequence=5, timestamp=0)
    sender.packet(b"")
    sender.skip(800)
    h = _parse(sender.packet(b""))
    assert (h.sequence, h.timestamp) == (6, 960)


def _incoming(ssrc: int, seq: int, ts: int, payload: bytes = b"p", marker: bool = False) -> bytes:
    return build_rtp(
        payload_type=0, sequence=seq, timestamp=ts, ssrc=ssrc, payload=payload, marker=marker
    )


def test_relay_rewrites_and_continues_across_ssrc_change() -> None:
    out = RtpSender(payload_type=0, ssrc=0xAAAA, sequence=100, timestamp=50_000)
    # Our own prompt first: seq 100, 101 at ts 50000, 50160.
    out.packet(b"x" * 160)
    out.packet(b"x" * 160)
    relayed: list[RtpHeader] = []
    # Source A (random-looking numbers close to the wrap points).
    for i in range(3):
        data = _incoming(
            0x1111,
            (0xFFFF + i) & 0xFFFF,
            (0xFFFFFF60 + 160 * i) & 0xFFFFFFFF,
            payload=bytes([i]) * 160,
        )
        new = out.relay(_parse(data), data)
        assert new[12:] == data[12:]  # payload untouched
        relayed.append(_parse(new))
    # Source B appears (the bridged phone changed, e.g. after a transfer).
    for i in range(2):
        data = _incoming(0x2222, 7 + i, 123_456 + 160 * i, marker=i == 0)
        relayed.append(_parse(out.relay(_parse(data), data)))
    assert [h.sequence for h in relayed] == [102, 103, 104, 105, 106]
    assert [h.timestamp for h in relayed] == [50_320 + 160 * i for i in range(5)]
    assert {h.ssrc for h in relayed} == {0xAAAA}
    assert [h.marker for h in relayed] == [False, False, False, True, False]
    # Back to locally produced audio: continues after the relayed stream.
    local = _parse(out.packet(b"y" * 160))
    assert (local.sequence, local.timestamp) == (107, 50_320 + 160 * 5)
    # Relaying source B again re-anchors after the local packet instead of jumping back.
    data = _incoming(0x2222, 9, 123_456 + 320)
    again = _parse(out.relay(_parse(data), data))
    assert (again.sequence, again.timestamp) == (108, 50_320 + 160 * 6)


def test_relay_keeps_gaps_and_ignores_late_packets_for_continuation() -> None:
    out = RtpSender(payload_type=0, ssrc=5, sequence=0, timestamp=0)
    seqs = []
    for seq in (10, 11, 13, 12, 14):  # 12 arrives late, after 13
        data = _incoming(77, seq, seq * 160)
        h = _parse(out.relay(_parse(data), data))
        seqs.append((h.sequence, h.timestamp))
    assert seqs == [(0, 0), (1, 160), (3, 480), (2, 320), (4, 640)]
    assert out.sequence == 5 and out.timestamp == 800


def test_relay_can_rewrite_payload_type_and_keeps_extension() -> None:
    out = RtpSender(payload_type=0, ssrc=5, sequence=0, timestamp=0)
    head = bytes([0x90, 0x80 | 101]) + struct.pack("!HII", 1, 2, 3)
    data = head + struct.pack("!HH", 0xBEDE, 1) + b"\x10\x20\x30\x40" + b"\x01\x0a\x00\xa0"
    new = out.relay(_parse(data), data, payload_type=96)
    h = _parse(new)
    assert (h.payload_type, h.marker, h.ssrc) == (96, True, 5)
    assert new[12:] == data[12:]


def test_relay_of_many_packets_wraps() -> None:
    out = RtpSender(payload_type=0, ssrc=5, sequence=0xFFF0, timestamp=0xFFFFF000)
    last = None
    for i in range(40):
        data = _incoming(1, 1000 + i, 9_000 + 160 * i)
        last = _parse(out.relay(_parse(data), data))
    assert last is not None
    assert last.sequence == (0xFFF0 + 39) & 0xFFFF
    assert last.timestamp == (0xFFFFF000 + 160 * 39) & 0xFFFFFFFF


def _hdr(seq: int, ts: int, ssrc: int = 1) -> RtpHeader:
    return RtpHeader(
        payload_type=0,
        marker=False,
        sequence=seq & 0xFFFF,
        timestamp=ts & 0xFFFFFFFF,
        ssrc=ssrc,
        header_len=12,
        payload_end=172,
    )


def test_stats_count_loss_across_sequence_wrap() -> None:
    stats = RtpReceiveStats()
    start = 0xFFF0
    received = [i for i in range(60) if i not in (20, 21, 40)]
    for i in received:
        stats.update(_hdr(start + i, 160 * i), arrival=160 * i)
    # RFC 3550 §A.1: the first packet is probation; counting starts at the second.
    assert stats.cycles == 1 << 16
    assert stats.extended_max_seq == (1 << 16) + ((start + 59) & 0xFFFF)
    assert stats.received == len(received) - 1
    assert stats.expected == 59
    assert stats.lost == 3
    assert stats.fraction_lost() == (3 << 8) // 59
    assert stats.fraction_lost() == 0  # nothing new in the next interval


def test_stats_duplicates_and_reordering() -> None:
    stats = RtpReceiveStats()
    for seq in (1, 2, 3, 5, 4, 5):
        stats.update(_hdr(seq, seq * 160), arrival=seq * 160)
    assert stats.expected == 4  # 2..5
    assert stats.received == 5
    assert stats.lost == -1  # a duplicate (RFC 3550 §6.4.1 allows negative)


def test_stats_ssrc_change_resets() -> None:
    stats = RtpReceiveStats()
    for seq in range(10):
        stats.update(_hdr(seq, seq * 160, ssrc=1), arrival=seq * 160 + (seq % 2) * 40)
    assert stats.received == 9 and stats.jitter > 0
    for seq in range(500, 505):
        stats.update(_hdr(seq, seq * 160, ssrc=2), arrival=10_000 + seq * 160)
    assert stats.ssrc == 2 and stats.ssrc_changes == 1
    assert stats.received == 4 and stats.lost == 0 and stats.jitter == 0


def test_stats_large_jump_restarts_after_two_sequential_packets() -> None:
    stats = RtpReceiveStats()
    for seq in range(5):
        assert stats.update(_hdr(seq, seq * 160), arrival=seq * 160) is (seq > 0)
    assert stats.update(_hdr(30_000, 0), arrival=900) is False  # a jump: not trusted yet
    assert stats.update(_hdr(30_001, 160), arrival=1060) is True  # confirmed: restart
    assert stats.received == 1 and stats.expected == 1


def test_jitter_matches_rfc3550_a8() -> None:
    stats = RtpReceiveStats()
    delays = [0, 0, 30, 5, 80, 0, 0, 10, 200, 0, 0, 0]
    for i, delay in enumerate(delays):
        stats.update(_hdr(i, 0xFFFFFF00 + 160 * i), arrival=1_000_000 + 160 * i + delay)
    # Independent computation: J += (|D| - J) / 16 from the second counted packet on.
    j = 0.0
    for prev, cur in itertools.pairwise(delays[1:]):
        j += (abs(cur - prev) - j) / 16
    assert stats.jitter_f == pytest.approx(j)
    assert stats.jitter == int(j)


def test_jitter_zero_for_perfect_pacing() -> None:
    stats = RtpReceiveStats()
    for i in range(100):
        stats.update(_hdr(i, 12345 + 160 * i), arrival=160 * i + 0.5)
    assert stats.jitter == 0 and stats.lost == 0
