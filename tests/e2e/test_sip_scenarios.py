"""SIP behaviour against SIPp scenarios (tests/sipp/): registration over UDP and TCP with
digest auth, an INVITE answering a challenge, CANCEL while ringing, the 2xx retransmitted
until a late ACK, re-INVITE hold/unhold in a bridged call, and a flowpbx trunk registering
(and refreshing) at a SIPp registrar with digest auth.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp

pytestmark = pytest.mark.e2e

# One server for the tests that need no trunk; each test has its own extensions, so
# registrations left by one test never ring in another.
PASSWORDS = {str(n): f"s3cret-{n}-sip" for n in range(101, 111)}


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowpbxServer]:
    server = FlowpbxServer(tmp_path_factory.mktemp("sip-scenarios"), _company())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _company(trunks: dict[str, tuple[int, str]] | None = None) -> dict[str, Any]:
    """Extensions 101-110; ``trunks`` maps a name to (port, transport) of a registering
    trunk on 127.0.0.1."""
    config: dict[str, Any] = {
        "extensions": [
            {"number": n, "name": f"Ext {n}", "password": p, "outbound": True}
            for n, p in PASSWORDS.items()
        ]
    }
    if trunks:
        config["trunks"] = [
            {
                "name": name,
                "host": "127.0.0.1",
                "port": port,
                "transport": transport,
                "username": "acme",
                "password": "pw-acme",
                "register": True,
                "trusted": False,
            }
            for name, (port, transport) in trunks.items()
        ]
    return config


def _register(e2e: Harness, server: FlowpbxServer, ext: str, **kw: Any) -> Sipp:
    sipp = e2e.register(server.sip, ext=ext, password=PASSWORDS[ext], **kw)
    sipp.start().check(timeout=15)
    return sipp


def _caller(
    e2e: Harness, server: FlowpbxServer, scenario: str, callee: str, **variables: Any
) -> Sipp:
    return e2e.sipp(
        scenario,
        remote=server.sip,
        service=callee,
        auth=("101", PASSWORDS["101"]),
        keys={"caller": "101"},
        variables=variables,
        name=scenario.removesuffix(".xml"),
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_with_digest_auth(
    e2e: Harness, shared_server: FlowpbxServer, transport: str
) -> None:
    server = shared_server
    ext = "109" if transport == "udp" else "110"
    extra = ["-t", "t1"] if transport == "tcp" else []
    sipp = e2e.adopt_sipp(
        Sipp(
            "register_auth.xml",
            e2e.tmp_path,
            remote=server.sip,
            service=ext,
            auth=(ext, PASSWORDS[ext]),
            keys={"expires": 600},
            extra_args=extra,
            name=f"register-{transport}",
        )
    )
    sipp.start().check(timeout=15)
    assert sipp.received_status_codes()[-1] == 200
    rows = server.wait_rows("SELECT * FROM registrations WHERE extension = ?", (ext,))
    assert len(rows) == 1, rows
    messages = sipp.messages()
    # The 200 came back on the transport the REGISTER used, Via untouched (RFC 3261 §18.2.2).
    assert re.search(rf"Via: SIP/2.0/{transport.upper()} 127\.0\.0\.1:{sipp.local_port}", messages)


def test_invite_answers_challenge_and_call_completes(
    e2e: Harness, shared_server: FlowpbxServer
) -> None:
    server = shared_server
    callee = e2e.uas(ext="103")
    _register(e2e, server, "103", local_port=callee.local_port)
    callee.start().wait_ready()
    caller = _caller(e2e, server, "uac_invite_auth.xml", "103", talk_ms=300, ack_delay_ms=0)
    caller.start().check(timeout=30)
    callee.check(timeout=15)
    codes = caller.received_status_codes()
    assert codes[codes.index(407) + 1 :].count(200) >= 2, codes  # INVITE 200, BYE 200
    # RFC 4028 §9: the caller asked for a session timer and supports it, so it refreshes.
    assert re.search(r"Session-Expires: 1800;refresher=uac", caller.messages()), caller.messages()


def test_cancel_while_ringing_gets_487_and_cancels_the_callee(
    e2e: Harness, shared_server: FlowpbxServer
) -> None:
    server = shared_server
    callee = e2e.sipp("uas_ring_cancel.xml", service="104", name="callee-ringing")
    _register(e2e, server, "104", local_port=callee.local_port)
    callee.start().wait_ready()
    caller = _caller(e2e, server, "uac_cancel.xml", "104")
    caller.start().check(timeout=30)
    callee.check(timeout=15)  # flowpbx cancelled the ringing phone too (CANCEL, 487, ACK)
    codes = caller.received_status_codes()
    assert codes[-2:] == [200, 487], codes


def test_2xx_retransmitted_until_the_late_ack(e2e: Harness, shared_server: FlowpbxServer) -> None:
    """SIPp holds its ACK back 1.7 s, as if the first was lost: flowpbx's INVITE server
    transaction retransmits the 200 (after T1 = 0.5 s and 2*T1 more, RFC 3261 §13.3.1.4)."""
    server = shared_server
    callee = e2e.uas(ext="105")
    _register(e2e, server, "105", local_port=callee.local_port)
    callee.start().wait_ready()
    caller = _caller(e2e, server, "uac_invite_auth.xml", "105", talk_ms=300, ack_delay_ms=1700)
    caller.start().check(timeout=30)
    callee.check(timeout=15)
    log = caller.messages()
    invite_200s = re.findall(r"SIP/2.0 200 OK\r?\n(?:[^\r\n]+\r?\n)*?CSeq: 2 INVITE", log)
    assert len(invite_200s) >= 2, log[-3000:]


def test_trunk_registers_with_digest_auth_and_refreshes(e2e: Harness) -> None:
    """Two trunks, one over UDP and one over TCP, each at its own SIPp registrar: both
    register with digest auth and refresh before their 4 s bindings expire."""
    registrars = {
        transport: e2e.sipp(
            "trunk_registrar.xml",
            variables={"user": "acme", "pass": "pw-acme", "expires": 4},
            extra_args=["-t", "t1"] if transport == "tcp" else [],
            name=f"registrar-{transport}",
        )
        for transport in ("udp", "tcp")
    }
    for registrar in registrars.values():
        registrar.start().wait_ready()
    server = e2e.server(
        _company({f"provider-{t}": (r.local_port, t) for t, r in registrars.items()})
    )
    for transport, registrar in registrars.items():
        registrar.check(timeout=30)  # two cycles: the registration, then its refresh
        requests = registrar.received_requests()
        assert requests.count("REGISTER") == 4, (transport, requests)
        assert f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:{server.sip_port}" in (
            registrar.messages()
        )
    assert server.proc is not None and server.proc.poll() is None


def test_reinvite_hold_and_resume_in_a_bridged_call(
    e2e: Harness, shared_server: FlowpbxServer
) -> None:
    """The caller holds (a=sendonly) and resumes (a=sendrecv) with re-INVITEs: flowpbx answers
    recvonly, then sendrecv, and while held it sends the caller no RTP (RFC 3264 §8.4)."""
    server = shared_server
    callee = e2e.uas(ext="106")
    _register(e2e, server, "106", local_port=callee.local_port)
    callee.start().wait_ready()
    caller = _caller(e2e, server, "uac_hold.xml", "106", talk_ms=1000, ack_delay_ms=0, hold_ms=1200)
    cap = e2e.capture("caller", [caller.local_port, caller.media_port])
    caller.start().check(timeout=30)
    callee.check(timeout=15)
    cap.stop()

    def answer_time(direction: str) -> float:
        for d in cap.datagrams:
            if (
                d.dst[1] == caller.local_port
                and d.payload.startswith(b"SIP/2.0 200")
                and (b"CSeq: 3 INVITE" in d.payload or b"CSeq: 4 INVITE" in d.payload)
                and f"a={direction}".encode() in d.payload
            ):
                return d.time
        raise AssertionError(f"no 200 with a={direction}: {cap.summary()}")

    held_at, resumed_at = answer_time("recvonly"), answer_time("sendrecv")
    rtp = cap.rtp(dst_port=caller.media_port)
    before = [p for p in rtp if p.time < held_at]
    during = [p for p in rtp if held_at < p.time < resumed_at]
    after = [p for p in rtp if p.time > resumed_at]
    assert before and after, cap.summary()
    assert len(during) <= 1, f"{len(during)} RTP packets while on hold; {cap.summary()}"


def test_pjsua2_over_tcp_calls_baresip_holds_and_resumes(
    e2e: Harness, shared_server: FlowpbxServer
) -> None:
    """pjsua2 (PJSIP), a second independent UA: registers over TCP, calls extension 107
    served by baresip (UDP), holds and resumes with re-INVITEs over its TCP connection."""
    server = shared_server
    phone = e2e.baresip(
        name="b107", user="107", password=PASSWORDS["107"], registrar=server.sip, tone_hz=900.0
    )
    phone.wait_registered(10)
    host, port = server.sip
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.e2e.pjsua_peer",
            "--registrar",
            f"{host}:{port}",
            "--user",
            "108",
            "--password",
            PASSWORDS["108"],
            "--call",
            "107",
            "--transport",
            "tcp",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=Path(__file__).resolve().parents[2],
    )
    steps = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    names = [s["step"] for s in steps]
    detail = f"{steps}\n{out.stderr[-3000:]}"
    assert out.returncode == 0, detail
    for step in ("registered", "held", "resumed", "hung_up"):
        assert step in names, detail
    phone.wait_event("CALL_ESTABLISHED", timeout=5)
    phone.wait_event("CALL_CLOSED", timeout=10)
    rows = server.db_query("SELECT contact FROM registrations WHERE extension = '108'")
    # Registered over TCP; unregistered at the end (or, if still there, a TCP contact).
    assert all("transport=tcp" in str(r["contact"]).lower() for r in rows), rows


def test_call_to_a_phone_registered_over_tcp_uses_its_connection(
    e2e: Harness, shared_server: FlowpbxServer
) -> None:
    """pjsua2 registers 102 over TCP; baresip calls it: flowpbx's INVITE reaches pjsua2 over
    the connection it registered on (RFC 3261 §18, RFC 5626 style reuse), pjsua2 answers,
    baresip hangs up and the BYE follows the same way."""
    server = shared_server
    host, port = server.sip
    root = Path(__file__).resolve().parents[2]
    peer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.e2e.pjsua_peer",
            "--registrar",
            f"{host}:{port}",
            "--user",
            "102",
            "--password",
            PASSWORDS["102"],
            "--transport",
            "tcp",
            "--answer",
            "--timeout-s",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=root,
        start_new_session=True,
    )
    try:
        rows = server.wait_rows(
            "SELECT contact, source FROM registrations WHERE extension = '102'", timeout=20
        )
        assert "transport=tcp" in str(rows[0]["contact"]).lower(), rows
        phone = e2e.baresip(
            name="b101", user="101", password=PASSWORDS["101"], registrar=server.sip
        )
        phone.wait_registered(10)
        phone.dial(f"sip:102@{host}:{port}")
        phone.wait_event("CALL_ESTABLISHED", timeout=15)
        phone.hangup()
        phone.wait_event("CALL_CLOSED", timeout=10)
        stdout, stderr = peer.communicate(timeout=30)
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.communicate(timeout=5)
    steps = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    names = [s["step"] for s in steps]
    assert peer.returncode == 0 and "remote_hung_up" in names, f"{steps}\n{stderr[-3000:]}"
    incoming = next(s for s in steps if s["step"] == "incoming")
    # pjsua2 has only its TCP transport, listening on another port than the one it registered
    # from: the call can only have come over the registration's own connection.
    assert str(incoming["via"]).startswith(f"Via: SIP/2.0/TCP {host}:{port};"), steps
    assert str(incoming["source"]).endswith(f":{port}"), steps


def test_mwi_subscription_gets_message_summary_notifies(
    e2e: Harness, shared_server: FlowpbxServer
) -> None:
    """A phone SUBSCRIBEs to message-summary with digest auth (RFC 6665, RFC 3842) and gets
    a NOTIFY with the mailbox state, then unsubscribes and gets the final NOTIFY."""
    sipp = e2e.sipp(
        "subscribe_mwi.xml",
        remote=shared_server.sip,
        service="101",
        auth=("101", PASSWORDS["101"]),
        name="mwi",
    )
    sipp.start().check(timeout=20)
    log = sipp.messages()
    assert "Content-Type: application/simple-message-summary" in log
    assert "Message-Account: sip:101@" in log
