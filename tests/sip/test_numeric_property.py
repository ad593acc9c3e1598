"""Hostile numbers in every numeric SIP header and SDP field (issue 16): digits of other
scripts (``²``, Arabic-Indic, fullwidth), huge numbers, ``inf``/``nan``, exponents, signs, ``_``,
empty values. Every parser may refuse them, but only with its own error type
(``SipParseError``, ``SdpError``); a number it accepts is made of ASCII digits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.headers import CSeq, NameAddr, Via
from flowpbx.sip.message import (
    Request,
    Response,
    diagnose_request,
    frame_stream,
    make_response,
    parse_message,
)
from flowpbx.sip.mwi import parse_summary
from flowpbx.sip.numeric import is_digits, parse_decimal, parse_delta, parse_uint
from flowpbx.sip.prack import PrackState, rseq_of
from flowpbx.sip.refer import parse_sipfrag
from flowpbx.sip.sdp import SdpError, SessionDescription, answer_offer, parse_answer, parse_offer
from flowpbx.sip.session_timer import negotiate_uas, parse_min_se, parse_session_expires
from flowpbx.sip.uri import SipUri

FIXED = [
    "",
    " ",
    "²",
    "¹²³",
    "٣٦٠٠",  # Arabic-Indic digits: int() reads them as 3600
    "\uff11\uff18\uff10\uff10",  # fullwidth
    "\U0001d7d7\U0001d7ce",
    "Ⅻ",
    "½",
    "৩",
    "inf",
    "-inf",
    "Infinity",
    "nan",
    "NaN",
    "1e999",
    "1E5",
    "-1",
    "+1",
    "-0",
    "0x10",
    "1_000",
    "1.5",
    ".5",
    "5.",
    "20.0",
    "0",
    "00000000000000000000000001",
    "4294967296",
    "18446744073709551616",
    "9" * 20,
    "9" * 4301,  # beyond int()'s default 4,300-digit limit
    "9" * 6000,
    "\x00",
    "1\x00",
    "1\u00a0",
]
# mixtures of ASCII digits, other scripts' digits and number-ish punctuation
mixed = st.text(
    alphabet=st.one_of(
        st.characters(categories=["Nd", "No", "Nl"]),
        st.sampled_from(list("0123456789.-+eE_xX ")),
    ),
    max_size=24,
)
hostile = st.one_of(st.sampled_from(FIXED), mixed, st.integers(1, 6000).map(lambda n: "9" * n))


def _survives(fn: Callable[[], object], *allowed: type[Exception]) -> None:
    try:
        fn()
    except allowed:
        pass


def _request(extra: list[tuple[str, str]], body: str = "", method: str = "INVITE") -> bytes:
    lines = [
        f"{method} sip:101@127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKnum1;rport",
        "Max-Forwards: 70",
        "From: <sip:200@127.0.0.1>;tag=a1",
        "To: <sip:101@127.0.0.1>",
        "Call-ID: numbers-1",
        f"CSeq: 1 {method}",
        "Contact: <sip:200@127.0.0.1:5062>",
        *(f"{k}: {v}" for k, v in extra),
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8", "surrogatepass")


# -- the helpers themselves -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(hostile)
@example("0123456789")
def test_helpers_accept_ascii_digits_only(text: str) -> None:
    ascii_digits = text != "" and all(c in "0123456789" for c in text)
    assert is_digits(text) is ascii_digits
    value = parse_uint(text)
    assert (value is not None) == (ascii_digits and len(text) <= 10)
    delta = parse_delta(text)
    assert (delta is not None) == ascii_digits
    assert delta is None or 0 <= delta <= 2**32 - 1
    number = parse_decimal(text)
    if number is not None:
        assert number == number and number != float("inf")  # never nan or inf
        assert all(c in "0123456789." for c in text)


# -- headers ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(hostile)
def test_header_values(n: str) -> None:
    _survives(lambda: CSeq.parse(f"{n} INVITE"), SipParseError)

    def via() -> None:
        v = Via.parse(f"SIP/2.0/UDP pbx.example.com:{n};branch=z9hG4bKx;rport={n}")
        assert v.rport is None or v.rport is True or 0 <= v.rport <= 65535  # type: ignore[operator]
        v.sent_by  # noqa: B018

    _survives(via, SipParseError)

    def name_addr() -> None:
        a = NameAddr.parse(f"<sip:a@h.example:{n}>;expires={n};q={n}")
        assert a.expires is None or is_digits(n)
        assert a.q is None or 0.0 <= a.q <= 1.0

    _survives(name_addr, SipParseError)
    _survives(lambda: SipUri.parse(f"sip:a@h.example:{n};ttl={n}"), SipParseError)
    _survives(lambda: parse_session_expires(n), SipParseError)
    _survives(lambda: parse_session_expires(f"{n};refresher=uac"), SipParseError)
    _survives(lambda: parse_min_se(n), SipParseError)
    _survives(
        lambda: parse_summary(
            f"Messages-Waiting: yes\r\nVoice-Message: {n}/{n} ({n}/{n})\r\n".encode()
        ),
        SipParseError,
    )
    _survives(lambda: parse_sipfrag(f"SIP/2.0 {n} OK\r\n".encode()), SipParseError)


NUMERIC_HEADERS = [
    "Content-Length",
    "l",
    "Max-Forwards",
    "Expires",
    "Min-Expires",
    "Session-Expires",
    "x",
    "Min-SE",
    "RSeq",
    "RAck",
    "Retry-After",
    "Subscription-State",
    "CSeq",
]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(NUMERIC_HEADERS), hostile, st.sampled_from(["INVITE", "REGISTER", "SUBSCRIBE"])
)
@example("Session-Expires", "²", "INVITE")  # issue 16: raised ValueError before auth
@example("x", "²", "INVITE")
@example("Min-SE", "²", "INVITE")
def test_numeric_header_in_a_request(name: str, n: str, method: str) -> None:
    value = {
        "CSeq": f"{n} {method}",
        "RAck": f"{n} {n} INVITE",
        "Subscription-State": f"active;expires={n}",
    }.get(name, n)
    data = _request([(name, value), ("Session-Expires", "1800")], method=method)
    if name == "CSeq":
        data = data.replace(f"CSeq: 1 {method}\r\n".encode(), b"")
    try:
        msg = parse_message(data)
    except SipParseError:
        return
    assert isinstance(msg, Request)
    _survives(lambda: diagnose_request(msg), SipParseError)
    _survives(lambda: msg.max_forwards, SipParseError)
    assert msg.expires is None or 0 <= msg.expires <= 2**32 - 1
    _survives(lambda: negotiate_uas(msg), SipParseError)
    _survives(lambda: make_response(msg, 400).to_bytes(), SipParseError)
    _survives(lambda: frame_stream(data), SipParseError)
    _survives(lambda: parse_message(data, stream=True), SipParseError)


@settings(max_examples=100, deadline=None)
@given(hostile)
def test_numbers_in_a_response(n: str) -> None:
    data = (
        f"SIP/2.0 183 Session Progress\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKr\r\n"
        "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: r1\r\nCSeq: 1 INVITE\r\n"
        f"Require: 100rel\r\nRSeq: {n}\r\nContact: <sip:b@h>;expires={n}\r\n"
        f"Expires: {n}\r\n\r\n"
    ).encode()
    try:
        resp = parse_message(data)
    except SipParseError:
        return
    assert isinstance(resp, Response)
    _survives(lambda: rseq_of(resp), SipParseError)
    _survives(lambda: PrackState().rack_for(resp), SipParseError)
    _survives(lambda: [c.expires for c in resp.contacts], SipParseError)


# -- SDP ----------------------------------------------------------------------------------------

SDP_FIELDS = [
    "o=- {n} {n} IN IP4 192.0.2.1",
    "c=IN IP4 192.0.2.1/{n}",
    "m=audio {n} RTP/AVP 0 101",
    "m=audio 4000/{n} RTP/AVP 0 101",
    "m=audio 4000 RTP/AVP {n} 101",
    "a=rtpmap:{n} PCMU/8000",
    "a=rtpmap:0 PCMU/{n}",
    "a=rtpmap:0 PCMU/8000/{n}",
    "a=rtpmap:101 telephone-event/{n}",
    "a=fmtp:{n} 0-{n}",
    "a=ptime:{n}",
    "a=maxptime:{n}",
    "a=rtcp:{n} IN IP4 192.0.2.1",
]
_SDP = [
    "v=0",
    "o=- 1 1 IN IP4 192.0.2.1",
    "s=-",
    "c=IN IP4 192.0.2.1",
    "t=0 0",
    "m=audio 4000 RTP/AVP 0 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=sendrecv",
]


def _sdp(field: str, n: str) -> bytes:
    line = field.replace("{n}", n)
    kind = line[:2]
    lines = list(_SDP)
    for i, old in enumerate(lines):
        if old.startswith(kind) and kind in ("o=", "c=", "m="):
            lines[i] = line
            break
    else:
        lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SDP_FIELDS), hostile)
@example("a=ptime:{n}", "inf")  # issue 16: OverflowError
@example("a=ptime:{n}", "nan")
@example("m=audio 4000/{n} RTP/AVP 0 101", "²")
@example("a=rtpmap:{n} PCMU/8000", "²")
@example("o=- {n} {n} IN IP4 192.0.2.1", "9" * 5000)
def test_sdp_numbers(field: str, n: str) -> None:
    body = _sdp(field, n)
    _survives(lambda: SessionDescription.parse(body), SdpError)

    def offer() -> None:
        o = parse_offer(body)
        assert o.ptime is None or 1 <= o.ptime <= 1000
        assert 0 < o.port <= 65535
        assert all(0 <= f.payload_type <= 127 for f in o.formats)

    _survives(offer, SdpError)
    _survives(lambda: answer_offer(body, address="192.0.2.9", port=5000, session_id=1), SdpError)
    _survives(lambda: parse_answer(body), SdpError)


@pytest.mark.parametrize("value", ["²", "١٨٠٠", "inf", "9" * 5000, ""])
def test_session_expires_refused_as_a_parse_error(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_session_expires(value)
    with pytest.raises(SipParseError):
        parse_min_se(value)


def test_ptime_inf_and_unicode_digits_are_ignored_not_raised() -> None:
    for value in ("inf", "nan", "1e999", "²", "٢٠", "0", "-20"):
        offer = parse_offer(_sdp("a=ptime:{n}", value))
        assert offer.ptime is None
    assert parse_offer(_sdp("a=ptime:{n}", "30")).ptime == 30
    assert parse_offer(_sdp("a=ptime:{n}", "20.5")).ptime == 20


def test_other_scripts_digits_are_not_numbers() -> None:
    # int() would read these as 3600 and 1800: accepted quietly, they are not numbers in SIP
    assert NameAddr.parse("<sip:a@h>;expires=٣٦٠٠").expires is None
    assert parse_delta("١٨٠٠") is None
    with pytest.raises(SipParseError):
        CSeq.parse("\uff11 INVITE")
    with pytest.raises(SipParseError):
        SipUri.parse("sip:a@h:\uff15\uff10\uff16\uff10")
    with pytest.raises(SdpError):
        SessionDescription.parse(_sdp("m=audio {n} RTP/AVP 0 101", "\uff14\uff10\uff10\uff10"))
