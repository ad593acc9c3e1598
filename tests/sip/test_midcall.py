"""Sans-I/O pieces of mid-dialog SIP: session timers (RFC 4028), REFER / Replaces / sipfrag
(RFC 3515, 3891, 3420), reliable provisionals (RFC 3262) and message summaries (RFC 3842)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import Request, Response, parse_message
from flowpbx.sip.mwi import MessageSummary, parse_summary
from flowpbx.sip.prack import PrackState, is_reliable
from flowpbx.sip.refer import (
    Replaces,
    build_refer_to,
    notify_headers,
    parse_refer_to,
    parse_replaces,
    parse_sipfrag,
    sipfrag,
)
from flowpbx.sip.session_timer import (
    SessionExpires,
    expiry_after,
    negotiate_uas,
    parse_session_expires,
    refresh_after,
)


def _invite(*extra: str) -> bytes:
    lines = [
        "INVITE sip:102@pbx SIP/2.0",
        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKst1",
        "From: <sip:101@pbx>;tag=a",
        "To: <sip:102@pbx>",
        "Call-ID: st1",
        "CSeq: 1 INVITE",
        "Max-Forwards: 70",
        *extra,
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def _req(*extra: str) -> Request:
    msg = parse_message(_invite(*extra))
    assert isinstance(msg, Request)
    return msg


# -- session timers -----------------------------------------------------------------------------


def test_session_expires_parse_and_format() -> None:
    se = parse_session_expires("1800;refresher=UAC")
    assert se == SessionExpires(interval=1800, refresher="uac")
    assert str(se) == "1800;refresher=uac"
    assert parse_session_expires(" 90 ").refresher is None
    for bad in ("abc", "-5", "90;refresher=me"):
        with pytest.raises(SipParseError):
            parse_session_expires(bad)


def test_no_session_expires_no_timer() -> None:
    assert negotiate_uas(_req()) is None


def test_uac_that_supports_timer_refreshes() -> None:
    d = negotiate_uas(_req("Session-Expires: 1800", "Supported: timer, 100rel"))
    assert d is not None and d.interval == 1800 and d.refresher == "uac"
    assert not d.we_refresh
    assert ("Session-Expires", "1800;refresher=uac") in d.response_headers()
    assert ("Require", "timer") in d.response_headers()


def test_uac_without_timer_support_leaves_refreshing_to_us() -> None:
    d = negotiate_uas(_req("Session-Expires: 600"))
    assert d is not None and d.refresher == "uas" and d.we_refresh


def test_explicit_refresher_is_honoured() -> None:
    d = negotiate_uas(_req("Session-Expires: 600;refresher=uas", "Supported: timer"))
    assert d is not None and d.refresher == "uas"


def test_interval_below_min_se_is_refused_with_422() -> None:
    d = negotiate_uas(_req("Session-Expires: 60", "Supported: timer", "Min-SE: 60"))
    assert d is not None and d.reject_min_se == 90


def test_refresh_and_expiry_points() -> None:
    assert refresh_after(1800) == 900
    assert expiry_after(1800) == 1800 - 32  # RFC 4028 §10: min(32, interval/3) before
    assert expiry_after(90) == 60


# -- REFER, Replaces, sipfrag -------------------------------------------------------------------


def test_refer_to_blind() -> None:
    r = parse_refer_to("<sip:103@pbx.example>")
    assert r.uri == "sip:103@pbx.example" and r.replaces is None
    assert parse_refer_to("sip:103@pbx").uri == "sip:103@pbx"
    with pytest.raises(SipParseError):
        parse_refer_to("<sip:103@pbx")


def test_refer_to_with_replaces_round_trip() -> None:
    rep = Replaces(call_id="abc@h", to_tag="t1", from_tag="f1", early_only=True)
    value = build_refer_to("sip:103@pbx", rep)
    assert "%3B" in value and "@" in value.split("?")[0]
    parsed = parse_refer_to(value)
    assert parsed.uri == "sip:103@pbx"
    assert parsed.replaces == rep


def test_replaces_header() -> None:
    rep = parse_replaces("425928@bobster.example.org;to-tag=7743;from-tag=6472")
    assert rep == Replaces(call_id="425928@bobster.example.org", to_tag="7743", from_tag="6472")
    assert str(rep) == "425928@bobster.example.org;to-tag=7743;from-tag=6472"
    with pytest.raises(SipParseError):
        parse_replaces("x@y;to-tag=1")


def test_sipfrag_and_notify_headers() -> None:
    assert sipfrag(180) == b"SIP/2.0 180 Ringing\r\n"
    assert parse_sipfrag(sipfrag(200)) == 200
    assert parse_sipfrag(b"hello") is None
    active = dict(notify_headers(100))
    assert active["Event"] == "refer" and active["Subscription-State"].startswith("active")
    assert dict(notify_headers(486))["Subscription-State"].startswith("terminated")


# -- PRACK -------------------------------------------------------------------------------------


def _provisional(rseq: int, *, reliable: bool = True, tag: str = "u1") -> Response:
    lines = [
        "SIP/2.0 183 Session Progress",
        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKp1",
        "From: <sip:pbx@pbx>;tag=a",
        f"To: <sip:+371@prov>;tag={tag}",
        "Call-ID: p1",
        "CSeq: 2 INVITE",
    ]
    if reliable:
        lines += ["Require: 100rel", f"RSeq: {rseq}"]
    lines += ["Content-Length: 0", "", ""]
    response = parse_message("\r\n".join(lines).encode())
    assert isinstance(response, Response)
    return response


def test_reliable_provisional_gets_one_prack_each_in_order() -> None:
    state = PrackState()
    first = _provisional(7)
    assert is_reliable(first)
    assert state.rack_for(first) == "7 2 INVITE"
    assert state.rack_for(_provisional(7)) is None  # retransmission
    assert state.rack_for(_provisional(9)) is None  # out of order
    assert state.rack_for(_provisional(8)) == "8 2 INVITE"
    assert state.rack_for(_provisional(1, tag="fork2")) == "1 2 INVITE"
    assert not is_reliable(_provisional(1, reliable=False))


# -- MWI ---------------------------------------------------------------------------------------


def test_message_summary_body() -> None:
    s = MessageSummary(new=2, old=8, urgent_new=0, urgent_old=2, account="sip:*97@pbx")
    assert s.to_bytes() == (
        b"Messages-Waiting: yes\r\nMessage-Account: sip:*97@pbx\r\nVoice-Message: 2/8 (0/2)\r\n"
    )
    assert MessageSummary(new=0, old=3).to_bytes().startswith(b"Messages-Waiting: no\r\n")


@given(st.integers(0, 999), st.integers(0, 999), st.integers(0, 99), st.integers(0, 99))
def test_message_summary_round_trip(new: int, old: int, un: int, uo: int) -> None:
    s = MessageSummary(new=new, old=old, urgent_new=un, urgent_old=uo, account="sip:100@pbx")
    assert parse_summary(s.to_bytes()) == s


def test_message_summary_refuses_garbage() -> None:
    with pytest.raises(SipParseError):
        parse_summary(b"Voice-Message: 1/2\r\n")
    with pytest.raises(SipParseError):
        parse_summary(b"Messages-Waiting: yes\r\nVoice-Message: x/2\r\n")
