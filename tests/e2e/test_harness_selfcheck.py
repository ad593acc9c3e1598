"""The harness proven against the real peers themselves, without flowpbx:
SIPp <-> SIPp, baresip <-> baresip, SIPp <-> baresip, and dumpcap on loopback."""

from __future__ import annotations

import itertools
import socket
import time

import pytest

from tests.audio_analysis import (
    describe,
    dominant_frequency,
    has_tone,
    rtp_events,
    tone,
    tone_order,
    ulaw_encode,
)
from tests.e2e.conftest import Harness
from tests.e2e.peers import (
    PROVIDER_TONE_HZ,
    intruder_invite,
    uas_extension,
)
from tests.netutil import free_port_block, free_udp_port, wait_for_udp_sip

pytestmark = pytest.mark.e2e


# ---------------------------------------------------------------- netutil + capture
def test_port_blocks_are_disjoint_and_bindable() -> None:
    blocks = [free_port_block(10) for _ in range(5)]
    ports = [p for b in blocks for p in range(b, b + 10)]
    assert len(set(ports)) == len(ports)
    assert all(b % 2 == 0 for b in blocks)
    for port in (blocks[0], blocks[0] + 9):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))


def test_wait_for_udp_sip_times_out_on_a_silent_port() -> None:
    port = free_udp_port()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        wait_for_udp_sip("127.0.0.1", port, timeout=0.6)
    assert 0.5 < time.monotonic() - t0 < 3


