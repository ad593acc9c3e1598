"""URIs and structured header values (RFC 3261 §19.1, §20)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowpbx.sip.errors import LocalSipError, SipParseError
from flowpbx.sip.headers import CSeq, NameAddr, Via, quote_string, split_commas, unquote_string
from flowpbx.sip.uri import SipUri, escape_user, unescape


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice@atlanta.com",
        "sip:alice:secretword@atlanta.com;transport=tcp",
        "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sips:1212@gateway.com",
        "sip:alice@192.0.2.4",
        "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
        "sip:alice;day=tuesday@atlanta.com",
        "sip:[2001:db8::10]:5070;transport=udp",
        "sip:pbx.example.com:5060;lr",
        "tel:+358-555-1234567;postd=pp22",
        "urn:service:sos",
    ],
)
def test_uri_roundtrip(text: str) -> None:
    uri = SipUri.parse(text)
    assert str(uri) == text
    assert SipUri.parse(str(uri)) == uri


def test_uri_components() -> None:
    uri = SipUri.parse("sip:alice:pw@[2001:db8::1]:5070;transport=TCP;lr?X=1&Y=2")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sip",
        "alice",
        "pw",
        "[2001:db8::1]",
        5070,
    )
    assert uri.param("transport") == "TCP"
    assert uri.param("TRANSPORT") == "TCP"
    assert uri.has_param("lr") and uri.param("lr") is None
    assert not uri.has_param("maddr") and uri.param("maddr") is None
    assert uri.headers == (("X", "1"), ("Y", "2"))
    assert uri.host_port == "[2001:db8::1]:5070"
    assert uri.is_sip
    tel = SipUri.parse("tel:+15551234;phone-context=example.com")
    assert (tel.scheme, tel.user, tel.param("phone-context")) == ("tel", "+15551234", "example.com")
    assert not tel.is_sip


def test_uri_with_and_without_params() -> None:
    uri = SipUri.parse("sip:a@b;transport=udp")
    assert str(uri.with_params(("lr", None), transport="tcp")) == "sip:a@b;transport=tcp;lr"
    assert str(uri.without_params("TRANSPORT")) == "sip:a@b"
    assert str(SipUri.parse("sip:a@b?x=y").without_headers()) == "sip:a@b"


def test_uri_build_escapes_user() -> None:
    assert str(SipUri.sip("pbx.example", "John Doe", 5060)) == "sip:John%20Doe@pbx.example:5060"
    assert str(SipUri.sip("2001:db8::1", "101")) == "sip:101@[2001:db8::1]"
    assert escape_user("a@b;c") == "a%40b%3Bc"
    assert unescape("a%40b%3Bc") == "a@b;c"
    with pytest.raises(LocalSipError):
        SipUri.sip("bad host")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip:",
        "alice@atlanta.com",
        "sip:alice@",
        "sip:@host",
        "sip:alice@host:port",
        "sip:alice@host:99999",
        "sip:alice@host name",
        "sip:alice@[::1",
        "sip:alice@[zz]",
        "sip:alice@host;=x",
        "sip:alice@host;;lr",
        "sip:alice@host?noequals",
        "sip:<alice@host>",
        "1sip:a@b",
        "tel:",
    ],
)
def test_uri_parse_errors(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        SipUri.parse(text)
    assert info.value.status_hint == 400


# RFC 3261 §19.1.4 examples
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
        ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
        (
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
        ),
        (
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
        ),
    ],
)
def test_uri_equal(a: str, b: str) -> None:
    assert SipUri.parse(a).equals(SipUri.parse(b))
    assert SipUri.parse(b).equals(SipUri.parse(a))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
        ("sip:a@b", "sips:a@b"),
        ("sip:carol@chicago.com;security=off", "sip:carol@chicago.com;security=on"),
        ("tel:+1", "sip:+1@b"),
        ("urn:a", "urn:b"),
    ],
)
def test_uri_not_equal(a: str, b: str) -> None:
    assert not SipUri.parse(a).equals(SipUri.parse(b))


# -- name-addr -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        (
            '"A. G. Bell" <sip:agb@bell-telephone.com> ;tag=a48s',
            "A. G. Bell",
            "sip:agb@bell-telephone.com",
            (("tag", "a48s"),),
        ),
        (
            "sip:+12125551212@server.phone2net.com;tag=887s",
            None,
            "sip:+12125551212@server.phone2net.com",
            (("tag", "887s"),),
        ),
        (
            "Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8",
            "Anonymous",
            "sip:c8oqz84zk7z@privacy.org",
            (("tag", "hyh8"),),
        ),
        ('"" <sip:a@b>', "", "sip:a@b", ()),
        (
            '"quote \\" and \\\\"<sip:a@b;lr>;x="q;,v";y',
            'quote " and \\',
            "sip:a@b;lr",
            (("x", '"q;,v"'), ("y", None)),
        ),
        ("<sip:a@b>", None, "sip:a@b", ()),
        ("  <sip:a@b> ; expires = 60 ", None, "sip:a@b", (("expires", "60"),)),
    ],
)
def test_name_addr_parse(
    text: str, display: str | None, uri: str, params: tuple[tuple[str, str | None], ...]
) -> None:
    na = NameAddr.parse(text)
    assert na.display == display
    assert str(na.uri) == uri
    assert na.params == params
    again = NameAddr.parse(str(na))
    assert again == na


def test_name_addr_tag_and_params() -> None:
    na = NameAddr.parse("<sip:a@b>;expires=60;q=0.7")
    assert na.tag is None
    tagged = na.with_tag("xyz")
    assert tagged.tag == "xyz"
    assert str(tagged) == "<sip:a@b>;expires=60;q=0.7;tag=xyz"
    assert tagged.with_tag("new").tag == "new"
    assert tagged.without_params("TAG") == na
    assert na.expires == 60 and na.q == 0.7
    assert NameAddr.parse("<sip:a@b>;expires=99999999999999999999").expires == 2**32 - 1
    assert str(NameAddr(display='Bob "B"', uri=SipUri.parse("sip:b@c"))) == (
        '"Bob \\"B\\"" <sip:b@c>'
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        '"unterminated <sip:a@b>',
        '"x" sip:a@b',
        "<sip:a@b",
        "<sip:a@b>;;",
        "<sip:a@b>;=x",
        "<sip:a@b>;x=",
        "<sip:a@b>;x=a b",
        "<>",
        '<sip:a@b>;x="open',
    ],
)
def test_name_addr_errors(text: str) -> None:
    with pytest.raises(SipParseError):
        NameAddr.parse(text)


@given(st.text(max_size=30).filter(lambda s: "\r" not in s and "\n" not in s))
def test_display_name_quoting_roundtrip(display: str) -> None:
    na = NameAddr(display=display, uri=SipUri.parse("sip:a@b"), params=(("tag", "1"),))
    assert NameAddr.parse(str(na)) == na
    assert unquote_string(quote_string(display)) == display


# -- Via -----------------------------------------------------------------------------------------


def test_via_parse_and_str() -> None:
    via = Via.parse(
        "SIP/2.0/udp pc33.atlanta.com:5066 ;branch=z9hG4bK776asdhds ;rport;received=1.2.3.4"
    )
    assert (via.protocol, via.transport, via.host, via.port) == (
        "SIP/2.0",
        "UDP",
        "pc33.atlanta.com",
        5066,
    )
    assert via.branch == "z9hG4bK776asdhds"
    assert via.rport is True and via.received == "1.2.3.4"
    assert via.is_rfc3261_branch
    assert (
        str(via)
        == "SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport;received=1.2.3.4"
    )
    updated = via.with_params(rport=5067, received="5.6.7.8", maddr=None)
    assert updated.rport == 5067 and updated.received == "5.6.7.8"
    assert str(updated).endswith(";rport=5067;received=5.6.7.8")
    assert via.with_params(received=None).received is None
    v6 = Via.parse("SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKx")
    assert v6.sent_by == ("2001:db8::9", 5061)
    assert Via.parse("SIP/2.0/TLS h;branch=z9hG4bKx").sent_by == ("h", 5061)
    assert Via.parse("SIP / 2.0 / TCP h : 5070").port == 5070
    assert Via.parse("SIP/2.0/UDP h;rport=x").rport is None
    assert Via.parse("SIP/2.0/UDP h;maddr=224.2.0.1").maddr == "224.2.0.1"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SIP/2.0 h",
        "SIP/2.0/UDP",
        "SIP/2.0/UDP h;",
        "SIP/2.0/UDP h;;",
        "SIP/2.0/UDP h:x",
        "SIP/2.0/UDP h;branch=",
        "SIP/2.0/UDP [::1;branch=1",
        "SIP/2.0/U(P h",
    ],
)
def test_via_errors(text: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(text)


# -- CSeq ----------------------------------------------------------------------------------------


def test_cseq() -> None:
    c = CSeq.parse("  0042 \t INVITE ")
    assert (c.seq, c.method, str(c)) == (42, "INVITE", "42 INVITE")
    assert CSeq.parse(f"{2**31 - 1} BYE").seq == 2**31 - 1


@pytest.mark.parametrize(
    "text",
    ["", "1", "INVITE 1", f"{2**31} INVITE", "-1 BYE", "1 IN/VITE", "\u0661 INVITE", "1 INVITE x"],
)
def test_cseq_errors(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        CSeq.parse(text)
    assert info.value.status_hint == 400


def test_split_commas() -> None:
    assert split_commas("a, b,c") == ["a", "b", "c"]
    assert split_commas('"x,y" <sip:a,b>, c') == ['"x,y" <sip:a,b>', "c"]
    assert split_commas('"\\",", d') == ['"\\","', "d"]
    assert split_commas("a,,") == ["a", "", ""]


_URI_ALPHABET = st.sampled_from([*'sip:@;=?&<>"\\ ,%[]:.-_+0159abcXYZ\t/', "sips:", "tel:"])


@given(st.lists(_URI_ALPHABET, max_size=40).map("".join))
def test_fuzz_header_values_raise_only_parse_errors(text: str) -> None:
    for parser in (SipUri.parse, NameAddr.parse, Via.parse, CSeq.parse):
        try:
            value = parser(text)
        except SipParseError:
            continue
        # whatever parses must print to something that parses to the same value
        assert parser(str(value)) == value
