"""SRTP per leg (pbx/srtp_policy.py): media_encryption applied to offers and answers, keys
only over TLS, re-offers, and the agreed contexts really talking to each other."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowpbx.pbx.srtp_policy import MediaCrypto, SrtpRefused, secure_signalling
from flowpbx.sip.sdes import CryptoAttribute, crypto_values, offer_attributes, secure_body
from flowpbx.sip.sdp import MediaParams, SdpError, answer_offer, build_offer, parse_answer


def plain_offer(port: int = 4000) -> bytes:
    return build_offer(address="127.0.0.1", port=port, session_id=7)


def make(offer: bytes):  # type: ignore[no-untyped-def]
    def answer(srtp: bool) -> tuple[bytes, MediaParams]:
        return answer_offer(offer, address="127.0.0.1", port=5000, session_id=9, srtp=srtp)

    return answer


def rtp(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 99) + b"\x55" * 160


def test_required_offer_answered_by_optional_and_contexts_pair_up() -> None:
    caller = MediaCrypto("required", secure=True)
    offer = caller.offer(plain_offer())
    proto, values = crypto_values(offer)
    assert proto == "RTP/SAVP" and len(values) == 2
    callee = MediaCrypto("optional", secure=True)
    answer, params, changed = callee.answer(offer, make(offer))
    assert changed and callee.context is not None and params.port == 4000
    proto, values = crypto_values(answer)
    assert proto == "RTP/SAVP" and len(values) == 1
    assert CryptoAttribute.parse(values[0]).tag == 1  # the offer's first line
    parse_answer(answer, srtp=True)
    assert caller.take_answer(answer)
    a, b = caller.context, callee.context
    assert a is not None and b is not None
    assert b.unprotect(a.protect(rtp(1)) or b"") == rtp(1)
    assert a.unprotect(b.protect(rtp(2)) or b"") == rtp(2)


def test_optional_and_none_offer_plain() -> None:
    for mode in ("none", "optional"):
        body = MediaCrypto(mode, secure=True).offer(plain_offer())
        assert crypto_values(body) == ("RTP/AVP", [])


def test_required_refuses_offer_without_crypto() -> None:
    with pytest.raises(SdpError) as err:
        MediaCrypto("required", secure=True).answer(plain_offer(), make(plain_offer()))
    assert err.value.status_hint == 488


def test_none_refuses_savp_offer_and_ignores_avp_crypto() -> None:
    savp = secure_body(plain_offer(), offer_attributes(), savp=True)
    with pytest.raises(SrtpRefused):
        MediaCrypto("none", secure=True).answer(savp, make(savp))
    avp = secure_body(plain_offer(), offer_attributes(), savp=False)
    crypto = MediaCrypto("none", secure=True)
    answer, _, changed = crypto.answer(avp, make(avp))
    assert not changed and crypto_values(answer) == ("RTP/AVP", [])


def test_keys_never_over_insecure_signalling() -> None:
    savp = secure_body(plain_offer(), offer_attributes(), savp=True)
    for mode in ("optional", "required"):
        with pytest.raises(SrtpRefused):
            MediaCrypto(mode, secure=False).answer(savp, make(savp))
    # an RTP/AVP offer with crypto lines on UDP: answered plain, no key in the answer
    avp = secure_body(plain_offer(), offer_attributes(), savp=False)
    answer, _, changed = MediaCrypto("optional", secure=False).answer(avp, make(avp))
    assert not changed and crypto_values(answer)[1] == []
    # and we never offer keys on it
    crypto = MediaCrypto("required", secure=False)
    assert not crypto.can_call()
    with pytest.raises(SrtpRefused):
        crypto.offer(plain_offer())
    assert secure_signalling("tls", allow_insecure=False)
    assert not secure_signalling("udp", allow_insecure=False)
    assert secure_signalling("udp", allow_insecure=True)


def test_malformed_crypto_only_is_refused_not_crashed() -> None:
    offer = (
        secure_body(plain_offer(), [], savp=True)
        + b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!\r\n"
    )
    with pytest.raises(SrtpRefused):
        MediaCrypto("optional", secure=True).answer(offer, make(offer))


def test_answer_must_accept_one_of_our_lines() -> None:
    caller = MediaCrypto("required", secure=True)
    offer = caller.offer(plain_offer())
    plain, _ = answer_offer(offer, address="127.0.0.1", port=5000, session_id=9, srtp=True)
    with pytest.raises(SrtpRefused):
        caller.take_answer(plain)
    stranger = CryptoAttribute(tag=9, suite="AES_CM_128_HMAC_SHA1_80", key=bytes(30))
    with pytest.raises(SrtpRefused):
        caller.take_answer(secure_body(plain, [stranger], savp=None))


def test_reoffer_keeps_our_key_and_takes_a_new_peer_key() -> None:
    callee = MediaCrypto("optional", secure=True)
    first = secure_body(plain_offer(), offer_attributes(), savp=True)
    answer1, _, changed = callee.answer(first, make(first))
    assert changed
    ctx = callee.context
    local = callee.local
    # the same offer again (a session refresh): same context, same key in the answer
    answer2, _, changed = callee.answer(first, make(first))
    assert not changed and callee.context is ctx
    assert crypto_values(answer2)[1] == crypto_values(answer1)[1]
    # the peer re-keys: our side keeps its key, the receiving side takes the new one
    new_attrs = offer_attributes()
    rekey = secure_body(plain_offer(), new_attrs, savp=True)
    _, _, changed = callee.answer(rekey, make(rekey))
    assert not changed and callee.context is ctx and callee.local is not None
    assert local is not None and callee.local.key == local.key
    from flowpbx.media.srtp import SrtpContext

    suite = new_attrs[0].suite
    sender = SrtpContext(tx_suite=suite, tx_key=new_attrs[0].key, rx_suite=suite, rx_key=bytes(30))
    assert ctx is not None and ctx.unprotect(sender.protect(rtp(5)) or b"") == rtp(5)
    # a re-offer dropping SRTP mid-call is refused, not a silent downgrade
    with pytest.raises(SrtpRefused):
        callee.answer(plain_offer(), make(plain_offer()))


def test_bad_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        MediaCrypto("sometimes", secure=True)


_LINE = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=90
)


@given(
    st.sampled_from(("none", "optional", "required")),
    st.booleans(),
    st.sampled_from(("RTP/AVP", "RTP/SAVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVP")),
    st.lists(_LINE, max_size=4),
)
def test_any_offer_is_answered_or_refused_never_crashes(
    mode: str, secure: bool, proto: str, lines: list[str]
) -> None:
    offer = plain_offer().replace(b"RTP/AVP", proto.encode()) + b"".join(
        f"a=crypto:{v}\r\n".encode() for v in lines
    )
    crypto = MediaCrypto(mode, secure=secure)
    try:
        answer, _, changed = crypto.answer(offer, make(offer))
    except SdpError as exc:
        assert exc.status_hint in (400, 488)
        return
    _, values = crypto_values(answer)
    assert changed == bool(values) == (crypto.context is not None)
    assert secure or not values  # never a key in an answer over insecure signalling
