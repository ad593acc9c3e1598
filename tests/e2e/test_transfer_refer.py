"""The phone's transfer button from a pjsua2 (PJSIP) extension (SPEC §4, RFC 3515/3891):
a provider call (SIPp) answered by extension 101 (pjsua2, sending its own tone) is
transferred to 103 (baresip) blind (`call.xfer()`) or attended (`call.xferReplaces()` after
a consultation call, with the REFER on either of 101's calls). The provider and 103 then hear
each other's tones (FFT at both ends), 101's calls are released by flowpbx (BYE), the final
NOTIFY is 200 and the call history shows the transfer. Refusals: a blind transfer to a number
that is not an extension (603), a REFER from the provider's side (403), a Replaces naming no
dialog of ours (202, then NOTIFY 481); the call goes on each time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.audio_analysis import describe, has_tone, tone_order
from tests.e2e import transfer_support as xfer
from tests.e2e.conftest import Harness
from tests.e2e.peers import CALLER, PROVIDER_TONE_HZ, tone_pcap
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp
from tests.e2e.transfer_support import DID, TARGET_HZ

pytestmark = pytest.mark.e2e

PHONE_HZ = 1300.0  # what pjsua2 (101) sends
ROOT = Path(__file__).resolve().parents[2]


class PjsuaPhone:
    """tests.e2e.pjsua_peer as extension `user` in its own process (stopped at teardown)."""

    def __init__(self, server: FlowpbxServer, user: str, password: str, *args: str) -> None:
        host, port = server.sip
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "tests.e2e.pjsua_peer",
                "--registrar", f"{host}:{port}", "--user", user, "--password", password,
                "--transport", "udp", "--timeout-s", "40", *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip
        self.stdout = ""
        self.stderr = ""

    def finish(self, timeout: float = 90.0) -> list[dict[str, Any]]:
        """Wait for the peer to exit; its JSON steps."""
        self.stdout, self.stderr = self.proc.communicate(timeout=timeout)
        return [json.loads(ln) for ln in self.stdout.splitlines() if ln.startswith("{")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.stdout, self.stderr = self.proc.communicate(timeout=10)

    def logs(self) -> str:
        return f"--- pjsua2 ---\n{self.stdout}\n{self.stderr[-3000:]}"


def _setup(
    e2e: Harness, tag: str, *phone_args: str, answermode: str = "auto"
) -> tuple[FlowpbxServer, Any, PjsuaPhone, Any]:
    """The company of test_transfer.py, 103 on baresip, 101 on pjsua2 (registered), and the
    provider's SIPp (not started yet)."""
    server, trunk_port = xfer.company(e2e, tag)
    target = e2e.baresip(
        name=f"t{tag}", user="103", password=f"pw-long-103-{tag}", registrar=server.sip,
        tone_hz=TARGET_HZ, answermode=answermode,
    )  # fmt: skip
    target.wait_registered(10)
    phone = e2e.adopt(
        PjsuaPhone(server, "101", f"pw-long-101-{tag}", "--answer", "--tone-hz", str(PHONE_HZ),
                   *phone_args)
    )  # fmt: skip
    server.wait_rows("SELECT 1 FROM registrations WHERE extension = '101'", timeout=20)
    provider = e2e.provider(
        server.sip, trunk_port, did=DID, digit="5", dtmf_at_ms=200, hangup_expected=True
    )
    return server, target, phone, provider


def _rows(server: FlowpbxServer, count: int) -> list[dict[str, Any]]:
    rows = server.wait_rows(
        "SELECT * FROM call_history WHERE outcome != 'in_progress' ORDER BY rowid", count=count
    )
    for row in rows:
        row["trace"] = json.loads(row["trace"])
    return rows


def _transferred(e2e: Harness, tag: str, *phone_args: str) -> tuple[FlowpbxServer, Any, Any]:
    """Run one successful transfer: the provider calls, 101 transfers to 103 by REFER, the
    two talk, then 103 hangs up. Returns the server, what the provider heard and what 103
    heard."""
    server, target, phone, provider = _setup(e2e, tag, *phone_args)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    steps = phone.finish()
    names = [s["step"] for s in steps]
    detail = f"{steps}\n{phone.stderr[-3000:]}"
    assert phone.proc.returncode == 0, detail
    assert "released" in names, detail  # flowpbx sent BYE on every call of 101
    finals = [s for s in steps if s["step"] == "xfer_status" and s["final"]]
    assert finals and finals[-1]["code"] == 200, detail  # NOTIFY 100 ... then 200
    assert any(s["step"] == "xfer_status" and s["code"] == 100 for s in steps), detail
    target.wait_event("CALL_ESTABLISHED", timeout=5)
    time.sleep(4.0)  # provider and 103 talk
    target.hangup()
    target.wait_event("CALL_CLOSED", timeout=10)
    provider.check(timeout=30)  # the provider's call ends with 103's hang-up (BYE)
    cap.stop()
    _, heard_by_target = target.received_wav()
    return server, cap.audio(), heard_by_target


