"""SDP parsing and offer/answer for one audio stream (RFC 8866, RFC 3264)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowpbx.sip.sdp import (
    MediaParams,
    SdpError,
    SessionDescription,
    answer_offer,
    build_offer,
    parse_answer,
    parse_offer,
)


def sdp(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def simple(*media: str, c: str = "c=IN IP4 10.0.0.1") -> bytes:
    return sdp("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", c, "t=0 0", *media)


# a typical desk phone
PHONE_OFFER = sdp(
    "v=0",
    "o=- 3864929127 3864929127 IN IP4 192.168.1.50",
    "s=SDP data",
    "c=IN IP4 192.168.1.50",
    "t=0 0",
    "m=audio 11780 RTP/AVP 0 8 18 9 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:9 G722/8000",
    "a=fmtp:101 0-15",
    "a=rtpmap:101 telephone-event/8000",
    "a=ptime:20",
    "a=sendrecv",
)

# a trunk preferring PCMA, with dynamic telephone-event PT and media-level c=
TRUNK_OFFER = sdp(
    "v=0",
    "o=carrier 1 2 IN IP4 203.0.113.5",
    "s=-",
    "t=0 0",
    "m=audio 30000 RTP/AVP 8 0 96",
    "c=IN IP4 203.0.113.6",
    "a=rtpmap:96 TELEPHONE-EVENT/8000",
    "a=fmtp:96 0-16",
)


def test_build_offer_golden() -> None:
    offer = build_offer(address="192.0.2.1", port=10000, session_id=42)
    assert offer == sdp(
        "v=0",
        "o=- 42 1 IN IP4 192.0.2.1",
        "s=flowpbx",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 10000 RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    )
    assert SessionDescription.parse(offer).to_bytes() == offer


def test_build_offer_options_and_errors() -> None:
    offer = build_offer(
        address="2001:db8::1",
        port=10002,
        session_id=1,
        version=7,
        codecs=("pcma",),
        dtmf_payload_type=96,
        direction="sendonly",
    )
    parsed = SessionDescription.parse(offer)
    assert parsed.origin.addrtype == "IP6"
    assert parsed.origin.version == 7
    assert parsed.connection == "2001:db8::1"
    assert parsed.media[0].formats == ["8", "96"]
    assert parsed.media[0].direction == "sendonly"
    with pytest.raises(ValueError):
        build_offer(address="1.2.3.4", port=1, session_id=1, codecs=("OPUS",))
    with pytest.raises(ValueError):
        build_offer(address="1.2.3.4", port=1, session_id=1, direction="sideways")
    with pytest.raises(ValueError):
        build_offer(address="1.2.3.4", port=1, session_id=1, codecs=())


def test_parse_roundtrip_keeps_lines() -> None:
    parsed = SessionDescription.parse(PHONE_OFFER)
    assert parsed.to_bytes() == PHONE_OFFER
    assert parsed.origin.session_id == 3864929127
    assert parsed.session_name == "SDP data"
    m = parsed.media[0]
    assert m.attributes("fmtp") == ["18 annexb=no", "101 0-15"]
    assert m.has_attribute("sendrecv")
    assert m.ptime == 20


def test_parse_offer_phone() -> None:
    offer = parse_offer(PHONE_OFFER)
    assert (offer.address, offer.port) == ("192.168.1.50", 11780)
    assert offer.codecs() == ["PCMU", "PCMA", "G729", "G722"]
    assert offer.dtmf_payload_type == 101
    assert offer.direction == "sendrecv"
    assert offer.media_index == 0


def test_answer_phone_offer() -> None:
    answer, params = answer_offer(PHONE_OFFER, address="192.0.2.1", port=10000, session_id=5)
    assert params == MediaParams(
        address="192.168.1.50",
        port=11780,
        payload_type=0,
        codec="PCMU",
        clock_rate=8000,
        dtmf_payload_type=101,
        ptime=20,
        direction="sendrecv",
    )
    assert params.sends and params.receives
    assert answer == sdp(
        "v=0",
        "o=- 5 1 IN IP4 192.0.2.1",
        "s=flowpbx",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 10000 RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    )
    # the phone reading our answer sees our address and the same payload types
    back = parse_answer(answer)
    assert (back.address, back.port, back.codec, back.dtmf_payload_type) == (
        "192.0.2.1",
        10000,
        "PCMU",
        101,
    )


def test_answer_trunk_offer_preference_and_media_level_connection() -> None:
    answer, params = answer_offer(TRUNK_OFFER, address="192.0.2.1", port=10000, session_id=5)
    assert (params.address, params.port) == ("203.0.113.6", 30000)
    assert (params.codec, params.payload_type) == ("PCMA", 8)
    assert params.dtmf_payload_type == 96
    assert b"m=audio 10000 RTP/AVP 8 96\r\n" in answer
    assert b"a=rtpmap:96 telephone-event/8000" in answer


def test_answer_respects_supported_list() -> None:
    _, params = answer_offer(
        PHONE_OFFER, address="1.1.1.1", port=2, session_id=1, supported=("PCMA",)
    )
    assert params.codec == "PCMA"


def test_static_payload_types_without_rtpmap() -> None:
    offer = simple("m=audio 4000 RTP/AVP 8 0")
    answer, params = answer_offer(offer, address="10.0.0.2", port=5000, session_id=1)
    assert (params.codec, params.payload_type, params.dtmf_payload_type) == ("PCMA", 8, None)
    assert b"telephone-event" not in answer


def test_rtpmap_case_insensitive_and_dynamic_pcmu() -> None:
    offer = simple(
        "m=audio 4000 RTP/AVP 97 98", "a=rtpmap:97 pcmu/8000", "a=rtpmap:98 Telephone-Event/8000"
    )
    _, params = answer_offer(offer, address="10.0.0.2", port=5000, session_id=1)
    assert (params.codec, params.payload_type, params.dtmf_payload_type) == ("PCMU", 97, 98)


def test_no_common_codec_is_488() -> None:
    offer = simple("m=audio 4000 RTP/AVP 18 9 96", "a=rtpmap:96 opus/48000/2")
    with pytest.raises(SdpError) as info:
        answer_offer(offer, address="10.0.0.2", port=5000, session_id=1)
    assert info.value.status_hint == 488
    # PCMU at another clock rate is not our PCMU
    odd = simple("m=audio 4000 RTP/AVP 97", "a=rtpmap:97 PCMU/16000")
    with pytest.raises(SdpError):
        answer_offer(odd, address="10.0.0.2", port=5000, session_id=1)


def test_secure_or_video_only_is_488() -> None:
    for body in (simple("m=audio 4000 RTP/SAVP 0"), simple("m=video 4000 RTP/AVP 31")):
        with pytest.raises(SdpError) as info:
            answer_offer(body, address="10.0.0.2", port=5000, session_id=1)
        assert info.value.status_hint == 488
        with pytest.raises(SdpError):
            parse_offer(body)


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("sendonly", "recvonly"),
        ("recvonly", "sendonly"),
        ("inactive", "inactive"),
        ("sendrecv", "sendrecv"),
    ],
)
def test_direction_mirrored(offered: str, answered: str) -> None:
    offer = simple("m=audio 4000 RTP/AVP 0", f"a={offered}")
    answer, params = answer_offer(offer, address="10.0.0.2", port=5000, session_id=1)
    assert params.direction == answered
    assert f"a={answered}\r\n".encode() in answer
    assert parse_answer(answer).direction == offered


def test_session_level_direction_and_legacy_hold() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 10.0.0.1",
        "s=-",
        "c=IN IP4 10.0.0.1",
        "t=0 0",
        "a=sendonly",
        "m=audio 4000 RTP/AVP 0",
    )
    _, params = answer_offer(offer, address="10.0.0.2", port=5000, session_id=1)
    assert params.direction == "recvonly"
    hold = simple("m=audio 4000 RTP/AVP 0", c="c=IN IP4 0.0.0.0")
    _, params = answer_offer(hold, address="10.0.0.2", port=5000, session_id=1)
    assert params.direction == "recvonly"
    assert not params.sends


def test_ipv6_offer() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP6 2001:db8::5",
        "s=-",
        "c=IN IP6 2001:db8::5",
        "t=0 0",
        "m=audio 4000 RTP/AVP 0 101",
        "a=rtpmap:101 telephone-event/8000",
    )
    answer, params = answer_offer(offer, address="2001:db8::1", port=5000, session_id=1)
    assert params.address == "2001:db8::5"
    assert b"c=IN IP6 2001:db8::1\r\n" in answer
    assert b"o=- 1 1 IN IP6 2001:db8::1\r\n" in answer


def test_rejected_streams_keep_their_place() -> None:
    offer = simple("m=video 5000 RTP/AVP 31", "m=audio 0 RTP/AVP 0", "m=audio 4000 RTP/AVP 8")
    answer, params = answer_offer(offer, address="10.0.0.2", port=6000, session_id=1)
    parsed = SessionDescription.parse(answer)
    assert [(m.media, m.port) for m in parsed.media] == [
        ("video", 0),
        ("audio", 0),
        ("audio", 6000),
    ]
    assert (params.port, params.codec) == (4000, "PCMA")
    assert parse_offer(offer).media_index == 2


def test_port_zero_audio_only_is_488() -> None:
    offer = simple("m=audio 0 RTP/AVP 0")
    with pytest.raises(SdpError) as info:
        answer_offer(offer, address="10.0.0.2", port=6000, session_id=1)
    assert info.value.status_hint == 488
    with pytest.raises(SdpError) as info2:
        parse_answer(offer)
    assert info2.value.status_hint == 488


def test_parse_answer_to_our_offer() -> None:
    answer = simple(
        "m=audio 7000 RTP/AVP 8 101",
        "a=rtpmap:101 telephone-event/8000",
        "a=ptime:30",
        "a=recvonly",
    )
    assert parse_answer(answer) == MediaParams(
        address="10.0.0.1",
        port=7000,
        payload_type=8,
        codec="PCMA",
        dtmf_payload_type=101,
        ptime=30,
        direction="sendonly",
    )


def test_sdp01_torture_body() -> None:
    # RFC 4475 §3.3.15 body: PCMU + QCELP audio, LPC video -> PCMU accepted, video rejected
    body = sdp(
        "v=0",
        "o=mhandley 29739 7272939 IN IP4 192.0.2.5",
        "s=-",
        "c=IN IP4 192.0.2.5",
        "t=0 0",
        "m=audio 49217 RTP/AVP 0 12",
        "m=video 3227 RTP/AVP 31",
        "a=rtpmap:31 LPC",
    )
    answer, params = answer_offer(body, address="10.0.0.2", port=6000, session_id=1)
    assert (params.codec, params.port) == ("PCMU", 49217)
    assert [m.port for m in SessionDescription.parse(answer).media] == [6000, 0]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"x=0\r\n",
        b"v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\n",
        b"v=0\r\ns=-\r\n",
        b"v=0\r\no=- x 1 IN IP4 1.2.3.4\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4\r\nm=audio 1 RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nbad line\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\n",  # no c= at all
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n\xff\r\n",
    ],
)
def test_malformed_sdp(body: bytes) -> None:
    with pytest.raises(SdpError) as info:
        answer_offer(body, address="10.0.0.2", port=6000, session_id=1)
    assert info.value.status_hint == 400


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_sdp_raises_only_sdp_error(data: bytes) -> None:
    for body in (data, PHONE_OFFER[: len(data) % len(PHONE_OFFER)] + data):
        try:
            answer_offer(body, address="10.0.0.2", port=6000, session_id=1)
        except SdpError:
            pass
        try:
            parse_answer(body)
        except SdpError:
            pass
