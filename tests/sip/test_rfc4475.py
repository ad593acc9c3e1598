"""RFC 4475 torture tests: every message of the RFC, with the handling INDEX.tsv asks for."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import (
    Request,
    RequestParseError,
    Response,
    check_request,
    check_response,
    make_response,
    parse_message,
    unsupported_extensions,
)
from flowpbx.sip.multipart import body_parts
from flowpbx.sip.uri import SipUri, unescape

DATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "rfc4475"
if not DATA.is_dir():  # CI lays shared/ beside the clone
    DATA = Path("/work/shared/testdata/rfc4475")


def _index() -> dict[str, str]:
    with (DATA / "INDEX.tsv").open(newline="") as fh:
        return {
            row["file"]: row["expected handling by a UAS/B2BUA (from the RFC's own guidance)"]
            for row in csv.DictReader(fh, delimiter="\t")
        }


INDEX = _index()

# How flowpbx handles each file:
#   ("ok", None)        request parses and check_request() accepts it
#   ("check", status)   request parses, check_request() answers `status`
#   ("error", hint)     parse_message raises SipParseError(status_hint=hint)
#   ("resp-ok", None)   response parses and check_response() accepts it
#   ("resp-drop", None) response raises SipParseError(None) or check_response() refuses it
EXPECTED: dict[str, tuple[str, int | None]] = {
    "wsinv": ("ok", None),
    "intmeth": ("ok", None),
    "esc01": ("ok", None),
    "escnull": ("ok", None),
    "esc02": ("ok", None),
    "lwsdisp": ("ok", None),
    "longreq": ("ok", None),
    "dblreq": ("ok", None),
    "semiuri": ("ok", None),
    "transports": ("ok", None),
    "mpart01": ("ok", None),
    "unreason": ("resp-ok", None),
    "noreason": ("resp-ok", None),
    "badinv01": ("check", 400),
    "clerr": ("error", 400),
    "ncl": ("error", 400),
    "scalar02": ("check", 400),
    "scalarlg": ("resp-drop", None),
    "quotbal": ("check", 400),
    "ltgtruri": ("error", 400),
    "lwsruri": ("error", 400),
    "lwsstart": ("error", 400),
    "trws": ("error", 400),
    "escruri": ("check", 400),
    "baddate": ("ok", None),  # Date is ignored
    "regbadct": ("ok", None),  # accepted tolerantly, params are header params
    "badaspec": ("ok", None),  # accepted tolerantly
    "baddn": ("ok", None),  # accepted tolerantly
    "badvers": ("error", 505),
    "mismatch01": ("check", 400),
    "mismatch02": ("check", 400),
    "bigcode": ("resp-drop", None),
    "badbranch": ("ok", None),
    "insuf": ("check", 400),
    "unkscm": ("check", 416),
    "novelsc": ("check", 416),
    "unksm2": ("ok", None),
    "bext01": ("check", 420),
    "invut": ("check", 415),
    "regaut01": ("ok", None),  # the registrar challenges; the message itself is fine
    "multi01": ("check", 400),
    "mcl01": ("error", 400),
    "bcast": ("resp-ok", None),  # matches no transaction: the transaction layer drops it
    "zeromf": ("ok", None),
    "cparam01": ("ok", None),
    "cparam02": ("ok", None),
    "regescrt": ("ok", None),
    "sdp01": ("check", 406),
    "inv2543": ("ok", None),
}


def load(name: str) -> bytes:
    return (DATA / f"{name}.dat").read_bytes()


def parse_request(name: str) -> Request:
    msg = parse_message(load(name))
    assert isinstance(msg, Request)
    return msg


def test_every_index_row_has_an_expectation() -> None:
    assert set(INDEX) == set(EXPECTED)
    assert {p.stem for p in DATA.glob("*.dat")} == set(INDEX)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_torture_message(name: str) -> None:
    kind, status = EXPECTED[name]
    data = load(name)
    if kind == "error":
        with pytest.raises(RequestParseError) as info:
            parse_message(data)
        assert info.value.status_hint == status
        # a request error that can be answered carries enough to build the response
        req = info.value.request
        assert req is not None
        resp = make_response(req, status or 400)
        again = parse_message(resp.to_bytes())
        assert isinstance(again, Response)
        assert again.status == status
        assert again.headers.get_all("Via") == req.headers.get_all("Via")
        return
    if kind == "resp-drop":
        try:
            msg = parse_message(data)
        except SipParseError as err:
            assert err.status_hint is None
            assert not isinstance(err, RequestParseError)
        else:
            assert isinstance(msg, Response)
            assert not check_response(msg)
        return
    msg = parse_message(data)
    if kind == "resp-ok":
        assert isinstance(msg, Response)
        assert check_response(msg)
        return
    assert isinstance(msg, Request)
    assert check_request(msg) == status
    if status is not None:
        # a UAS must be able to answer it
        resp = make_response(msg, status, to_tag="abc")
        again = parse_message(resp.to_bytes())
        assert isinstance(again, Response)
        assert again.status == status
        assert again.headers.get("Call-ID") == msg.headers.get("Call-ID")


# -- spot checks of the values RFC 4475 lists ---------------------------------------------------


def test_wsinv_values() -> None:
    req = parse_request("wsinv")
    assert req.method == "INVITE"
    assert req.ruri.host == "chair-dnrc.example.com"
    assert req.ruri.has_param("unknownparam")
    assert req.to.uri.user == "vivekg"
    assert req.to.tag == "1918181833n"
    assert req.from_.display == 'J Rosenberg \\"'
    assert req.from_.tag == "98asjd8"
    assert req.max_forwards == 68
    assert req.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert (req.cseq.seq, req.cseq.method) == (9, "INVITE")
    vias = req.vias
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert all(v.protocol == "SIP/2.0" for v in vias)
    assert req.headers.get("Subject") == ""
    assert req.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert req.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (route,) = req.routes
    assert route.uri.host == "services.example.com"
    assert route.uri.param("unknownwith") == "value"
    (contact,) = req.contacts
    assert contact.display == 'Quoted string ""'
    assert contact.param("newparam") == "newvalue"
    assert contact.has_param("secondparam")
    assert contact.q == 0.33
    assert len(req.body) == 150
    assert req.sdp == req.body


def test_intmeth_values() -> None:
    req = parse_request("intmeth")
    assert req.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert req.cseq.method == req.method
    uri = req.ruri
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert req.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert req.from_.display == "token1~` token2'+_ token3*%!.-"
    assert req.from_.tag == "_token~1'+`*%!-."
    assert req.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert req.max_forwards == 255
    assert req.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert req.top_via.branch == "z9hG4bK-.!%66*_+`'~"


def test_esc01_escaped_forms_compare_equal() -> None:
    req = parse_request("esc01")
    assert req.ruri.user == "sips%3Auser%40example.com"
    assert req.ruri.user_unescaped == "sips:user@example.com"
    assert req.to.uri.equals(SipUri.parse("sip:user@example.com"))
    assert req.from_.uri.user_unescaped == "I have spaces"
    (contact,) = req.contacts
    assert contact.uri.equals(SipUri.parse("sip:caller@host5.example.net;lr;name=value%2541"))
    assert unescape(contact.uri.param("n%61me") or "") == "value%41"


def test_escnull_keeps_escaped_null() -> None:
    req = parse_request("escnull")
    assert req.to.uri.user == "null-%00-null"
    assert req.to.uri.user_unescaped == "null-\x00-null"
    assert [c.uri.user for c in req.contacts] == ["%00", "%00%00"]
    assert "%00%00@host5" in req.to_bytes().decode()


def test_esc02_percent_not_an_escape() -> None:
    req = parse_request("esc02")
    assert req.method == "RE%47IST%45R"  # not REGISTER
    assert req.to.display == "%Z%45"
    assert len(req.contacts) == 2
    assert req.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert req.top_via.branch == "z9hG4bK209%fzsnel234"


def test_lwsdisp_display_without_space() -> None:
    req = parse_request("lwsdisp")
    assert req.from_.display == "caller"
    assert req.from_.uri.user == "caller"
    assert req.from_.tag == "323"


def test_longreq_long_values() -> None:
    req = parse_request("longreq")
    assert len(req.headers.get("X-Foo") or "") > 200 or len(req.vias) > 5
    assert len(req.to_bytes()) > 3000


def test_dblreq_discards_trailing_octets() -> None:
    req = parse_request("dblreq")
    assert req.method == "REGISTER"
    assert req.body == b""
    assert req.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"


def test_semiuri_user_keeps_semicolon() -> None:
    req = parse_request("semiuri")
    assert req.ruri.user == "user;par=u%40example.net"
    assert req.ruri.host == "example.com"
    assert req.ruri.params == ()
    assert req.headers.get_all("Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def test_transports_kept() -> None:
    req = parse_request("transports")
    assert [v.transport for v in req.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01_multipart_body() -> None:
    req = parse_request("mpart01")
    assert len(req.body) == 553
    assert req.content_type == "multipart/mixed"
    parts = body_parts(req.headers.get("Content-Type") or "", req.body)
    assert [p.content_type for p in parts] == ["text/plain", "application/octet-stream"]
    assert parts[0].body == b"Hello"
    assert parts[1].body.startswith(b"0\x82\x01R")
    assert req.sdp is None


def test_unreason_and_noreason() -> None:
    unreason = parse_message(load("unreason"))
    assert isinstance(unreason, Response)
    assert unreason.status == 200
    assert unreason.reason.startswith("= 2**3 * 5**2 ")
    assert "\u043d\u043e" in unreason.reason  # Cyrillic survives
    noreason = parse_message(load("noreason"))
    assert isinstance(noreason, Response)
    assert (noreason.status, noreason.reason) == (100, "")


def test_unknown_schemes_in_headers_are_opaque() -> None:
    req = parse_request("unksm2")
    assert req.to.uri.scheme == "isbn"
    assert req.to.uri.opaque == "2983792873"
    assert str(req.from_.uri) == "http://www.example.com"
    assert str(req.contacts[0].uri) == "name:John_Smith"


def test_unknown_scheme_request_uri() -> None:
    assert parse_request("novelsc").ruri.scheme == "soap.beep"
    assert parse_request("unkscm").ruri.opaque == "totallyopaquecontent"


def test_bext01_lists_both_unsupported() -> None:
    req = parse_request("bext01")
    assert unsupported_extensions(req) == ["nothingSupportsThis", "nothingSupportsThisEither"]


def test_zeromf_max_forwards_zero() -> None:
    assert parse_request("zeromf").max_forwards == 0


def test_contact_params_versus_uri_params() -> None:
    c1 = parse_request("cparam01").contacts[0]
    assert c1.has_param("unknownparam")
    assert not c1.uri.has_param("unknownparam")
    c2 = parse_request("cparam02").contacts[0]
    assert c2.uri.has_param("unknownparam")
    assert not c2.has_param("unknownparam")


def test_regescrt_contact_keeps_escaped_header() -> None:
    contact = parse_request("regescrt").contacts[0]
    assert contact.uri.headers == (("Route", "%3Csip:sip.example.com%3E"),)
    assert str(contact.uri) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def test_inv2543_rfc2543_syntax() -> None:
    req = parse_request("inv2543")
    assert req.top_via.branch is None
    assert not req.top_via.is_rfc3261_branch
    assert req.max_forwards is None
    assert req.body.startswith(b"v=0")  # no Content-Length over UDP: the rest is the body
    assert req.to.param("user") == "phone"  # addr-spec: header param


def test_badbranch_bare_cookie() -> None:
    via = parse_request("badbranch").top_via
    assert via.branch == "z9hG4bK"
    assert not via.is_rfc3261_branch


def test_tolerated_addresses() -> None:
    assert parse_request("badaspec").to.uri.user == "t.watson"
    assert parse_request("baddn").from_.display == "Bell, Alexander"
    regbadct = parse_request("regbadct").contacts[0]
    assert regbadct.uri.host == "example.com"


def test_bcast_response_top_via() -> None:
    resp = parse_message(load("bcast"))
    assert isinstance(resp, Response)
    assert [v.host for v in resp.vias] == ["192.0.2.198", "255.255.255.255"]


def test_insuf_still_answerable() -> None:
    req = parse_request("insuf")
    resp = make_response(req, 400)
    assert resp.headers.get("CSeq") == "193942 INVITE"
    assert "From" not in resp.headers


def test_clerr_error_is_identifiable() -> None:
    with pytest.raises(RequestParseError) as info:
        parse_message(load("clerr"))
    req = info.value.request
    assert req is not None
    assert req.call_id == "clerr.0ha0isndaksdjweiafasdk3"


# -- fuzzing ------------------------------------------------------------------------------------

_SAMPLES = [load(name) for name in sorted(EXPECTED)]


def _exercise(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError:
        return
    if isinstance(msg, Request):
        if check_request(msg) is None:
            # after a clean check the accessors cannot fail
            _ = (msg.cseq, msg.vias, msg.from_, msg.to, msg.contacts, msg.ruri, msg.call_id)
        make_response(msg, 400, to_tag="x").to_bytes()
    else:
        if check_response(msg):
            _ = (msg.cseq, msg.vias, msg.from_, msg.to, msg.contacts)
    again = parse_message(msg.to_bytes())
    assert type(again) is type(msg)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _exercise(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SAMPLES),
    st.lists(
        st.tuples(st.integers(0, 4000), st.integers(0, 255), st.sampled_from("xdi")), max_size=8
    ),
)
def test_fuzz_mutated_torture_messages(sample: bytes, edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(sample)
    for pos, byte, op in edits:
        if not data:
            break
        pos %= len(data)
        if op == "x":
            data[pos] = byte
        elif op == "d":
            del data[pos]
        else:
            data.insert(pos, byte)
    _exercise(bytes(data))


_TOKENS = [
    b"\r\n",
    b" ",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b'"',
    b"\\",
    b"=",
    b"@",
    b"%",
    b"/",
    b"SIP/2.0",
    b"Via",
    b"v",
    b"To",
    b"t",
    b"From",
    b"CSeq",
    b"Call-ID",
    b"Contact",
    b"Content-Length",
    b"l",
    b"sip:",
    b"sips:",
    b"tel:",
    b"[::1]",
    b"5060",
    b"tag",
    b"branch",
    b"z9hG4bK",
    b"INVITE",
    b"\r\n ",
    b"\r\n\r\n",
    b"0",
    b"99999999999",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=80))
def test_fuzz_sip_shaped_noise(tokens: list[bytes]) -> None:
    _exercise(b"INVITE sip:a@b SIP/2.0\r\n" + b"".join(tokens))
    _exercise(b"SIP/2.0 200 OK\r\n" + b"".join(tokens))