def test_pjsua2_blind_transfer_button(e2e: Harness) -> None:
    server, heard, heard_by_target = _transferred(
        e2e, "pjblind", "--transfer", "blind", "--xfer-to", "103"
    )
    assert tone_order(heard, [PHONE_HZ, TARGET_HZ], tolerance_hz=15) == [PHONE_HZ, TARGET_HZ], (
        describe(heard)
    )
    assert has_tone(heard, TARGET_HZ, 3.0), describe(heard)
    assert has_tone(heard_by_target, PROVIDER_TONE_HZ, 3.0), describe(heard_by_target)
    (row,) = _rows(server, 1)
    (facts,) = xfer.transfers(row)
    assert facts["kind"] == "blind" and facts["to"] == "103", row["trace"]
    assert facts["result"] == "completed", row["trace"]


@pytest.mark.parametrize("refer_on", ["original", "consult"])
def test_pjsua2_attended_transfer_button_with_replaces(e2e: Harness, refer_on: str) -> None:
    """101 holds the provider, calls 103 (consultation), then presses transfer: the REFER
    goes on the original call naming the consultation in Replaces, or the other way round."""
    server, heard, heard_by_target = _transferred(
        e2e, f"pjatt{refer_on[:4]}", "--transfer", "attended", "--xfer-to", "103",
        "--refer-on", refer_on,
    )  # fmt: skip
    assert tone_order(heard, [PHONE_HZ, TARGET_HZ], tolerance_hz=15) == [PHONE_HZ, TARGET_HZ], (
        describe(heard)
    )
    assert has_tone(heard, TARGET_HZ, 3.0), describe(heard)
    # 103 heard 101 in the consultation, then the provider.
    order = tone_order(heard_by_target, [PHONE_HZ, PROVIDER_TONE_HZ], tolerance_hz=15)
    assert order == [PHONE_HZ, PROVIDER_TONE_HZ], describe(heard_by_target)
    assert has_tone(heard_by_target, PROVIDER_TONE_HZ, 3.0), describe(heard_by_target)
    rows = _rows(server, 2)
    provider_row = next(r for r in rows if r["did"] == DID)
    internal_row = next(r for r in rows if r["did"] == "103")
    (facts,) = xfer.transfers(provider_row)
    assert facts["method"] == "refer" and facts["kind"] == "attended", provider_row["trace"]
    assert facts["to"] == "103" and facts["result"] == "completed", provider_row["trace"]
    assert facts["by"] == "101", provider_row["trace"]
    (facts,) = xfer.transfers(internal_row)  # 101's consultation call shows it too
    assert facts["method"] == "refer" and facts["result"] == "completed", internal_row["trace"]


def test_pjsua2_semi_attended_transfer_while_the_target_rings(e2e: Harness) -> None:
    """101 presses transfer while its consultation call to 103 still rings: that call ends
    (103 stops ringing), 103 rings again for the provider, answers, and the two talk."""
    server, target, phone, provider = _setup(
        e2e, "pjsemi", "--transfer", "attended", "--xfer-to", "103", "--consult-early",
        answermode="manual",
    )  # fmt: skip
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    target.wait_event("CALL_INCOMING", timeout=30)  # the consultation rings
    target.wait_event("CALL_CLOSED", timeout=20)  # ended by the transfer
    target.wait_event("CALL_INCOMING", timeout=20)  # rung again, for the provider
    target.command("accept")
    target.wait_event("CALL_ESTABLISHED", timeout=10)
    steps = phone.finish()
    names = [s["step"] for s in steps]
    detail = f"{steps}\n{phone.stderr[-3000:]}"
    assert phone.proc.returncode == 0 and "released" in names, detail
    assert "consult_ringing" in names and "consulting" not in names, detail
    time.sleep(4.0)  # provider and 103 talk
    target.hangup()
    target.wait_event("CALL_CLOSED", timeout=10)
    provider.check(timeout=30)
    cap.stop()
    heard = cap.audio()
    assert tone_order(heard, [PHONE_HZ, TARGET_HZ], tolerance_hz=15) == [PHONE_HZ, TARGET_HZ], (
        describe(heard)
    )
    assert has_tone(heard, TARGET_HZ, 3.0), describe(heard)
    _, heard_by_target = target.received_wav()
    assert has_tone(heard_by_target, PROVIDER_TONE_HZ, 3.0), describe(heard_by_target)
    rows = _rows(server, 2)
    (facts,) = xfer.transfers(next(r for r in rows if r["did"] == DID))
    assert (facts["kind"], facts["to"], facts["result"]) == ("semi-attended", "103", "completed")
    (facts,) = xfer.transfers(next(r for r in rows if r["did"] == "103"))
    assert facts["result"] == "replaced", facts


