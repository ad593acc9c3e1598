"""SIP message parsing, building and serialising (RFC 3261 §7, §8.2.6, §18.3)."""

from __future__ import annotations

import pytest

from flowpbx.sip.errors import LocalSipError, SipParseError
from flowpbx.sip.headers import Headers, NameAddr
from flowpbx.sip.message import (
    Request,
    RequestParseError,
    Response,
    check_request,
    check_response,
    diagnose_request,
    frame_stream,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
)

SDP = (
    b"v=0\r\n"
    b"o=- 1 1 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
)

INVITE_GOLDEN = (
    b"INVITE sip:200@pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice" <sip:101@pbx.example.com>;tag=1928301774\r\n'
    b"To: <sip:200@pbx.example.com>\r\n"
    b"Call-ID: a84b4c76e66710@192.0.2.10\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:101@192.0.2.10:5062;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, INFO, NOTIFY\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)

OK_GOLDEN = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport=5062;received=192.0.2.10\r\n"
    b'From: "Alice" <sip:101@pbx.example.com>;tag=1928301774\r\n'
    b"To: <sip:200@pbx.example.com>;tag=a6c85cf\r\n"
    b"Call-ID: a84b4c76e66710@192.0.2.10\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:200@192.0.2.1:5060>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)

REGISTER_GOLDEN = (
    b"REGISTER sip:pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKnashds7\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:101@pbx.example.com>;tag=456248\r\n"
    b"To: <sip:101@pbx.example.com>\r\n"
    b"Call-ID: 843817637684230@998sdasdh09\r\n"
    b"CSeq: 1827 REGISTER\r\n"
    b"Contact: <sip:101@192.0.2.10:5062>;expires=3600\r\n"
    b'Authorization: Digest username="101", realm="pbx.example.com", '
    b'nonce="MTcwMDAwMDAwMA", uri="sip:pbx.example.com", '
    b'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, '
    b'cnonce="0a4f113b", qop=auth, nc=00000001\r\n'
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def build_invite() -> Request:
    h = Headers()
    h.add("Via", "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport")
    h.add("Max-Forwards", "70")
    h.add("From", '"Alice" <sip:101@pbx.example.com>;tag=1928301774')
    h.add("To", "<sip:200@pbx.example.com>")
    h.add("Call-ID", "a84b4c76e66710@192.0.2.10")
    h.add("CSeq", "314159 INVITE")
    h.add("Contact", "<sip:101@192.0.2.10:5062;transport=udp>")
    h.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, INFO, NOTIFY")
    h.add("Content-Type", "application/sdp")
    return Request("INVITE", "sip:200@pbx.example.com", h, SDP)


# -- golden bytes: parse, serialise, compare ----------------------------------------------------


def test_invite_golden_bytes_built() -> None:
    assert build_invite().to_bytes() == INVITE_GOLDEN


@pytest.mark.parametrize("golden", [INVITE_GOLDEN, OK_GOLDEN, REGISTER_GOLDEN])
def test_golden_roundtrip_identical_bytes(golden: bytes) -> None:
    msg = parse_message(golden)
    assert msg.to_bytes() == golden
    if isinstance(msg, Request):
        assert check_request(msg) is None
    else:
        assert check_response(msg)


def test_invite_golden_values() -> None:
    req = parse_message(INVITE_GOLDEN)
    assert isinstance(req, Request)
    assert req.method == "INVITE"
    assert str(req.ruri) == "sip:200@pbx.example.com"
    assert req.top_via.branch == "z9hG4bK776asdhds"
    assert req.top_via.rport is True
    assert req.top_via.sent_by == ("192.0.2.10", 5062)
    assert req.from_.display == "Alice"
    assert req.from_.tag == "1928301774"
    assert req.to.tag is None
    assert req.cseq.seq == 314159
    assert req.contacts[0].uri.param("transport") == "udp"
    assert req.headers.get_all("Allow")[:3] == ["INVITE", "ACK", "CANCEL"]
    assert req.body == SDP
    assert req.sdp == SDP
    assert repr(req).startswith("<Request INVITE sip:200@pbx.example.com")


def test_ok_golden_values() -> None:
    resp = parse_message(OK_GOLDEN)
    assert isinstance(resp, Response)
    assert (resp.status, resp.reason) == (200, "OK")
    assert resp.top_via.rport == 5062
    assert resp.top_via.received == "192.0.2.10"
    assert resp.to.tag == "a6c85cf"
    assert resp.content_type == "application/sdp"


def test_register_golden_values() -> None:
    req = parse_message(REGISTER_GOLDEN)
    assert isinstance(req, Request)
    assert req.contacts[0].expires == 3600
    auth = req.headers.get("Authorization")
    assert auth is not None and auth.startswith("Digest username=")


def test_roundtrip_compact_forms_become_canonical() -> None:
    data = (
        b"OPTIONS sip:a@b.example SIP/2.0\r\n"
        b"v: SIP/2.0/TCP h.example;branch=z9hG4bK1, SIP/2.0/UDP h2.example;branch=z9hG4bK2\r\n"
        b"f: <sip:c@d.example>;tag=1\r\n"
        b"t: sip:a@b.example\r\n"
        b"i: abc\r\n"
        b"CSeq: 1 OPTIONS\r\n"
        b"k: replaces, timer\r\n"
        b"m: <sip:c@10.0.0.1>\r\n"
        b"l: 0\r\n\r\n"
    )
    msg = parse_message(data)
    out = msg.to_bytes()
    assert b"\r\nVia: " in out and b"\r\nFrom: " in out and b"\r\nSupported: " in out
    again = parse_message(out)
    assert again.headers.items() == msg.headers.items()
    assert [v.branch for v in again.vias] == ["z9hG4bK1", "z9hG4bK2"]


# -- framing ------------------------------------------------------------------------------------


def _simple(extra: bytes = b"", body: bytes = b"", cl: bytes | None = None) -> bytes:
    head = (
        b"MESSAGE sip:a@b.example SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP h.example;branch=z9hG4bK1\r\n"
        b"From: <sip:c@d.example>;tag=1\r\n"
        b"To: <sip:a@b.example>\r\n"
        b"Call-ID: abc\r\n"
        b"CSeq: 1 MESSAGE\r\n"
        b"Content-Type: text/plain\r\n" + extra
    )
    if cl is not None:
        head += b"Content-Length: " + cl + b"\r\n"
    return head + b"\r\n" + body


def test_content_length_frames_body_and_discards_rest() -> None:
    msg = parse_message(_simple(body=b"hello world", cl=b"5"))
    assert msg.body == b"hello"


def test_content_length_larger_than_datagram_is_400() -> None:
    with pytest.raises(RequestParseError) as info:
        parse_message(_simple(body=b"hi", cl=b"10"))
    assert info.value.status_hint == 400
    assert info.value.request is not None


@pytest.mark.parametrize("cl", [b"-1", b"abc", b"1 2", b"\xef\xbc\x91", b"99999999999999"])
def test_bad_content_length_is_400(cl: bytes) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(_simple(body=b"hi", cl=cl))
    assert info.value.status_hint == 400


def test_missing_content_length_udp_takes_rest_stream_refuses() -> None:
    assert parse_message(_simple(body=b"rest of it")).body == b"rest of it"
    with pytest.raises(SipParseError) as info:
        parse_message(_simple(body=b"x"), stream=True)
    assert info.value.status_hint == 400


def test_bare_lf_line_endings_tolerated() -> None:
    data = _simple(body=b"hi", cl=b"2").replace(b"\r\n", b"\n")
    msg = parse_message(data)
    assert msg.body == b"hi"
    assert msg.call_id == "abc"


def test_leading_crlf_skipped_and_keepalive_dropped() -> None:
    assert parse_message(b"\r\n\r\n" + _simple(cl=b"0")).call_id == "abc"
    with pytest.raises(SipParseError) as info:
        parse_message(b"\r\n\r\n")
    assert info.value.status_hint is None


def test_folded_header_values_joined() -> None:
    msg = parse_message(_simple(extra=b"Subject: first\r\n  second\r\n\tthird\r\n", cl=b"0"))
    assert msg.headers.get("Subject") == "first second third"


def test_header_without_colon_is_400() -> None:
    with pytest.raises(RequestParseError) as info:
        parse_message(_simple(extra=b"Broken header\r\n", cl=b"0"))
    assert info.value.status_hint == 400
    assert info.value.request is not None


def test_missing_blank_line_is_an_error() -> None:
    with pytest.raises(SipParseError):
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n")


def test_request_version_505_and_response_version_dropped() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(_simple(cl=b"0").replace(b" SIP/2.0\r\n", b" SIP/3.0\r\n", 1))
    assert info.value.status_hint == 505
    with pytest.raises(SipParseError) as info2:
        parse_message(b"SIP/3.0 200 OK\r\nCall-ID: x\r\n\r\n")
    assert info2.value.status_hint is None


@pytest.mark.parametrize("line", [b"SIP/2.0 2000 OK", b"SIP/2.0 099 Low", b"SIP/2.0 abc OK"])
def test_bad_status_codes_dropped(line: bytes) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(line + b"\r\nCall-ID: x\r\n\r\n")
    assert info.value.status_hint is None
    assert not isinstance(info.value, RequestParseError)


def test_frame_stream() -> None:
    one = _simple(body=b"hello", cl=b"5")
    two = _simple(body=b"", cl=b"0")
    buf = one + two
    n = frame_stream(buf)
    assert n == len(one)
    assert parse_message(buf[:n], stream=True).body == b"hello"
    assert frame_stream(buf[n:]) == len(two)
    assert frame_stream(one[:-1]) is None
    assert frame_stream(one[:30]) is None
    assert frame_stream(b"\r\n\r\n") == 4
    assert frame_stream(b"") is None
    with pytest.raises(SipParseError):
        frame_stream(_simple(body=b""))
    with pytest.raises(SipParseError) as info:
        frame_stream(_simple(cl=b"70000"))
    assert info.value.status_hint == 413


# -- Headers ------------------------------------------------------------------------------------


def test_headers_case_insensitive_and_compact() -> None:
    h = Headers([("v", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("call-id", "x"), ("X-Custom", "1")])
    assert h.items() == [
        ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"),
        ("Call-ID", "x"),
        ("X-Custom", "1"),
    ]
    assert h.get("VIA") == h.get("v") == "SIP/2.0/UDP a;branch=z9hG4bK1"
    assert "i" in h and "CALL-ID" in h and "x-custom" in h
    assert "Route" not in h
    assert h.get("Route") is None
    assert h.get_all("Route") == []


def test_headers_get_all_splits_lists_respecting_quotes() -> None:
    h = Headers()
    h.add("Contact", '"Doe, John" <sip:j@a;x="1,2">;q=0.5, <sip:k@b>')
    h.add("Contact", "<sip:l@c>")
    h.add("Date", "Sat, 13 Nov 2010 23:29:00 GMT")
    assert h.get_all("Contact") == ['"Doe, John" <sip:j@a;x="1,2">;q=0.5', "<sip:k@b>", "<sip:l@c>"]
    assert h.get("Contact") == '"Doe, John" <sip:j@a;x="1,2">;q=0.5'
    assert h.get_all("Date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]
    assert h.raw_all("Contact")[1] == "<sip:l@c>"
    assert h.count("m") == 2


def test_headers_prepend_set_remove_copy() -> None:
    h = Headers([("From", "a"), ("Via", "v2"), ("To", "b")])
    h.prepend("Via", "v1")
    assert [n for n, _ in h.items()] == ["From", "Via", "Via", "To"]
    assert h.get_all("Via") == ["v1", "v2"]
    h.prepend("Record-Route", "<sip:p;lr>")
    assert h.items()[0] == ("Record-Route", "<sip:p;lr>")
    c = h.copy()
    h.set("Via", "only")
    assert h.get_all("Via") == ["only"]
    assert c.get_all("Via") == ["v1", "v2"]
    h.remove("via")
    assert "Via" not in h
    h.set("Expires", "60")
    assert h.items()[-1] == ("Expires", "60")
    assert len(h) == 4
    assert next(iter(h)) == ("Record-Route", "<sip:p;lr>")


def test_headers_remove_first_value() -> None:
    h = Headers([("Via", "SIP/2.0/UDP a, SIP/2.0/UDP b"), ("Via", "SIP/2.0/UDP c")])
    assert h.remove_first("Via") == "SIP/2.0/UDP a"
    assert h.get_all("Via") == ["SIP/2.0/UDP b", "SIP/2.0/UDP c"]
    assert h.remove_first("Via") == "SIP/2.0/UDP b"
    assert h.remove_first("Via") == "SIP/2.0/UDP c"
    assert h.remove_first("Via") is None


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\rb"])
def test_headers_refuse_crlf_injection(value: str) -> None:
    h = Headers()
    with pytest.raises(LocalSipError):
        h.add("Subject", value)
    with pytest.raises(LocalSipError):
        h.set("Subject", value)


def test_cached_accessors_follow_header_changes() -> None:
    req = build_invite()
    assert req.cseq.seq == 314159
    assert req.top_via.branch == "z9hG4bK776asdhds"
    req.headers.set("CSeq", "5 INVITE")
    req.headers.prepend("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKnew")
    assert req.cseq.seq == 5
    assert req.top_via.branch == "z9hG4bKnew"
    req.uri = "sip:300@pbx.example.com"
    assert req.ruri.user == "300"


def test_accessors_raise_parse_error_when_missing() -> None:
    req = Request("OPTIONS", "sip:a@b", Headers())
    for attr in ("call_id", "cseq", "top_via", "from_", "to"):
        with pytest.raises(SipParseError):
            getattr(req, attr)


# -- make_response (RFC 3261 §8.2.6) -------------------------------------------------------------


def test_make_response_copies_mandatory_headers() -> None:
    req = parse_message(INVITE_GOLDEN)
    assert isinstance(req, Request)
    req.headers.add("Via", "SIP/2.0/UDP proxy.example;branch=z9hG4bKp")
    req.headers.add("Timestamp", "54")
    resp = make_response(req, 180, to_tag="xyz", headers=[("Contact", "<sip:200@192.0.2.1>")])
    assert resp.reason == "Ringing"
    assert resp.headers.get_all("Via") == req.headers.get_all("Via")
    assert resp.to.tag == "xyz"
    assert resp.from_.tag == "1928301774"
    assert resp.call_id == req.call_id
    assert str(resp.cseq) == "314159 INVITE"
    assert resp.headers.get("Contact") == "<sip:200@192.0.2.1>"
    assert "Timestamp" not in resp.headers
    assert "Max-Forwards" not in resp.headers
    trying = make_response(req, 100)
    assert trying.headers.get("Timestamp") == "54"
    assert trying.to.tag is None
    assert check_response(parse_message(resp.to_bytes()))  # type: ignore[arg-type]


def test_make_response_copies_record_route_into_dialog_responses() -> None:
    """RFC 3261 §12.1.1: a 1xx/2xx that can establish a dialog carries every Record-Route of
    the request, values untouched and in order; other responses carry none."""
    req = parse_message(INVITE_GOLDEN)
    assert isinstance(req, Request)
    req.headers.add("Record-Route", "<sip:p2.example;lr;ftag=a>")
    req.headers.add("Record-Route", "<sip:p1.example;lr>, <sip:p0.example;lr>")
    for status in (180, 183, 200):
        resp = make_response(req, status, to_tag="t")
        assert resp.headers.get_all("Record-Route") == [
            "<sip:p2.example;lr;ftag=a>",
            "<sip:p1.example;lr>",
            "<sip:p0.example;lr>",
        ]
        reparsed = parse_message(resp.to_bytes())
        assert [str(r.uri) for r in reparsed.record_routes] == [  # type: ignore[union-attr]
            "sip:p2.example;lr;ftag=a",
            "sip:p1.example;lr",
            "sip:p0.example;lr",
        ]
    for status in (100, 302, 486, 503):
        assert "Record-Route" not in make_response(req, status, to_tag="t").headers
    # Only requests that can create a dialog: a registrar MUST NOT return Record-Route
    # (§10.3), and OPTIONS or CANCEL answers have no route set to carry.
    for method, copied in (("SUBSCRIBE", True), ("REGISTER", False), ("OPTIONS", False)):
        other = parse_message(
            INVITE_GOLDEN.replace(b"INVITE sip:", method.encode() + b" sip:", 1).replace(
                b" INVITE\r\n", f" {method}\r\n".encode(), 1
            )
        )
        assert isinstance(other, Request) and other.method == method
        other.headers.add("Record-Route", "<sip:p2.example;lr>")
        response = make_response(other, 200, to_tag="t")
        assert ("Record-Route" in response.headers) is copied, method


def test_make_response_keeps_existing_to_tag_and_reasons() -> None:
    req = parse_message(INVITE_GOLDEN)
    assert isinstance(req, Request)
    req.headers.set("To", "<sip:200@pbx.example.com>;tag=old")
    assert make_response(req, 200, to_tag="new").to.tag == "old"
    assert make_response(req, 486).reason == "Busy Here"
    assert make_response(req, 499).reason == "Bad Request"
    assert make_response(req, 200, "Fine").reason == "Fine"
    with pytest.raises(LocalSipError):
        make_response(req, 99)


def test_response_with_body_gets_content_length() -> None:
    req = parse_message(INVITE_GOLDEN)
    assert isinstance(req, Request)
    resp = make_response(req, 200, to_tag="t", body=b"abc", headers=[("Content-Length", "99")])
    out = resp.to_bytes()
    assert out.endswith(b"Content-Length: 3\r\n\r\nabc")
    assert out.count(b"Content-Length") == 1


# -- check_request --------------------------------------------------------------------------------


def _req(**changes: str | None) -> Request:
    req = parse_message(INVITE_GOLDEN)
    assert isinstance(req, Request)
    for name, value in changes.items():
        hname = name.replace("_", "-")
        if value is None:
            req.headers.remove(hname)
        else:
            req.headers.set(hname, value)
    return req


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, None),
        ({"From": None}, 400),
        ({"To": None}, 400),
        ({"Call_ID": None}, 400),
        ({"CSeq": None}, 400),
        ({"Via": None}, 400),
        ({"CSeq": "1 BYE"}, 400),
        ({"CSeq": "2147483648 INVITE"}, 400),
        ({"Max_Forwards": "256"}, 400),
        ({"Max_Forwards": "x"}, 400),
        ({"Via": "SIP/2.0/UDP"}, 400),
        ({"To": "<sip:a@b"}, 400),
        ({"Contact": "<sip:a@b>, "}, 400),
        ({"Require": "100rel, foo"}, 420),
        ({"Require": "replaces"}, None),
        ({"Content_Type": "application/x-unknown"}, 415),
        ({"Accept": "text/html"}, 406),
        ({"Accept": "application/sdp, text/html"}, None),
    ],
)
def test_check_request(changes: dict[str, str | None], status: int | None) -> None:
    assert check_request(_req(**changes)) == status


def test_check_request_uri_rules() -> None:
    req = _req()
    req.uri = "tel:+15551234567"
    assert check_request(req) is None
    req.uri = "mailto:a@b"
    assert check_request(req) == 416
    req.uri = "sip:a@b?Route=%3Csip:x%3E"
    assert check_request(req) == 400
    req.uri = "sip:a@"
    assert check_request(req) == 400
    result = diagnose_request(req)
    assert result is not None and result[0] == 400 and "URI" in result[1]


def test_check_request_custom_supported_and_ack_ignores_require() -> None:
    req = _req(Require="foo")
    assert check_request(req, supported=frozenset({"foo"})) is None
    ack = _req(Require="foo", CSeq="314159 ACK")
    ack.method = "ACK"
    assert check_request(ack) is None


def test_identifiers() -> None:
    b = new_branch()
    assert b.startswith("z9hG4bK") and len(b) > 16
    assert new_branch() != b
    assert new_tag() != new_tag()
    assert "@" not in new_call_id()
    assert new_call_id("pbx.example").endswith("@pbx.example")


def test_name_addr_in_built_message() -> None:
    h = Headers()
    h.add("From", str(NameAddr.parse("sip:101@pbx").with_tag("abc")))
    assert h.get("From") == "<sip:101@pbx>;tag=abc"
