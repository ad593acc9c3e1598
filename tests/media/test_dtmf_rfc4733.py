"""RFC 4733 telephone-events: real captures, sender -> receiver round trips, loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowpbx.media.dtmf import (
    DtmfEvent,
    InvalidDigitError,
    Rfc4733Receiver,
    Rfc4733Sender,
    decode_event_payload,
    encode_event_payload,
)
from flowpbx.media.rtp import RtpHeader, RtpSender, parse_rtp, payload_of
from tests.pcap import read_udp_payloads

PCAP_DIR = Path("/usr/share/sip-tester")
PCAPS = {str(d): f"dtmf_2833_{d}.pcap" for d in range(10)} | {
    "*": "dtmf_2833_star.pcap",
    "#": "dtmf_2833_pound.pcap",
}

needs_pcaps = pytest.mark.skipif(
    not (PCAP_DIR / "dtmf_2833_0.pcap").exists(),
    reason="SIPp pcaps missing: apt-get install sip-tester (scripts/install-system-deps.sh)",
)


def _packets(path: Path) -> list[tuple[float, RtpHeader, bytes]]:
    out = []
    for ts, _src, _dst, data in read_udp_payloads(path):
        header = parse_rtp(data)
        assert header is not None
        out.append((ts, header, payload_of(header, data)))
    return out


@needs_pcaps
@pytest.mark.parametrize(("digit", "name"), sorted(PCAPS.items()))
def test_real_capture_gives_one_press_on_the_first_packet(digit: str, name: str) -> None:
    packets = _packets(PCAP_DIR / name)
    assert len(packets) == 10  # start, 6 updates, end x3 in every capture
    receiver = Rfc4733Receiver()
    results = [receiver.feed(h, p, now) for now, h, p in packets]
    assert results[0] == DtmfEvent(digit=digit, duration_ms=0, source="rfc4733")
    assert results[1:] == [None] * 9
    assert receiver.active_digit is None  # closed by the end packet
    assert receiver.next_deadline() is None
    assert receiver.poll(packets[-1][0] + 10) is None


@needs_pcaps
@pytest.mark.parametrize(("digit", "name"), sorted(PCAPS.items()))
def test_real_capture_reported_at_end_with_duration(digit: str, name: str) -> None:
    packets = _packets(PCAP_DIR / name)
    receiver = Rfc4733Receiver(report="end")
    results = [receiver.feed(h, p, now) for now, h, p in packets]
    events = [r for r in results if r is not None]
    assert events == [DtmfEvent(digit=digit, duration_ms=280, source="rfc4733")]  # 2240 / 8
    assert results.index(events[0]) == 7  # the first end packet


@needs_pcaps
def test_real_captures_in_sequence_give_each_digit_once() -> None:
    receiver = Rfc4733Receiver()
    pressed = []
    for digit in "0123456789*#":
        for now, h, p in _packets(PCAP_DIR / PCAPS[digit]):
            event = receiver.feed(h, p, now)
            if event is not None:
                pressed.append(event.digit)
    assert "".join(pressed) == "0123456789*#"


@needs_pcaps
def test_pcap_reader_sees_the_rtp_stream() -> None:
    records = read_udp_payloads(PCAP_DIR / "dtmf_2833_1.pcap")
    ts, src, dst, payload = records[0]
    assert src == ("192.168.0.3", 49176)
    assert dst == ("192.168.0.1", 10000)
    assert ts == pytest.approx(1134424480.554, abs=0.001)
    assert len(payload) == 16
    assert [round(b[0] - ts, 2) for b in records[:3]] == [0.0, 0.02, 0.04]


def test_payload_encoding() -> None:
    payload = encode_event_payload(event=11, end=True, volume=10, duration=2240)
    assert payload == bytes([11, 0x80 | 10, 0x08, 0xC0])
    assert decode_event_payload(payload) == (11, True, 10, 2240)
    assert decode_event_payload(b"\x01\x02") is None


def test_sender_packets_layout() -> None:
    packets = Rfc4733Sender().packets("5", duration_ms=100, volume=12)
    # 5 ticks of 20 ms: 4 updates + the end packet sent 3 times.
    assert [marker for _, marker, _ in packets] == [True] + [False] * 6
    assert [dur for _, _, dur in packets] == [160, 320, 480, 640, 800, 800, 800]
    fields = [decode_event_payload(p) for p, _, _ in packets]
    assert fields[0] == (5, False, 12, 160)
    assert fields[-3:] == [(5, True, 12, 800)] * 3


def test_sender_short_press_and_letters() -> None:
    packets = Rfc4733Sender().packets("d", duration_ms=20)
    assert [(decode_event_payload(p), m) for p, m, _ in packets] == [
        ((15, True, 10, 160), True),
        ((15, True, 10, 160), False),
        ((15, True, 10, 160), False),
    ]
    with pytest.raises(InvalidDigitError):
        Rfc4733Sender().packets("x")
    with pytest.raises(InvalidDigitError):
        Rfc4733Sender().packets("12")


def _send(
    digits: str, rtp: RtpSender, *, duration_ms: int = 100, gap_ticks: int = 3
) -> list[tuple[float, bytes]]:
    """(now, packet bytes) as the runtime would send them: one per 20 ms tick."""
    sender = Rfc4733Sender()
    now = 0.0
    out: list[tuple[float, bytes]] = []
    for digit in digits:
        event_ts = rtp.timestamp
        for payload, marker, _ in sender.packets(digit, duration_ms=duration_ms):
            out.append(
                (
                    now,
                    rtp.event_packet(payload, timestamp=event_ts, marker=marker, payload_type=101),
                )
            )
            now += 0.02
        for _ in range(gap_ticks):
            out.append((now, rtp.packet(b"\xff" * 160)))
            now += 0.02
    return out


def _receive(
    stream: list[tuple[float, bytes]],
    receiver: Rfc4733Receiver,
    *,
    drop: frozenset[int] = frozenset(),
) -> list[DtmfEvent]:
    events = []
    now = 0.0
    for i, (now, data) in enumerate(stream):
        if i in drop:
            continue
        header = parse_rtp(data)
        assert header is not None
        polled = receiver.poll(now)
        if polled is not None:
            events.append(polled)
        if header.payload_type != 101:
            continue
        event = receiver.feed(header, payload_of(header, data), now)
        if event is not None:
            events.append(event)
    while (polled := receiver.poll(now + 5)) is not None:
        events.append(polled)
    return events


def test_round_trip_same_digit_twice() -> None:
    stream = _send("1123#", RtpSender(payload_type=0))
    events = _receive(stream, Rfc4733Receiver())
    assert "".join(e.digit for e in events) == "1123#"
    assert {e.source for e in events} == {"rfc4733"}
    assert {e.duration_ms for e in events} == {20}  # first packet carries 160 samples
    events = _receive(stream, Rfc4733Receiver(report="end"))
    assert [(e.digit, e.duration_ms) for e in events] == [(d, 100) for d in "1123#"]


def test_round_trip_with_lost_start_and_end_packets() -> None:
    stream = _send("47", RtpSender(payload_type=0))
    # digit 4: ticks 0-6 (start lost); digit 7: ticks 10-16 (all three end packets lost)
    drop = frozenset({0, 14, 15, 16})
    events = _receive(stream, Rfc4733Receiver(), drop=drop)
    assert [e.digit for e in events] == ["4", "7"]
    end_mode = _receive(stream, Rfc4733Receiver(report="end"), drop=drop)
    assert [(e.digit, e.duration_ms) for e in end_mode] == [("4", 100), ("7", 80)]


def test_lost_end_packets_close_the_event_after_the_timeout() -> None:
    receiver = Rfc4733Receiver(report="end", timeout=0.3)
    rtp = RtpSender(payload_type=101, ssrc=9)
    payloads = Rfc4733Sender().packets("9", duration_ms=60)[:2]  # updates only
    ts = rtp.timestamp
    for i, (payload, marker, _) in enumerate(payloads):
        data = rtp.event_packet(payload, timestamp=ts, marker=marker)
        header = parse_rtp(data)
        assert header is not None
        assert receiver.feed(header, payload_of(header, data), i * 0.02) is None
    assert receiver.active_digit == "9"
    assert receiver.next_deadline() == pytest.approx(0.32)
    assert receiver.poll(0.31) is None
    assert receiver.poll(0.32) == DtmfEvent(digit="9", duration_ms=40, source="rfc4733")
    assert receiver.next_deadline() is None


def test_late_end_retransmission_after_next_press_is_ignored() -> None:
    receiver = Rfc4733Receiver()
    rtp = RtpSender(payload_type=101, ssrc=3)
    first_ts = rtp.timestamp
    end = encode_event_payload(event=2, end=True, volume=10, duration=800)
    h1 = parse_rtp(rtp.event_packet(end, timestamp=first_ts, marker=True))
    assert h1 is not None
    assert receiver.feed(h1, end, 0.0) == DtmfEvent(digit="2", duration_ms=100, source="rfc4733")
    start = encode_event_payload(event=3, end=False, volume=10, duration=160)
    h2 = parse_rtp(rtp.event_packet(start, timestamp=first_ts + 2000, marker=True))
    assert h2 is not None
    assert receiver.feed(h2, start, 0.3) is not None
    assert receiver.feed(h1, end, 0.31) is None  # the old end packet, late
    assert receiver.active_digit == "3"


def test_long_event_segments_are_one_press() -> None:
    # RFC 4733 §2.5.1.3: after 0xFFFF samples the sender starts a new segment at ts + 0xFFFF.
    receiver = Rfc4733Receiver(report="end")
    base = 0xFFFF0000  # also crosses the 32-bit timestamp wrap
    seg1 = encode_event_payload(event=0, end=False, volume=10, duration=0xFFFF)
    seg2 = encode_event_payload(event=0, end=True, volume=10, duration=8000)

    def header(ts: int, marker: bool) -> RtpHeader:
        return RtpHeader(
            payload_type=101,
            marker=marker,
            sequence=1,
            timestamp=ts,
            ssrc=1,
            header_len=12,
            payload_end=16,
        )

    assert receiver.feed(header(base, True), seg1, 0.0) is None
    event = receiver.feed(header((base + 0xFFFF) & 0xFFFFFFFF, False), seg2, 8.2)
    assert event == DtmfEvent(digit="0", duration_ms=round((0xFFFF + 8000) / 8), source="rfc4733")


def test_ignores_short_payloads_and_non_dtmf_events() -> None:
    receiver = Rfc4733Receiver()
    header = RtpHeader(
        payload_type=101,
        marker=True,
        sequence=1,
        timestamp=1,
        ssrc=1,
        header_len=12,
        payload_end=14,
    )
    assert receiver.feed(header, b"\x01\x0a", 0.0) is None
    flash = encode_event_payload(event=16, end=False, volume=10, duration=160)
    assert receiver.feed(header, flash, 0.0) is None
    assert receiver.active_digit is None


def test_press_that_starts_and_ends_while_another_is_open_is_not_lost() -> None:
    receiver = Rfc4733Receiver(report="end")

    def header(ts: int) -> RtpHeader:
        return RtpHeader(
            payload_type=101,
            marker=True,
            sequence=1,
            timestamp=ts,
            ssrc=1,
            header_len=12,
            payload_end=16,
        )

    upd = encode_event_payload(event=1, end=False, volume=10, duration=160)
    assert receiver.feed(header(1000), upd, 0.0) is None
    only_end = encode_event_payload(event=2, end=True, volume=10, duration=400)
    assert receiver.feed(header(5000), only_end, 0.5) == DtmfEvent(
        digit="1", duration_ms=20, source="rfc4733"
    )
    assert receiver.next_deadline() == float("-inf")
    assert receiver.poll(0.5) == DtmfEvent(digit="2", duration_ms=50, source="rfc4733")
    assert receiver.poll(0.5) is None
