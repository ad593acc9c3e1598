"""SIP over TLS and SRTP together (issue 17 acceptance), FLOWPBX_SRTP_ALLOW_INSECURE_SIGNALLING
unset: the SDES keys travel only inside TLS.

- two baresip phones over TLS with ``mediaenc=srtp-mand`` (extensions ``required``): A calls
  B, then B calls a flow (a prompt, then A); tones heard both ways, call history says
  ``srtp: true`` for both legs, and captures show no SIP text on the TLS port and no PCMU of
  either tone in the RTP;
- an SRTP-mandatory phone over TLS calls out through a plain-RTP provider (baresip on the
  trunk): audio both ways, the relay encrypting one side only;
- pjsua2 over TLS with mandatory SRTP: registers, calls a TLS+SRTP baresip, holds and
  resumes (its tone heard before the hold and after the resume), and answers a provider call
  and transfers it by REFER to a TLS+SRTP baresip (both ways heard after the transfer).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.audio_analysis import (
    describe,
    has_tone,
    load_wav,
    make_tone_wav,
    tone_order,
    ulaw_encode,
)
from tests.audio_analysis import tone as make_tone
from tests.e2e.baresip import Baresip
from tests.e2e.conftest import Harness
from tests.e2e.peers import PROVIDER_TONE_HZ, provider_call
from tests.e2e.server import FlowpbxServer
from tests.e2e.test_sip_tls_phones import TcpCapture, both_pem
from tests.e2e.test_transfer_refer import PjsuaPhone
from tests.e2e.tls_support import CertAuthority, make_ca
from tests.e2e.transfer_support import ends_with, transfers
from tests.netutil import free_tcp_port, free_udp_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PW = {n: f"tls-srtp-pass-{n}" for n in ("101", "102", "103")}
DID = "+37167000117"
OUT_NUMBER = "29000117"
PROMPT_HZ = 400.0
A_HZ = 700.0
B_HZ = 1100.0
PJSUA_HZ = 600.0
TARGET_HZ = 900.0
PROVIDER_HZ = 1500.0


class Pbx:
    """A flowpbx with a TLS listener (certificate from the test's own CA), extensions 101-103
    with ``media_encryption: required``, a plain-RTP trunk, and a flow on DID that plays a
    400 Hz prompt and then calls ``flow_to``."""

    def __init__(
        self, e2e: Harness, *, flow_to: str = "101", trunk_port: int | None = None
    ) -> None:
        self.e2e = e2e
        self.pki = e2e.tmp_path / "pki"
        self.ca: CertAuthority = make_ca(self.pki)
        cert, key = self.ca.issue(self.pki, "pbx", ["127.0.0.1", "localhost"])
        self.tls_port = free_tcp_port()
        self.trunk_port = trunk_port or free_udp_port()
        server = FlowpbxServer(
            e2e.tmp_path,
            None,
            extra_env={
                "FLOWPBX_TLS_CERT": str(cert),
                "FLOWPBX_TLS_KEY": str(key),
                "FLOWPBX_SIP_TLS_LISTEN": f"127.0.0.1:{self.tls_port}",
            },
        )
        assert "FLOWPBX_SRTP_ALLOW_INSECURE_SIGNALLING" not in server.env
        make_tone_wav(server.config_file("prompts/p400.wav"), PROMPT_HZ, 1.5)
        server.config = {
            "extensions": [
                {"number": n, "name": f"Secure {n}", "password": PW[n], "outbound": True,
                 "media_encryption": "required"}
                for n in ("101", "102", "103")
            ],
            "trunks": [{"name": "provider", "host": "127.0.0.1", "port": self.trunk_port,
                        "transport": "udp"}],
            "numbers": [{"number": DID, "trunk": "provider"}],
            "audio": [{"name": "p400", "file": "prompts/p400.wav"}],
            "flows": [
                {
                    "name": "TLS SRTP line",
                    "entry": "start",
                    "nodes": {
                        "start": {"type": "numbers", "params": {"numbers": [DID]},
                                  "next": {"next": "hello"}},
                        "hello": {"type": "play", "params": {"audio": "p400"},
                                  "next": {"next": "ext"}},
                        "ext": {"type": "call_sip",
                                "params": {"extension": flow_to, "ring_timeout_s": 15}},
                    },
                }
            ],
        }  # fmt: skip
        e2e.adopt(server)
        self.server = server.start()

    @property
    def registrar(self) -> tuple[str, int]:
        return ("127.0.0.1", self.tls_port)

    def uri(self, number: str) -> str:
        return f"sip:{number}@127.0.0.1:{self.tls_port};transport=tls"

    def phone(self, name: str, user: str, tone_hz: float) -> Baresip:
        """A baresip phone over TLS (verifying flowpbx against the CA) with mandatory SRTP."""
        phone = self.e2e.baresip(
            name=name, user=user, password=PW[user], registrar=self.registrar,
            tone_hz=tone_hz, tls_ca=self.ca.cert_path, mediaenc="srtp-mand",
            tls_certificate=both_pem(*self.ca.issue(self.pki, name, ["127.0.0.1"]),
                                     self.pki / f"{name}.pem"),
        )  # fmt: skip
        phone.wait_registered(15)
        return phone


def _media_srtp(row: dict[str, Any]) -> list[bool]:
    """The `srtp` media fact of each leg of a call-history row."""
    media = [e for e in row["trace"] if e.get("type") == "media"]
    assert media, row["trace"]
    return [bool(leg["srtp"]) for leg in media[-1]["facts"].values()]


def _finished(server: FlowpbxServer, count: int) -> list[dict[str, Any]]:
    rows = server.wait_rows(
        "SELECT * FROM call_history WHERE outcome != 'in_progress' ORDER BY rowid", count=count
    )
    for row in rows:
        row["trace"] = json.loads(row["trace"])
    return rows


def _pcmu_of(hz: float) -> bytes:
    return ulaw_encode(make_tone(hz, 0.02))[40:72]  # 4 ms of the tone as PCMU


def test_tls_srtp_phones_call_each_other_and_a_flow(e2e: Harness) -> None:
    pbx = Pbx(e2e, flow_to="101")
    server = pbx.server
    sip_capture = e2e.adopt(TcpCapture(e2e.tmp_path / "tls.pcap", [pbx.tls_port]))
    sip_capture.start()
    rtp_capture = e2e.capture("srtp", [*range(server.rtp_lo, server.rtp_hi + 1)])
    alice = pbx.phone("a101", "101", A_HZ)
    bob = pbx.phone("b102", "102", B_HZ)
    rows = server.wait_rows(
        "SELECT extension, transport FROM registrations ORDER BY extension", count=2
    )
    assert [(r["extension"], r["transport"]) for r in rows] == [("101", "tls"), ("102", "tls")]

    # 1. A calls B
    alice.dial(pbx.uri("102"))
    bob.wait_event("CALL_ESTABLISHED", 15)
    alice.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(4)
    alice.hangup()
    bob.wait_event("CALL_CLOSED", 10)
    alice.wait_event("CALL_CLOSED", 10)
    _, alice_heard = alice.received_wav()
    _, bob_heard = bob.received_wav()
    assert has_tone(alice_heard, B_HZ, 2.5), describe(alice_heard)
    assert has_tone(bob_heard, A_HZ, 2.5), describe(bob_heard)

    # 2. B calls the flow: the prompt, then A
    bob.dial(pbx.uri(DID))
    alice.wait_event("CALL_ESTABLISHED", 20)
    time.sleep(4)
    bob.hangup()
    alice.wait_event("CALL_CLOSED", 10)
    bob.wait_event("CALL_CLOSED", 10)
    _, alice_heard = alice.received_wav()
    _, bob_heard = bob.received_wav()
    assert has_tone(bob_heard, PROMPT_HZ, 1.0), describe(bob_heard)
    assert has_tone(bob_heard, A_HZ, 2.5), describe(bob_heard)
    assert has_tone(alice_heard, B_HZ, 2.5), describe(alice_heard)

    direct, flow = _finished(server, 2)
    assert _media_srtp(direct) == [True, True], direct["trace"]
    assert _media_srtp(flow) == [True, True], flow["trace"]

    sip_capture.stop()
    raw = sip_capture.raw()
    assert len(raw) > 20_000, "the capture must hold the TLS traffic of two calls"
    for text in (b"SIP/2.0", b"INVITE sip:", b"a=crypto", b"inline:", b"tls-srtp-pass"):
        assert text not in raw, f"{text!r} in clear on the TLS port"
    payloads = [d.payload for d in rtp_capture.stop()]
    assert len(payloads) > 400, "the capture saw no media of two calls"
    for hz in (A_HZ, B_HZ):
        assert not any(_pcmu_of(hz) in p for p in payloads), f"{hz} Hz PCMU in clear"


def test_tls_srtp_phone_calls_a_plain_provider(e2e: Harness) -> None:
    provider = e2e.baresip(name="prov", user=OUT_NUMBER, tone_hz=PROVIDER_HZ)
    pbx = Pbx(e2e, trunk_port=provider.sip_port)
    alice = pbx.phone("o101", "101", A_HZ)
    alice.dial(pbx.uri(OUT_NUMBER))
    provider.wait_event("CALL_ESTABLISHED", 15)
    alice.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(4)
    alice.hangup()
    provider.wait_event("CALL_CLOSED", 10)
    alice.wait_event("CALL_CLOSED", 10)
    _, heard_by_alice = alice.received_wav()
    _, heard_by_provider = provider.received_wav()
    assert has_tone(heard_by_alice, PROVIDER_HZ, 2.5), describe(heard_by_alice)
    assert has_tone(heard_by_provider, A_HZ, 2.5), describe(heard_by_provider)
    (row,) = _finished(pbx.server, 1)
    assert sorted(_media_srtp(row)) == [False, True], row["trace"]


def _pjsua_args(pbx: Pbx) -> list[str]:
    return [
        "--registrar", f"127.0.0.1:{pbx.tls_port}", "--transport", "tls",
        "--tls-ca", str(pbx.ca.cert_path), "--srtp", "--tone-hz", str(PJSUA_HZ),
    ]  # fmt: skip


def test_pjsua2_tls_srtp_holds_and_resumes_with_audio(e2e: Harness) -> None:
    pbx = Pbx(e2e)
    bob = pbx.phone("h102", "102", B_HZ)
    recording = e2e.tmp_path / "pjsua-heard.wav"
    out = subprocess.run(
        [sys.executable, "-m", "tests.e2e.pjsua_peer", "--user", "101", "--password", PW["101"],
         "--call", "102", *_pjsua_args(pbx), "--hold-s", "1.5", "--after-resume-s", "3",
         "--record", str(recording)],
        capture_output=True, text=True, timeout=90, cwd=ROOT,
    )  # fmt: skip
    steps = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    detail = f"{steps}\n{out.stderr[-3000:]}"
    assert out.returncode == 0, detail
    names = [s["step"] for s in steps]
    for step in ("registered", "held", "resumed", "hung_up"):
        assert step in names, detail
    bob.wait_event("CALL_ESTABLISHED", timeout=5)
    bob.wait_event("CALL_CLOSED", timeout=10)
    _, heard_by_bob = bob.received_wav()
    assert has_tone(heard_by_bob, PJSUA_HZ, 0.8), describe(heard_by_bob)
    # after the resume the tone is back and runs to the end of the call
    assert ends_with(heard_by_bob, PJSUA_HZ, min_s=1.5), describe(heard_by_bob)
    rate, heard_by_pjsua = load_wav(recording)
    assert rate == 8000
    assert has_tone(heard_by_pjsua, B_HZ, 0.5), describe(heard_by_pjsua)
    assert ends_with(heard_by_pjsua, B_HZ, min_s=1.5), describe(heard_by_pjsua)
    (row,) = _finished(pbx.server, 1)
    assert _media_srtp(row) == [True, True], row["trace"]


def test_pjsua2_tls_srtp_blind_transfer_by_refer(e2e: Harness) -> None:
    pbx = Pbx(e2e, flow_to="101")
    server = pbx.server
    target = pbx.phone("x103", "103", TARGET_HZ)
    recording = e2e.tmp_path / "pjsua-heard.wav"
    phone = e2e.adopt(
        PjsuaPhone(
            server, "101", PW["101"], "--answer", "--transfer", "blind", "--xfer-to", "103",
            *_pjsua_args(pbx), "--record", str(recording),
        )
    )  # fmt: skip
    (reg,) = server.wait_rows(
        "SELECT transport FROM registrations WHERE extension = '101'", timeout=20
    )
    assert reg["transport"] == "tls"
    provider = e2e.adopt_sipp(
        provider_call(
            e2e.tmp_path, pbx=server.sip, trunk_port=pbx.trunk_port, did=DID, digit="5",
            dtmf_at_ms=200, hangup_expected=True,
        )
    )  # fmt: skip
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    steps = phone.finish()
    names = [s["step"] for s in steps]
    detail = f"{steps}\n{phone.stderr[-3000:]}"
    assert phone.proc.returncode == 0, detail
    assert "released" in names, detail
    finals = [s for s in steps if s["step"] == "xfer_status" and s["final"]]
    assert finals and finals[-1]["code"] == 200, detail
    target.wait_event("CALL_ESTABLISHED", timeout=5)
    time.sleep(4.0)
    target.hangup()
    target.wait_event("CALL_CLOSED", timeout=10)
    provider.check(timeout=30)
    cap.stop()
    heard = cap.audio()
    _, heard_by_target = target.received_wav()
    assert tone_order(heard, [PJSUA_HZ, TARGET_HZ], tolerance_hz=15) == [PJSUA_HZ, TARGET_HZ], (
        describe(heard)
    )
    assert has_tone(heard_by_target, PROVIDER_TONE_HZ, 3.0), describe(heard_by_target)
    _, heard_by_pjsua = load_wav(recording)  # before it transferred the call
    assert has_tone(heard_by_pjsua, PROVIDER_TONE_HZ, 1.0), describe(heard_by_pjsua)
    (row,) = _finished(server, 1)
    (facts,) = transfers(row)
    assert facts["kind"] == "blind" and facts["to"] == "103", row["trace"]
    assert facts["result"] == "completed", row["trace"]
    # the provider leg is plain RTP; the phone legs (101, then 103) are SRTP
    assert sorted(_media_srtp(row)) == [False, True], row["trace"]
