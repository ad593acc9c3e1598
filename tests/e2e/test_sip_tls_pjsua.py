"""pjsua2 (PJSIP), a second independent UA, over TLS (issue 17): it registers over TLS
verifying flowpbx's certificate against the test CA, answers a provider call given to it by
the flow and presses its transfer button (blind REFER, over its TLS connection) to 103
(baresip); the provider and 103 then hear each other's tones. A second pjsua2 over TLS
calls baresip and holds and resumes with re-INVITEs over its TLS connection."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.audio_analysis import describe, has_tone, tone_order
from tests.e2e.conftest import Harness
from tests.e2e.peers import PROVIDER_TONE_HZ, provider_call
from tests.e2e.test_transfer_refer import PHONE_HZ, PjsuaPhone, _rows
from tests.e2e.tls_support import make_ca
from tests.e2e.transfer_support import DID, TARGET_HZ, company, transfers
from tests.netutil import free_tcp_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def tls_env(e2e: Harness) -> tuple[dict[str, str], int, Path]:
    pki = e2e.tmp_path / "pki"
    ca = make_ca(pki)
    cert, key = ca.issue(pki, "pbx", ["127.0.0.1"])
    port = free_tcp_port()
    env = {
        "FLOWPBX_TLS_CERT": str(cert),
        "FLOWPBX_TLS_KEY": str(key),
        "FLOWPBX_SIP_TLS_LISTEN": f"127.0.0.1:{port}",
    }
    return env, port, ca.cert_path


def test_pjsua2_over_tls_blind_transfer_button(e2e: Harness) -> None:
    env, tls_port, ca = tls_env(e2e)
    tag = "tlsxfer"
    server, trunk_port = company(e2e, tag, extra_env=env)
    target = e2e.baresip(
        name="t103", user="103", password=f"pw-long-103-{tag}", registrar=server.sip,
        tone_hz=TARGET_HZ,
    )  # fmt: skip
    target.wait_registered(10)
    phone = e2e.adopt(
        PjsuaPhone(
            server, "101", f"pw-long-101-{tag}", "--answer", "--tone-hz", str(PHONE_HZ),
            "--transfer", "blind", "--xfer-to", "103",
            "--registrar", f"127.0.0.1:{tls_port}", "--transport", "tls", "--tls-ca", str(ca),
        )
    )  # fmt: skip
    (reg,) = server.wait_rows(
        "SELECT transport FROM registrations WHERE extension = '101'", timeout=20
    )
    assert reg["transport"] == "tls"
    provider = e2e.adopt_sipp(
        provider_call(
            e2e.tmp_path, pbx=server.sip, trunk_port=trunk_port, did=DID, digit="5",
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
    assert tone_order(heard, [PHONE_HZ, TARGET_HZ], tolerance_hz=15) == [PHONE_HZ, TARGET_HZ], (
        describe(heard)
    )
    assert has_tone(heard_by_target, PROVIDER_TONE_HZ, 3.0), describe(heard_by_target)
    (row,) = _rows(server, 1)
    (facts,) = transfers(row)
    assert facts["kind"] == "blind" and facts["to"] == "103", row["trace"]
    assert facts["result"] == "completed", row["trace"]


def test_pjsua2_over_tls_calls_baresip_holds_and_resumes(e2e: Harness) -> None:
    env, tls_port, ca = tls_env(e2e)
    tag = "tlshold"
    server, _ = company(e2e, tag, extra_env=env)
    callee = e2e.baresip(
        name="h103", user="103", password=f"pw-long-103-{tag}", registrar=server.sip,
        tone_hz=TARGET_HZ,
    )  # fmt: skip
    callee.wait_registered(10)
    out = subprocess.run(
        [
            sys.executable, "-m", "tests.e2e.pjsua_peer",
            "--registrar", f"127.0.0.1:{tls_port}", "--user", "101",
            "--password", f"pw-long-101-{tag}", "--call", "103",
            "--transport", "tls", "--tls-ca", str(ca),
        ],
        capture_output=True, text=True, timeout=90, cwd=ROOT,
    )  # fmt: skip
    steps = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    names = [s["step"] for s in steps]
    detail = f"{steps}\n{out.stderr[-3000:]}"
    assert out.returncode == 0, detail
    for step in ("registered", "held", "resumed", "hung_up"):
        assert step in names, detail
    callee.wait_event("CALL_ESTABLISHED", timeout=5)
    callee.wait_event("CALL_CLOSED", timeout=10)
