"""Per-extension allow-lists (``allowed_cidrs``) against a real flowpbx on loopback: the
extension registers and calls from its allowed address (SIPp from 127.0.0.2), while the
right password from 127.0.0.1 earns the answer of a wrong password — for REGISTER and
INVITE — and counts towards the ban of that address (SPEC §7, issue 10)."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.test_security_scanners import attempt, options_answer

pytestmark = pytest.mark.e2e

PASSWORDS = {"101": "Kp4-allow-list-101", "102": "Rt8-anywhere-102"}
CONFIG = {
    "extensions": [
        {
            "number": "101",
            "name": "Fenced",
            "password": PASSWORDS["101"],
            "outbound": False,
            "allowed_cidrs": ["127.0.0.2/32"],
        },
        {"number": "102", "name": "Free", "password": PASSWORDS["102"], "outbound": False},
    ]
}


def test_allow_list_admits_its_network_and_refuses_elsewhere_like_a_wrong_password(
    e2e: Harness,
) -> None:
    server = e2e.server(CONFIG, extra_env={"FLOWPBX_SIP_BAN_THRESHOLD": "5"})
    here = ["-i", "127.0.0.2", "-mi", "127.0.0.2"]  # the later -i wins over the default
    # From the allowed address 101 registers ...
    e2e.sipp(
        "register_auth.xml",
        remote=server.sip,
        service="101",
        auth=("101", PASSWORDS["101"]),
        keys={"expires": 600},
        extra_args=here,
        name="register-101-allowed",
    ).start().check(timeout=20)
    rows = server.wait_rows("SELECT source FROM registrations WHERE extension='101'")
    assert rows[0]["source"].startswith("127.0.0.2:"), rows
    # ... and calls 102 (a SIPp phone without an allow-list, on 127.0.0.1): the call completes.
    callee = e2e.uas(ext="102", name="callee-102")
    e2e.register(
        server.sip,
        ext="102",
        password=PASSWORDS["102"],
        local_port=callee.local_port,
        name="register-102",
    ).start().check(timeout=20)
    callee.start().wait_ready()
    caller = e2e.sipp(
        "uac_invite_auth.xml",
        remote=server.sip,
        service="102",
        auth=("101", PASSWORDS["101"]),
        keys={"caller": "101"},
        variables={"talk_ms": 300, "ack_delay_ms": 0},
        extra_args=here,
        name="caller-101-allowed",
    )
    caller.start().check(timeout=30)
    callee.check(timeout=15)
    codes = caller.received_status_codes()
    assert codes[codes.index(407) + 1 :].count(200) >= 2, codes  # INVITE 200, BYE 200

    # From 127.0.0.1 the right password is answered exactly like a wrong one and like a
    # missing extension, for REGISTER and INVITE; each of these counts as a failure.
    for method in ("REGISTER", "INVITE"):
        right = attempt(server.sip, method, "101", PASSWORDS["101"], source="127.0.0.1")
        absent = attempt(server.sip, method, "777", PASSWORDS["101"], source="127.0.0.1")
        assert right == absent, (method, right, absent)
        assert str(right["final"]).startswith("SIP/2.0 403"), right
    # The fifth failure (four above, this one) bans 127.0.0.1: nothing answers it any more.
    wrong = attempt(server.sip, "REGISTER", "101", "not-the-password", source="127.0.0.1")
    assert str(wrong["final"]).startswith("SIP/2.0 403"), wrong
    deadline = time.monotonic() + 20
    while "SIP source 127.0.0.1 banned" not in server.stderr_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.1)
    assert options_answer(server.sip, "127.0.0.1") is None
    # 127.0.0.1 never replaced 101's binding; 127.0.0.2 still gets its answers.
    rows = server.db_query("SELECT source FROM registrations WHERE extension='101'")
    assert [r["source"].split(":")[0] for r in rows] == ["127.0.0.2"], rows
    assert (options_answer(server.sip, "127.0.0.2") or "").startswith("SIP/2.0 200")
    assert "Traceback" not in server.stderr_path.read_text(errors="replace")