def test_capture_sees_rtp_sent_to_its_port(e2e: Harness) -> None:
    port = free_udp_port()
    cap = e2e.capture("probe", [port])
    audio = tone(700, 0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(25):
            hdr = bytes([0x80, 0]) + (i).to_bytes(2, "big") + (160 * i).to_bytes(4, "big")
            s.sendto(
                hdr + b"\x00\x00\x00\x2a" + ulaw_encode(audio[160 * i : 160 * i + 160]),
                ("127.0.0.1", port),
            )
            s.sendto(b"not for the capture", ("127.0.0.1", port + 1))
    cap.stop()
    packets = cap.rtp()
    assert len(packets) == 25, cap.summary()
    assert {p.ssrc for p in packets} == {42}
    assert abs(dominant_frequency(cap.audio()) - 700) < 5


# ---------------------------------------------------------------- SIPp <-> SIPp
@pytest.mark.parametrize(
    ("password", "ok", "codes"), [("right", True, [401, 200]), ("wrong", False, [401, 403])]
)
def test_sipp_register_scenarios_against_sipp_registrar(
    e2e: Harness, password: str, ok: bool, codes: list[int]
) -> None:
    registrar = e2e.sipp("registrar_uas.xml", variables={"user": "101", "pass": "right"})
    registrar.start().wait_ready()
    phone = e2e.register(
        ("127.0.0.1", registrar.local_port), ext="101", password=password, expect_ok=ok
    )
    phone.start().check(timeout=15)
    assert phone.received_status_codes() == codes
    registrar.check(timeout=5)
    if ok:
        assert f"Contact: <sip:101@127.0.0.1:{phone.local_port}>;expires=600" in (
            registrar.messages()
        )


def test_sipp_register_fails_when_registrar_accepts_a_wrong_password(e2e: Harness) -> None:
    """The wrong-password scenario must FAIL when the registrar says 200."""
    registrar = e2e.sipp("registrar_uas.xml", variables={"user": "101", "pass": "wrong"})
    registrar.start().wait_ready()
    phone = e2e.register(
        ("127.0.0.1", registrar.local_port), ext="101", password="wrong", expect_ok=False
    )
    assert phone.start().wait(timeout=15) != 0
    assert 200 in phone.received_status_codes()


def test_sipp_provider_call_to_sipp_uas_carries_tone_and_dtmf_from_one_port(
    e2e: Harness,
) -> None:
    uas = e2e.uas(ext="102", tone_hz=1200)
    provider = e2e.provider(
        ("127.0.0.1", uas.local_port), free_udp_port(), digit="1", dtmf_at_ms=1500, talk_ms=2000
    )
    cap = e2e.capture("media", [uas.media_port, provider.media_port])
    uas.start().wait_ready()
    provider.start().check(timeout=20)
    uas.check(timeout=5)
    cap.stop()

    to_uas = cap.rtp(dst_port=uas.media_port)
    assert {p.src for p in to_uas} == {("127.0.0.1", provider.media_port)}, cap.summary()
    assert len({p.ssrc for p in to_uas}) == 1, "provider tone and DTMF share one SSRC"
    assert rtp_events(to_uas) == [1]
    seq_steps = {(b.sequence - a.sequence) & 0xFFFF for a, b in itertools.pairwise(to_uas)}
    assert seq_steps <= {1, 0}, f"sequence numbers must only move forward: {seq_steps}"
    assert all(
        0 <= (b.timestamp - a.timestamp) & 0xFFFFFFFF < 8000 for a, b in itertools.pairwise(to_uas)
    ), "timestamps must only move forward"
    event_time = next(p.time for p in to_uas if p.payload_type == 101)
    assert 1.3 < event_time - to_uas[0].time < 2.0
    heard_by_uas = cap.audio(dst_port=uas.media_port)
    assert has_tone(heard_by_uas, PROVIDER_TONE_HZ, 2.5), describe(heard_by_uas)

    to_provider = cap.rtp(dst_port=provider.media_port)
    assert {p.src for p in to_provider} == {("127.0.0.1", uas.media_port)}
    heard_by_provider = cap.audio(dst_port=provider.media_port)
    assert has_tone(heard_by_provider, 1200, 3.0), describe(heard_by_provider)
    assert provider.received_status_codes()[-1] == 200
    assert uas.received_requests() == ["INVITE", "ACK", "BYE"]


def test_sipp_provider_hangup_variant_accepts_the_far_end_bye(e2e: Harness) -> None:
    uas = e2e.adopt_sipp(
        uas_extension(
            e2e.tmp_path, ext="102", tone_hz=1200, hangup_after_ms=1100
        )  # BYE lands in the pause after the key
    )
    provider = e2e.provider(
        ("127.0.0.1", uas.local_port),
        free_udp_port(),
        digit="2",
        dtmf_at_ms=1000,
        hangup_expected=True,
    )
    uas.start().wait_ready()
    provider.start().check(timeout=20)
    uas.check(timeout=5)
    assert provider.received_requests() == ["BYE"]


def test_sipp_provider_hangup_variant_fails_without_a_bye(e2e: Harness) -> None:
    uas = e2e.uas(ext="102")
    provider = e2e.provider(
        ("127.0.0.1", uas.local_port), free_udp_port(), dtmf_at_ms=500, hangup_expected=True
    )
    uas.start().wait_ready()
    assert provider.start().wait(timeout=40) != 0  # 20 s BYE timeout, then failure


def test_invite_noauth_scenario_accepts_a_challenge(e2e: Harness) -> None:
    rejecter = e2e.sipp("uas_reject.xml")
    rejecter.start().wait_ready()
    intruder = e2e.adopt_sipp(
        intruder_invite(e2e.tmp_path, target=("127.0.0.1", rejecter.local_port), number="101")
    )
    intruder.start().check(timeout=15)
    assert intruder.received_status_codes()[-1] == 407
    rejecter.check(timeout=5)


def test_invite_noauth_scenario_fails_when_the_call_rings(e2e: Harness) -> None:
    uas = e2e.uas(ext="101")
    uas.start().wait_ready()
    intruder = e2e.adopt_sipp(
        intruder_invite(e2e.tmp_path, target=("127.0.0.1", uas.local_port), number="101")
    )
    assert intruder.start().wait(timeout=15) != 0


# ---------------------------------------------------------------- baresip
def test_baresip_calls_baresip_and_each_hears_the_other(e2e: Harness) -> None:
    alice = e2e.baresip(name="alice", user="alice", tone_hz=700)
    bob = e2e.baresip(name="bob", user="bob", tone_hz=1100)
    assert wait_for_udp_sip("127.0.0.1", bob.sip_port, timeout=5).startswith("SIP/2.0 ")
    alice.dial(bob.aor)
    alice.wait_event("CALL_ESTABLISHED", 10)
    bob.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(3)
    alice.hangup()
    bob.wait_event("CALL_CLOSED", 10)
    alice.wait_event("CALL_CLOSED", 10)
    _, heard_by_alice = alice.received_wav()
    _, heard_by_bob = bob.received_wav()
    assert has_tone(heard_by_alice, 1100, 2.0), describe(heard_by_alice)
    assert has_tone(heard_by_bob, 700, 2.0), describe(heard_by_bob)


def test_baresip_registers_with_digest_auth_at_sipp_registrar(e2e: Harness) -> None:
    registrar = e2e.sipp("registrar_uas.xml", variables={"user": "101", "pass": "pw-101"})
    registrar.start().wait_ready()
    phone = e2e.baresip(
        name="p101", user="101", password="pw-101", registrar=("127.0.0.1", registrar.local_port)
    )
    phone.wait_registered(10)
    registrar.check(timeout=5)
    # baresip registers a Contact like <sip:101-0x55cad6774500@127.0.0.1:PORT>
    assert f"@127.0.0.1:{phone.sip_port}>" in registrar.messages()


def test_sipp_provider_calls_baresip_which_hears_the_tone_and_the_key(e2e: Harness) -> None:
    phone = e2e.baresip(name="p101", user="101", tone_hz=1000)
    provider = e2e.provider(
        ("127.0.0.1", phone.sip_port),
        free_udp_port(),
        did="101",
        digit="1",
        dtmf_at_ms=1000,
        talk_ms=3000,
    )
    cap = e2e.capture("provider", [provider.media_port])
    provider.start()
    phone.wait_event("CALL_ESTABLISHED", 10)
    dtmf = phone.wait_event("CALL_DTMF_START", 10)
    assert dtmf.get("param") == "1", dtmf
    provider.check(timeout=20)
    phone.wait_event("CALL_CLOSED", 10)
    cap.stop()
    _, heard_by_phone = phone.received_wav()
    assert has_tone(heard_by_phone, PROVIDER_TONE_HZ, 2.5), describe(heard_by_phone)
    heard_by_provider = cap.audio()
    assert has_tone(heard_by_provider, 1000, 3.0), describe(heard_by_provider)
    assert len(cap.sources()) == 1, cap.summary()


def test_baresip_calls_sipp_uas_and_hears_its_tone(e2e: Harness) -> None:
    uas = e2e.uas(ext="102", tone_hz=1200)
    uas.start().wait_ready()
    phone = e2e.baresip(name="p101", user="101", tone_hz=1000)
    cap = e2e.capture("uas", [uas.media_port])
    phone.dial(f"sip:102@127.0.0.1:{uas.local_port}")
    phone.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(3)
    phone.hangup()
    phone.wait_event("CALL_CLOSED", 10)
    uas.check(timeout=5)
    cap.stop()
    _, heard_by_phone = phone.received_wav()
    assert has_tone(heard_by_phone, 1200, 2.0), describe(heard_by_phone)
    assert tone_order(cap.audio(), [1000, 1200]) == [1000]
