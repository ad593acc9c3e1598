"""SRTP with SDES keys (issue 17) against real peers, signalling over UDP with
FLOWPBX_SRTP_ALLOW_INSECURE_SIGNALLING=1 (the TLS transport is tested on its own):

- two baresip phones with ``mediaenc=srtp-mand`` call each other: tone heard both ways,
  call history says ``srtp: true`` for both legs, and no PCMU of either tone crosses the
  wire in clear;
- an SRTP phone calls a flow (a prompt, then a plain-RTP extension): prompt and tones
  heard, the relay encrypting one side only;
- an SRTP phone calls out through a plain-RTP provider (baresip on the trunk): both ways;
- bad input on a running flowpbx: an offer without a=crypto to a ``required`` extension and
  a malformed a=crypto are answered 488; SRTP packets with bad tags (and plain RTP) sent
  from the phone's own address during a call are dropped and counted in /metrics while the
  other side keeps hearing a clean tone.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from flowpbx.media.srtp import SrtpContext
from flowpbx.sip.sdes import CryptoAttribute, crypto_values, new_key
from tests.audio_analysis import (
    describe,
    has_tone,
    make_tone_wav,
    tone_runs,
    tone_segments,
    ulaw_encode,
)
from tests.audio_analysis import tone as make_tone
from tests.e2e.conftest import Harness
from tests.e2e.rawsip import Dialog, Msg, RawUa
from tests.e2e.server import FlowpbxServer

pytestmark = pytest.mark.e2e

PW = {n: f"srtp-pass-{n}-e2e" for n in ("101", "102", "103")}
DID = "+37167000017"
OUT_NUMBER = "29000017"
PROMPT_HZ = 400.0
ENV = {"FLOWPBX_SRTP_ALLOW_INSECURE_SIGNALLING": "1"}
SUITE = "AES_CM_128_HMAC_SHA1_80"


def _config(server: FlowpbxServer, trunk_port: int = 9) -> dict[str, Any]:
    make_tone_wav(server.config_file("prompts/tone400.wav"), PROMPT_HZ, 1.5)
    return {
        "extensions": [
            {"number": "101", "name": "Sec A", "password": PW["101"], "outbound": True,
             "media_encryption": "required"},
            {"number": "102", "name": "Sec B", "password": PW["102"],
             "media_encryption": "required"},
            {"number": "103", "name": "Plain", "password": PW["103"]},
        ],
        "trunks": [
            {"name": "provider", "host": "127.0.0.1", "port": trunk_port, "transport": "udp"}
        ],
        "numbers": [{"number": DID, "trunk": "provider"}],
        "audio": [{"name": "tone-400", "file": "prompts/tone400.wav"}],
        "flows": [
            {
                "name": "Secure line",
                "entry": "start",
                "nodes": {
                    "start": {"type": "numbers", "params": {"numbers": [DID]},
                              "next": {"next": "welcome"}},
                    "welcome": {"type": "play", "params": {"audio": "tone-400"},
                                "next": {"next": "ext103"}},
                    "ext103": {"type": "call_sip",
                               "params": {"extension": "103", "ring_timeout_s": 15}},
                },
            }
        ],
    }  # fmt: skip


def _server(e2e: Harness, trunk_port: int = 9) -> FlowpbxServer:
    server = FlowpbxServer(e2e.tmp_path, None, extra_env=ENV)
    server.config = _config(server, trunk_port)
    e2e.adopt(server)
    return server.start()


def _legs_srtp(server: FlowpbxServer) -> list[bool]:
    """The `srtp` media fact of each leg of the (only) finished call."""
    rows = server.history()
    assert rows, "no call history row"
    media = [e for e in rows[-1]["trace"] if e.get("type") == "media"]
    assert media, rows[-1]["trace"]
    return [bool(leg["srtp"]) for leg in media[-1]["facts"].values()]


def _metrics(server: FlowpbxServer) -> dict[str, float]:
    password = "srtp-admin-pw-e2e"
    server.cli("user", "create", "srtp-admin", "--password", password, "--role", "admin",
               check=False)  # fmt: skip
    login = urllib.request.Request(
        server.http + "/api/v1/auth/login",
        data=json.dumps({"username": "srtp-admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(login, timeout=10) as r:
        token = str(json.loads(r.read())["token"])
    request = urllib.request.Request(
        server.http + "/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if line.startswith("flowpbx_") and "{" not in name:
            out[name.removeprefix("flowpbx_")] = float(value)
    return out


def test_two_srtp_phones_call_each_other(e2e: Harness) -> None:
    server = _server(e2e)
    alice = e2e.baresip(name="s101", user="101", password=PW["101"], registrar=server.sip,
                        tone_hz=700, mediaenc="srtp-mand")  # fmt: skip
    bob = e2e.baresip(name="s102", user="102", password=PW["102"], registrar=server.sip,
                      tone_hz=1100, mediaenc="srtp-mand")  # fmt: skip
    alice.wait_registered(10)
    bob.wait_registered(10)
    capture = e2e.capture("srtp", [*range(server.rtp_lo, server.rtp_hi + 1)])
    alice.dial(f"sip:102@127.0.0.1:{server.sip_port}")
    bob.wait_event("CALL_ESTABLISHED", 15)
    alice.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(4)
    alice.hangup()
    bob.wait_event("CALL_CLOSED", 10)
    alice.wait_event("CALL_CLOSED", 10)
    _, heard_by_alice = alice.received_wav()
    _, heard_by_bob = bob.received_wav()
    assert has_tone(heard_by_alice, 1100, 2.5), describe(heard_by_alice)
    assert has_tone(heard_by_bob, 700, 2.5), describe(heard_by_bob)
    assert _legs_srtp(server) == [True, True]
    payloads = [d.payload for d in capture.stop()]
    assert len(payloads) > 100, "the capture saw no media"
    for hz in (700, 1100):
        clear = ulaw_encode(make_tone(hz, 0.02))[40:72]  # 4 ms of the tone as PCMU
        assert not any(clear in p for p in payloads), f"{hz} Hz PCMU in clear on the wire"


def test_srtp_phone_calls_a_flow_with_a_plain_extension(e2e: Harness) -> None:
    server = _server(e2e)
    alice = e2e.baresip(name="f101", user="101", password=PW["101"], registrar=server.sip,
                        tone_hz=700, mediaenc="srtp-mand")  # fmt: skip
    carol = e2e.baresip(name="f103", user="103", password=PW["103"], registrar=server.sip,
                        tone_hz=1300)  # fmt: skip
    alice.wait_registered(10)
    carol.wait_registered(10)
    alice.dial(f"sip:{DID}@127.0.0.1:{server.sip_port}")
    alice.wait_event("CALL_ESTABLISHED", 15)
    carol.wait_event("CALL_ESTABLISHED", 20)
    time.sleep(4)
    alice.hangup()
    carol.wait_event("CALL_CLOSED", 10)
    alice.wait_event("CALL_CLOSED", 10)
    _, heard_by_alice = alice.received_wav()
    _, heard_by_carol = carol.received_wav()
    assert has_tone(heard_by_alice, PROMPT_HZ, 1.0), describe(heard_by_alice)
    assert has_tone(heard_by_alice, 1300, 2.5), describe(heard_by_alice)
    assert has_tone(heard_by_carol, 700, 2.5), describe(heard_by_carol)
    assert sorted(_legs_srtp(server)) == [False, True]


def test_srtp_phone_calls_a_plain_provider(e2e: Harness) -> None:
    provider = e2e.baresip(name="prov", user=OUT_NUMBER, tone_hz=1500)
    server = _server(e2e, trunk_port=provider.sip_port)
    alice = e2e.baresip(name="o101", user="101", password=PW["101"], registrar=server.sip,
                        tone_hz=700, mediaenc="srtp-mand")  # fmt: skip
    alice.wait_registered(10)
    alice.dial(f"sip:{OUT_NUMBER}@127.0.0.1:{server.sip_port}")
    provider.wait_event("CALL_ESTABLISHED", 15)
    alice.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(4)
    alice.hangup()
    provider.wait_event("CALL_CLOSED", 10)
    alice.wait_event("CALL_CLOSED", 10)
    _, heard_by_alice = alice.received_wav()
    _, heard_by_provider = provider.received_wav()
    assert has_tone(heard_by_alice, 1500, 2.5), describe(heard_by_alice)
    assert has_tone(heard_by_provider, 700, 2.5), describe(heard_by_provider)
    assert sorted(_legs_srtp(server)) == [False, True]


def test_pjsua2_srtp_call_holds_and_resumes(e2e: Harness) -> None:
    """pjsua2 with mandatory SRTP calls an SRTP baresip, holds and resumes (re-INVITEs with
    a=crypto answered with the same key); the callee hears the caller's tone throughout."""
    server = _server(e2e)
    bob = e2e.baresip(name="h102", user="102", password=PW["102"], registrar=server.sip,
                      tone_hz=1100, mediaenc="srtp-mand")  # fmt: skip
    bob.wait_registered(10)
    host, port = server.sip
    out = subprocess.run(
        [sys.executable, "-m", "tests.e2e.pjsua_peer", "--registrar", f"{host}:{port}",
         "--user", "101", "--password", PW["101"], "--call", "102", "--transport", "udp",
         "--srtp", "--tone-hz", "600", "--hold-s", "1.5"],
        capture_output=True, text=True, timeout=90, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    steps = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    detail = f"{steps}\n{out.stderr[-3000:]}"
    assert out.returncode == 0, detail
    for step in ("registered", "held", "resumed", "hung_up"):
        assert step in [s["step"] for s in steps], detail
    bob.wait_event("CALL_ESTABLISHED", timeout=5)
    bob.wait_event("CALL_CLOSED", timeout=10)
    _, heard_by_bob = bob.received_wav()
    assert has_tone(heard_by_bob, 600, 0.8), describe(heard_by_bob)
    assert _legs_srtp(server) == [True, True]
    assert _metrics(server)["srtp_auth_failures"] == 0


# ------------------------------------------------------------------ bad input


class SrtpRawUa(RawUa):
    """The raw SIP phone of tests/e2e/rawsip.py offering RTP/SAVP with its own key (or the
    ``crypto_line`` given), keeping the last INVITE answer it saw."""

    def __init__(self, *args: Any, crypto_line: str | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.key = new_key()
        self.crypto_line = crypto_line
        self.proto = "RTP/SAVP"
        self.last_answer: Msg | None = None

    def sdp(self) -> str:
        line = self.crypto_line
        if line is None:
            line = CryptoAttribute(tag=1, suite=SUITE, key=self.key).value()
        crypto = f"a=crypto:{line}\r\n" if line else ""
        return (
            "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {self.rtp_port} {self.proto} 0\r\na=rtpmap:0 PCMU/8000\r\n"
            f"{crypto}a=sendrecv\r\n"
        )

    def response(self, call_id: str, method: str, timeout: float = 10.0, final: bool = True) -> Msg:
        msg = super().response(call_id, method, timeout, final)
        if method == "INVITE":
            self.last_answer = msg
        return msg


def _invite_status(ua: RawUa, number: str) -> int:
    result = ua.invite(number, password=PW[ua.user])
    assert not isinstance(result, Dialog), "the offer was accepted"
    return result.status


def test_offers_without_usable_crypto_get_488(e2e: Harness) -> None:
    server = _server(e2e)
    plain = RawUa(server.sip, user="101")  # 101 is `required`: plain RTP/AVP is refused
    bad = SrtpRawUa(server.sip, user="101", crypto_line="1 AES_CM_128_HMAC_SHA1_80 inline:@@@")
    short = SrtpRawUa(server.sip, user="101", crypto_line="1 AES_CM_128_HMAC_SHA1_80 inline:QUJD")
    try:
        assert plain.register("101", PW["101"]).status == 200
        assert _invite_status(plain, DID) == 488
        assert _invite_status(bad, DID) == 488
        assert _invite_status(short, DID) == 488
    finally:
        for ua in (plain, bad, short):
            ua.close()
    assert server.health() == 200  # still up, nothing crashed


def test_bad_srtp_packets_are_dropped_counted_and_not_heard(e2e: Harness) -> None:
    server = _server(e2e)
    carol = e2e.baresip(name="b103", user="103", password=PW["103"], registrar=server.sip,
                        tone_hz=1300)  # fmt: skip
    carol.wait_registered(10)
    phone = SrtpRawUa(server.sip, user="101")
    try:
        dialog = phone.invite("103", password=PW["101"])
        assert isinstance(dialog, Dialog), dialog
        assert phone.last_answer is not None and dialog.rtp_remote is not None
        _, values = crypto_values(phone.last_answer.body.encode())
        theirs = CryptoAttribute.parse(values[0])
        ctx, forger = (
            SrtpContext(tx_suite=SUITE, tx_key=phone.key, rx_suite=theirs.suite, rx_key=theirs.key)
            for _ in range(2)
        )  # the forger: the phone's key, its own stream state (tags flipped after)
        carol.wait_event("CALL_ESTABLISHED", 15)
        before = _metrics(server).get("srtp_auth_failures", 0.0)
        # 4 s of a 900 Hz tone from the phone's own RTP socket, every other packet
        # followed by one with a bad tag, one replayed, and plain RTP of a loud 3 kHz tone
        samples = make_tone(900, 4.0)
        noise = ulaw_encode(make_tone(3000, 0.02, amplitude=0.9))
        bad_sent = 0
        start = time.monotonic()
        for i in range(200):
            seq, ts = i + 1, (i + 1) * 160
            header = struct.pack("!BBHII", 0x80, 0, seq, ts, 0x5EC0)
            packet = ctx.protect(header + ulaw_encode(samples[i * 160 : (i + 1) * 160]))
            assert packet is not None
            phone.rtp.sendto(packet, dialog.rtp_remote)
            if i % 2 == 0:
                forged = bytearray(
                    forger.protect(struct.pack("!BBHII", 0x80, 0, seq + 10000, ts, 0x5EC0) + noise)
                    or b""
                )
                forged[-1] ^= 0x5A
                phone.rtp.sendto(bytes(forged), dialog.rtp_remote)
                phone.rtp.sendto(packet, dialog.rtp_remote)  # a replay
                plain = struct.pack("!BBHII", 0x80, 0, seq + 20000, ts, 0x5EC0) + noise
                phone.rtp.sendto(plain, dialog.rtp_remote)  # plain RTP
                bad_sent += 1
            time.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))
        after = _metrics(server)
        phone.hangup(dialog)
        carol.wait_event("CALL_CLOSED", 10)
    finally:
        phone.close()
    _, heard = carol.received_wav()
    assert has_tone(heard, 900, 2.5), describe(heard)
    runs = tone_runs(tone_segments(heard), tolerance_hz=30)
    assert not any(abs(r.freq - 3000) < 100 for r in runs), describe(heard)
    # each forged and each plain packet failed authentication; replays counted apart
    assert after["srtp_auth_failures"] - before >= 2 * bad_sent
    assert after["srtp_replays"] >= bad_sent
    assert server.health() == 200


