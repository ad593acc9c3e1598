"""Fault injection: the far end vanishes mid-call (issue 10). The answering phone is killed
with SIGKILL while bridged — no BYE, its RTP simply stops. flowpbx's RTP timeout
(FLOWPBX_RTP_TIMEOUT_S, 3 s here; 60 s by default) hangs up the other leg with a BYE, and the
call lands in history as answered and ended."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.peers import company_config, flow
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000001"
PASSWORD = "vanish-pass-101"


def config(trunk_port: int) -> dict[str, Any]:
    alice = {
        "type": "call_sip",
        "params": {"extension": "101", "ring_timeout_s": 20},
        "next": {},
    }
    return company_config(
        trunk_ports=[trunk_port],
        trunk_options={"transport": "udp", "register": False},
        extensions=[{"number": "101", "name": "Alice", "password": PASSWORD}],
        flows=[flow("Direct", [DID], {"alice": alice}, first="alice")],
    )


def test_vanished_phone_is_hung_up_by_the_rtp_timeout(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = e2e.server(config(trunk_port), extra_env={"FLOWPBX_RTP_TIMEOUT_S": "3"})
    phone = e2e.uas(ext="101", name="phone-101")
    e2e.register(
        server.sip, ext="101", password=PASSWORD, local_port=phone.local_port, name="register-101"
    ).start().check(timeout=20)
    phone.start().wait_ready()
    # The provider talks for as long as it is let (60 s of tone) and expects the PBX's BYE.
    caller = e2e.provider(
        server.sip, trunk_port, did=DID, dtmf_at_ms=500, hangup_expected=True, name="provider"
    )
    caller.start()
    # bridged: the phone's 200 went out; now it vanishes without a word
    deadline = time.monotonic() + 30
    while "ACK" not in " ".join(phone.received_requests()):
        assert time.monotonic() < deadline, phone.messages()
        time.sleep(0.1)
    assert phone.proc is not None
    phone.proc.kill()
    # The provider gets the BYE (the scenario ends successfully only on a BYE from the PBX).
    caller.check(timeout=40)
    assert "BYE" in caller.received_requests()
    (done,) = server.wait_rows(
        "SELECT * FROM call_history WHERE ended_at IS NOT NULL AND outcome != 'in_progress'",
        timeout=20,
    )
    assert done["answered_by"] == "101", done
    assert done["outcome"] not in ("in_progress", "interrupted"), done
    trace = done["trace"] if not isinstance(done["trace"], str) else json.loads(done["trace"])
    dial = next(t for t in trace if t["node"] == "alice" and t["type"] == "call_sip")
    assert dial["output"] == "answered" and dial["facts"]["detail"] == "rtp timeout", trace
    assert "Traceback" not in server.stderr_path.read_text(errors="replace")
