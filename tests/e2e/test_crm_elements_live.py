"""CRM-style elements on live calls with real peers: caller_lookup against a real HTTP
server (the name shows on the phone), http_notify whose reply picks the branch and receives
the call's facts, caller_id prefixing what the phone sees, and history_routing sending a
caller back to the operator he last talked with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.httppeer import QuietHandler, serving
from tests.e2e.peers import CALLER, company, flow
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000021"


class _Crm:
    """A tiny CRM: GET /name?n=… answers a JSON name, POST /hook records the body and
    answers the branch to take."""

    def __init__(self, branch: str) -> None:
        self.branch = branch
        self.hooks: list[dict[str, Any]] = []
        self.lookups: list[str] = []
        crm = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                crm.lookups.append(self.path)
                body = json.dumps({"contact": {"name": "Jane Client"}}).encode()
                self.reply(body, "application/json")

            def do_POST(self) -> None:
                crm.hooks.append(json.loads(self.body() or b"{}"))
                self.reply(crm.branch.encode())

        self.handler = Handler
        self.port = 0


@pytest.fixture
def crm() -> Iterator[_Crm]:
    server = _Crm(branch="2")
    with serving(server.handler) as server.port:
        yield server


def _server(e2e: Harness, trunk_port: int, nodes: dict[str, Any]) -> FlowpbxServer:
    server = FlowpbxServer(e2e.tmp_path, None, extra_env={"FLOWPBX_HTTP_ALLOW_PRIVATE": "1"})
    company(
        server,
        trunk_ports=[trunk_port],
        extensions=[
            {"number": "101", "name": "Alice", "password": "pw-long-101-crm"},
            {"number": "102", "name": "Bob", "password": "pw-long-102-crm"},
        ],
        flows=[flow("CRM", [DID], nodes, first="first")],
    )
    e2e.adopt(server)
    return server.start()


def test_lookup_name_shows_on_the_phone_and_webhook_reply_picks_branch(
    e2e: Harness, crm: _Crm
) -> None:
    trunk_port = free_udp_port()
    base = f"http://127.0.0.1:{crm.port}"
    server = _server(
        e2e,
        trunk_port,
        {
            "first": {
                "type": "caller_lookup",
                "params": {"url": base + "/name?n={caller}", "json_field": "contact.name"},
                "next": {"next": "prefix"},
            },
            "prefix": {
                "type": "caller_id",
                "params": {"prefix": "0", "strip": 3, "name_prefix": "CRM: "},
                "next": {"next": "hook"},
            },
            "hook": {
                "type": "http_notify",
                "params": {"url": base + "/hook"},
                "next": {"1": "to101", "2": "to102", "default": "to101"},
            },
            "to101": {"type": "call_sip", "params": {"extension": "101"}},
            "to102": {"type": "call_sip", "params": {"extension": "102"}},
        },
    )
    alice = e2e.baresip(name="c101", user="101", password="pw-long-101-crm", registrar=server.sip)
    bob = e2e.baresip(name="c102", user="102", password="pw-long-102-crm", registrar=server.sip)
    alice.wait_registered(10)
    bob.wait_registered(10)
    provider = e2e.provider(
        server.sip, trunk_port, did=DID, digit="5", dtmf_at_ms=300, talk_ms=1500
    )
    provider.start()
    incoming = bob.wait_event("CALL_ESTABLISHED", timeout=15)  # the webhook answered "2"
    provider.check(timeout=30)
    bob.wait_event("CALL_CLOSED", timeout=10)

    assert incoming.get("peerdisplayname") == "CRM: Jane Client", incoming
    # +37129000001 with the country code stripped and a national "0" put in front
    assert "sip:029000001@" in str(incoming.get("peeruri")), incoming
    assert "CALL_ESTABLISHED" not in [e.get("type") for e in alice.events()]

    assert crm.lookups and "n=%2B37129000001" in crm.lookups[0], crm.lookups
    (hook,) = crm.hooks
    assert hook.get("did") == DID and hook.get("caller") == "029000001", hook
    (row,) = server.history()
    hook_steps = [e for e in row["trace"] if e.get("node") == "hook"]
    assert hook_steps and hook_steps[0]["output"] == "2", row["trace"]
    assert row["answered_by"] == "102"


def test_history_routing_returns_caller_to_last_operator(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = _server(
        e2e,
        trunk_port,
        {
            "first": {
                "type": "history_routing",
                "params": {"ring_timeout_s": 10},
                "next": {"not_found": "fallback", "no_answer": "fallback"},
            },
            "fallback": {"type": "call_sip", "params": {"extension": "102"}},
        },
    )
    bob = e2e.baresip(name="h102", user="102", password="pw-long-102-crm", registrar=server.sip)
    bob.wait_registered(10)
    for attempt in range(2):
        provider = e2e.provider(
            server.sip,
            trunk_port,
            did=DID,
            digit="5",
            dtmf_at_ms=300,
            talk_ms=1500,
            name=f"call{attempt}",
        )
        provider.start()
        provider.check(timeout=30)
        bob.wait_event("CALL_CLOSED", timeout=10)
        server.wait_rows(
            "SELECT * FROM call_history WHERE outcome != 'in_progress'", count=attempt + 1
        )
    rows = sorted(server.history(), key=lambda r: r["started_at"])
    assert [r["caller"] for r in rows] == [CALLER, CALLER]
    first_path = [(e["node"], e["output"]) for e in rows[0]["trace"] if e.get("node")]
    second_path = [(e["node"], e["output"]) for e in rows[1]["trace"] if e.get("node")]
    assert ("first", "not_found") in first_path and ("fallback", "answered") in first_path
    assert ("first", "answered") in second_path, second_path
    assert rows[1]["answered_by"] == "102"
