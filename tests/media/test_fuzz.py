"""Parsers of received data never raise, whatever arrives (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flowpbx.media.dtmf import Rfc4733Receiver
from flowpbx.media.rtp import RtpSender, build_rtp, parse_rtcp, parse_rtp, payload_of


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_parse_rtp_never_raises(data: bytes) -> None:
    header = parse_rtp(data)
    if header is not None:
        assert 12 <= header.header_len <= header.payload_end <= len(data)
        assert payload_of(header, data) == data[header.header_len : header.payload_end]
        # Relaying whatever parsed must keep the packet parseable and its payload intact.
        out = RtpSender(payload_type=0).relay(header, data)
        again = parse_rtp(out)
        assert again is not None and payload_of(again, out) == payload_of(header, data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_parse_rtcp_never_raises(data: bytes) -> None:
    reports = parse_rtcp(data)
    assert reports is None or isinstance(reports, list)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.binary(min_size=0, max_size=6)), max_size=30))
def test_rfc4733_receiver_never_raises(packets: list[tuple[int, bytes]]) -> None:
    receiver = Rfc4733Receiver()
    now = 0.0
    for ts_step, payload in packets:
        data = build_rtp(
            payload_type=101,
            sequence=1,
            timestamp=ts_step * 160,
            ssrc=1,
            payload=payload,
            marker=ts_step == 0,
        )
        header = parse_rtp(data)
        assert header is not None
        event = receiver.feed(header, payload, now)
        assert event is None or event.digit in "0123456789*#ABCD"
        now += 0.02
        receiver.poll(now)
