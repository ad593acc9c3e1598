"""SDES a=crypto lines (RFC 4568): parse, choose, write, and put into SDP."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowpbx.sip.sdes import (
    SUITES,
    CryptoAttribute,
    CryptoError,
    choose,
    crypto_values,
    offer_attributes,
    secure_body,
)
from flowpbx.sip.sdp import SdpError, build_offer

KEY = bytes(range(30))
B64 = base64.b64encode(KEY).decode()


def test_parse_plain_and_lifetime() -> None:
    attr = CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}")
    assert attr.tag == 1 and attr.suite == "AES_CM_128_HMAC_SHA1_80" and attr.key == KEY
    attr = CryptoAttribute.parse(f"7 AES_CM_128_HMAC_SHA1_32 inline:{B64}|2^31")
    assert attr.tag == 7 and attr.suite == "AES_CM_128_HMAC_SHA1_32"
    assert CryptoAttribute.parse(f"2 AES_CM_128_HMAC_SHA1_80 INLINE:{B64}|2147483648").tag == 2


def test_value_round_trip_and_key_hidden_in_repr() -> None:
    attr = CryptoAttribute(tag=3, suite=SUITES[1], key=KEY)
    assert CryptoAttribute.parse(attr.value()) == attr
    assert B64 not in repr(attr)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1",
        "1 AES_CM_128_HMAC_SHA1_80",
        f"x AES_CM_128_HMAC_SHA1_80 inline:{B64}",
        f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{B64}",
        f"1 F8_128_HMAC_SHA1_80 inline:{B64}",
        f"1 AES_256_CM_HMAC_SHA1_80 inline:{B64}",
        f"1 AES_CM_128_HMAC_SHA1_80 url:{B64}",
        f"1 AES_CM_128_HMAC_SHA1_80 inline{B64}",
        "1 AES_CM_128_HMAC_SHA1_80 inline:short",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64[:-1]}!",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|2^20",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|2^99",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|1:4",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|2^31|1:4",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64};inline:{B64}",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64} UNENCRYPTED_SRTP",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64} KDR=1",
    ],
)
def test_malformed_lines_raise(value: str) -> None:
    with pytest.raises(CryptoError):
        CryptoAttribute.parse(value)


def test_choose_skips_bad_lines_keeps_offer_order() -> None:
    values = [
        "1 AES_CM_128_HMAC_SHA1_80 inline:garbage",
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{B64}",
        f"3 AES_CM_128_HMAC_SHA1_80 inline:{B64}",
    ]
    chosen = choose(values)
    assert chosen is not None and chosen.tag == 2
    assert choose(values, suites=("AES_CM_128_HMAC_SHA1_80",)).tag == 3  # type: ignore[union-attr]
    assert choose(["1 nonsense"]) is None
    assert choose([]) is None


def test_offer_attributes_fresh_keys() -> None:
    a, b = offer_attributes()
    assert (a.tag, a.suite) == (1, SUITES[0]) and (b.tag, b.suite) == (2, SUITES[1])
    assert a.key != b.key
    assert offer_attributes()[0].key != a.key


def test_secure_body_sets_profile_and_lines() -> None:
    offer = build_offer(address="127.0.0.1", port=4000, session_id=1)
    attrs = offer_attributes()
    body = secure_body(offer, attrs, savp=True)
    assert b"m=audio 4000 RTP/SAVP 0 8 101" in body
    proto, values = crypto_values(body)
    assert proto == "RTP/SAVP"
    assert [CryptoAttribute.parse(v) for v in values] == attrs
    # replacing: the old lines go, only the new ones stay
    again = secure_body(body, attrs[:1], savp=False)
    proto, values = crypto_values(again)
    assert proto == "RTP/AVP" and len(values) == 1


def test_secure_body_without_audio_refuses() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n"
    with pytest.raises(SdpError):
        secure_body(body, offer_attributes(), savp=True)
    assert crypto_values(body) == (None, [])


@given(st.text(max_size=200))
def test_parse_never_crashes(value: str) -> None:
    try:
        attr = CryptoAttribute.parse(value)
    except CryptoError:
        return
    assert attr.suite in SUITES and len(attr.key) == 30


@given(
    st.integers(0, 999_999_999),
    st.sampled_from(SUITES),
    st.binary(min_size=30, max_size=30),
)
def test_round_trip_any_key(tag: int, suite: str, key: bytes) -> None:
    attr = CryptoAttribute(tag=tag, suite=suite, key=key)
    assert CryptoAttribute.parse(attr.value()) == attr


@given(
    st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=80), max_size=5)
)
def test_crypto_lines_in_sdp_never_crash(lines: list[str]) -> None:
    offer = build_offer(address="127.0.0.1", port=4000, session_id=1)
    body = offer + b"".join(f"a=crypto:{v}\r\n".encode() for v in lines)
    try:
        _, values = crypto_values(body)
    except SdpError:
        return
    chosen = choose(values)
    assert chosen is None or len(chosen.key) == 30
