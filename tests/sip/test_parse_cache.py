"""The parse caches of NameAddr, Via and SipUri (values are frozen, so a text parsed once is
reused): a cached value equals a fresh parse, errors are never cached, long texts are not
kept, and the caches stay bounded."""

from __future__ import annotations

import pytest

from flowpbx.sip import headers, uri
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.headers import NameAddr, Via
from flowpbx.sip.uri import SipUri


def test_same_text_gives_an_equal_value_every_time() -> None:
    text = '"Alice" <sip:alice@example.com:5070;transport=udp>;tag=abc'
    first, second = NameAddr.parse(text), NameAddr.parse(text)
    assert first == second
    assert first.tag == "abc" and first.uri.port == 5070 and first.display == "Alice"
    assert Via.parse("SIP/2.0/UDP h:5060;branch=z9hG4bK1").branch == "z9hG4bK1"
    assert Via.parse("SIP/2.0/UDP h:5060;branch=z9hG4bK1") == Via.parse(
        "SIP/2.0/UDP h:5060;branch=z9hG4bK1"
    )
    assert SipUri.parse("sip:bob@h;lr") == SipUri.parse("sip:bob@h;lr")


def test_errors_are_raised_again_for_the_same_bad_text() -> None:
    for _ in range(2):
        with pytest.raises(SipParseError):
            NameAddr.parse("<sip:alice@")
        with pytest.raises(SipParseError):
            Via.parse("SIP/2.0 h")
        with pytest.raises(SipParseError):
            SipUri.parse("sip:a@b:99999")


def test_long_texts_are_parsed_but_not_kept() -> None:
    long_user = "u" * 400
    value = NameAddr.parse(f"<sip:{long_user}@example.com>")
    assert value.uri.user == long_user
    assert f"<sip:{long_user}@example.com>" not in headers._parsed_name_addrs
    assert f"sip:{long_user}@example.com" not in uri._parsed_uris


def test_caches_stay_bounded() -> None:
    for i in range(headers._PARSE_CACHE_MAX + 10):
        NameAddr.parse(f"<sip:user{i}@example.com>;tag=t{i}")
    assert len(headers._parsed_name_addrs) <= headers._PARSE_CACHE_MAX
    assert len(uri._parsed_uris) <= uri._PARSE_CACHE_MAX