def test_srtp_offer_over_udp_refused_without_the_test_setting(e2e: Harness) -> None:
    """Keys only over TLS: without FLOWPBX_SRTP_ALLOW_INSECURE_SIGNALLING an SRTP offer on
    UDP gets 488, and a `required` extension is not called over UDP at all."""
    server = FlowpbxServer(e2e.tmp_path, None)
    server.config = _config(server)
    e2e.adopt(server)
    server.start()
    bob = e2e.baresip(name="u102", user="102", password=PW["102"], registrar=server.sip,
                      tone_hz=1100, mediaenc="srtp-mand")  # fmt: skip
    bob.wait_registered(10)
    srtp_phone = SrtpRawUa(server.sip, user="103")  # 103 is `none`: RTP/SAVP refused too
    secure_phone = SrtpRawUa(server.sip, user="101")  # 101 is `required`
    plain_phone = RawUa(server.sip, user="103")
    try:
        assert _invite_status(srtp_phone, DID) == 488
        assert _invite_status(secure_phone, DID) == 488
        # a plain call to `required` 102 registered over UDP: 102 is never offered keys
        result = plain_phone.invite("102", password=PW["103"])
        assert not isinstance(result, Dialog), "a required extension was called over UDP"
        assert result.status >= 400
    finally:
        for ua in (srtp_phone, secure_phone, plain_phone):
            ua.close()
    with pytest.raises(TimeoutError):
        bob.wait_event("CALL_INCOMING", timeout=1)
    assert server.health() == 200