def test_pjsua2_blind_transfer_to_a_non_extension_is_declined(e2e: Harness) -> None:
    """REFER to a number that is not an extension: 603, and 101 keeps the provider call."""
    server, _target, phone, provider = _setup(
        e2e, "pjdecl", "--transfer", "blind", "--xfer-to", "5555", "--expect-status", "603"
    )
    provider.start()
    steps = phone.finish()
    names = [s["step"] for s in steps]
    detail = f"{steps}\n{phone.stderr[-3000:]}"
    assert phone.proc.returncode == 0, detail
    assert "calls_kept" in names, detail  # nothing was released by the refused REFER
    provider.check(timeout=30)  # 101 hung up: the provider's call ends
    (row,) = _rows(server, 1)
    assert not xfer.transfers(row), row["trace"]


def test_refer_from_the_provider_leg_is_forbidden(e2e: Harness) -> None:
    """Only an extension's own dialog may transfer: a REFER from the trunk's side of a
    bridged call gets 403 and the call goes on until the provider hangs up."""
    server, trunk_port = xfer.company(e2e, "trunkrefer")
    agent_port = xfer.registered(e2e, server, "101", "trunkrefer")
    agent = e2e.uas(ext="101", local_port=agent_port)
    agent.start()
    agent.wait_ready()
    host, port = server.sip
    provider = e2e.adopt_sipp(
        Sipp(
            "provider_refer_refused.xml",
            e2e.tmp_path,
            remote=server.sip,
            local_port=trunk_port,
            service=DID,
            keys={"caller": CALLER, "refer_to": f"103@{host}:{port}"},
            files={"provider_tone.pcap": tone_pcap(PROVIDER_TONE_HZ, 5.0)},
            name="provider",
        )
    )
    provider.start().check(timeout=30)  # 403 to the REFER, then its own BYE
    (row,) = _rows(server, 1)
    assert row["answered_by"] == "101", row
    assert not xfer.transfers(row), row["trace"]


def test_refer_replaces_naming_no_dialog_notifies_481(e2e: Harness) -> None:
    """101's transfer button names a dialog flowpbx does not have: 202, NOTIFY 100, NOTIFY
    481 (RFC 5589), and 101 keeps talking to the provider."""
    server, trunk_port = xfer.company(e2e, "norepl")
    agent_port = xfer.registered(e2e, server, "101", "norepl")
    host, port = server.sip
    bogus = "nosuch%40elsewhere%3Bto-tag%3Dabc%3Bfrom-tag%3Ddef"
    agent = e2e.adopt_sipp(
        Sipp(
            "uas_refer_unknown.xml",
            e2e.tmp_path,
            local_port=agent_port,
            service="101",
            variables={"answer_after_ms": 0, "hangup_after_ms": 3000},
            keys={"refer_to": f"103@{host}:{port}?Replaces={bogus}"},
            files={
                "uas_tone.pcap": tone_pcap(PHONE_HZ, 1.2, ssrc=0x5E5E0000),
                "uas_tone2.pcap": tone_pcap(PHONE_HZ, 10.0, ssrc=0x6F6F0000),
            },
            name="agent101",
        )
    )
    agent.start()
    agent.wait_ready()
    provider = e2e.provider(
        server.sip, trunk_port, did=DID, digit="5", dtmf_at_ms=200, hangup_expected=True
    )
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    agent.check(timeout=30)  # 202, NOTIFY 100, NOTIFY 481, then 101 talks on and hangs up
    provider.check(timeout=30)
    cap.stop()
    heard = cap.audio()
    assert has_tone(heard, PHONE_HZ, 2.5), describe(heard)  # after the REFER as well
    (row,) = _rows(server, 1)
    (facts,) = xfer.transfers(row)
    assert facts["result"] == "no such dialog" and facts["method"] == "refer", row["trace"]
