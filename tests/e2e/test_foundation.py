"""Acceptance tests of the foundation against real peers (SIPp as provider and phones,
baresip as a registered phone): registration with digest auth, an inbound trunk call
through play -> menu -> call_sip with real audio and DTMF, an unconnected menu key, and
the demo company. They fail until the flowpbx runtime (serve, import, demo) lands."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.audio_analysis import (
    describe,
    has_tone,
    make_tone_wav,
    tone_order,
)
from tests.e2e.conftest import Harness
from tests.e2e.peers import PROVIDER_TONE_HZ, intruder_invite
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000001"
EXT_PASSWORD = "s3cret-101-e2e"
PROMPT_PLAY_HZ = 400.0  # the play element's prompt
PROMPT_MENU_HZ = 800.0  # the menu element's prompt
PHONE_HZ = 1000.0  # what extension 101 (baresip) sends
PROMPT_SECONDS = 1.5


def company_config(server: FlowpbxServer, trunk_port: int) -> dict[str, Any]:
    """One extension, one trunk at SIPp's address, one DID whose flow is
    numbers -> play (400 Hz) -> menu (800 Hz; only key 1 connected) -> call_sip 101."""
    make_tone_wav(server.config_file("prompts/tone400.wav"), PROMPT_PLAY_HZ, PROMPT_SECONDS)
    make_tone_wav(server.config_file("prompts/tone800.wav"), PROMPT_MENU_HZ, PROMPT_SECONDS)
    return {
        "extensions": [
            {"number": "101", "name": "Alice", "password": EXT_PASSWORD, "outbound": False}
        ],
        "trunks": [
            {
                "name": "provider",
                "host": "127.0.0.1",
                "port": trunk_port,
                "transport": "udp",
                "username": "acme",
                "password": "pw",
                "register": False,
                "trusted": False,
            }
        ],
        "numbers": [{"number": DID, "trunk": "provider"}],
        "audio": [
            {"name": "tone-400", "file": "prompts/tone400.wav"},
            {"name": "tone-800", "file": "prompts/tone800.wav"},
        ],
        "flows": [
            {
                "name": "Main line",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID]},
                        "next": {"next": "welcome"},
                    },
                    "welcome": {
                        "type": "play",
                        "params": {"audio": "tone-400"},
                        "next": {"next": "menu"},
                    },
                    "menu": {
                        "type": "menu",
                        "params": {
                            "prompt": "tone-800",
                            "timeout_s": 10,
                            "retries": 1,
                            # key 2 is one of the menu's keys, but its output is not connected
                            "keys": ["1", "2"],
                        },
                        "next": {"1": "ext101"},
                    },
                    "ext101": {
                        "type": "call_sip",
                        "params": {"extension": "101", "ring_timeout_s": 15},
                    },
                },
            }
        ],
    }


def start_company(e2e: Harness) -> tuple[FlowpbxServer, int]:
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    server.config = company_config(server, trunk_port)
    e2e.adopt(server)
    server.start()
    return server, trunk_port


def visited(trace: list[dict[str, Any]]) -> list[str]:
    """Node ids in the order the call visited them (repeats collapsed)."""
    nodes: list[str] = []
    for entry in trace:
        node = entry.get("node")
        if node and (not nodes or nodes[-1] != node):
            nodes.append(node)
    return nodes


def last_output(trace: list[dict[str, Any]], node: str) -> Any:
    outs = [e.get("output") for e in trace if e.get("node") == node and e.get("output")]
    return outs[-1] if outs else None


# ---------------------------------------------------------------- a. registration, auth
def test_register_with_digest_auth_and_refuse_unauthenticated_invite(e2e: Harness) -> None:
    server, _trunk_port = start_company(e2e)

    wrong = e2e.register(server.sip, ext="101", password="not-the-password", expect_ok=False)
    wrong.start().check(timeout=15)
    assert wrong.received_status_codes()[-1] in (401, 403), wrong.logs()
    assert server.db_query("SELECT * FROM registrations WHERE extension = ?", ["101"]) == [], (
        "a refused REGISTER must not create a binding"
    )

    right = e2e.register(server.sip, ext="101", password=EXT_PASSWORD, expires=600)
    right.start().check(timeout=15)
    assert right.received_status_codes()[-1] == 200
    rows = server.wait_rows("SELECT * FROM registrations WHERE extension = ?", ["101"])
    contact = f"sip:101@127.0.0.1:{right.local_port}"
    mine = [r for r in rows if contact in str(r["contact"])]
    assert len(mine) == 1, rows
    assert mine[0]["expires_at"] is not None
    assert f":{right.local_port}" in str(mine[0]["source"]), mine[0]

    # A phone registered as 101 must not ring for the intruder.
    phone = e2e.baresip(
        name="p101", user="101", password=EXT_PASSWORD, registrar=server.sip, tone_hz=PHONE_HZ
    )
    phone.wait_registered(10)
    for number in ("101", DID):
        intruder = e2e.adopt_sipp(intruder_invite(e2e.tmp_path, target=server.sip, number=number))
        intruder.start().check(timeout=15)
        codes = intruder.received_status_codes()
        assert codes and codes[-1] in (401, 403, 407), f"INVITE to {number}: {codes}"
        assert not {180, 183, 200} & set(codes)
    time.sleep(0.5)
    types = [e.get("type") for e in phone.events()]
    assert "CALL_INCOMING" not in types and "CALL_RINGING" not in types, types


# ---------------------------------------------------------------- b. the full inbound call
def test_provider_call_plays_menu_and_bridges_key_1_to_extension(e2e: Harness) -> None:
    server, trunk_port = start_company(e2e)
    phone = e2e.baresip(
        name="p101", user="101", password=EXT_PASSWORD, registrar=server.sip, tone_hz=PHONE_HZ
    )
    phone.wait_registered(10)

    dtmf_at_ms = int(2 * PROMPT_SECONDS * 1000 + 700)  # after both prompts have played
    provider = e2e.provider(
        server.sip, trunk_port, did=DID, digit="1", dtmf_at_ms=dtmf_at_ms, talk_ms=5000
    )
    cap = e2e.capture("provider-heard", [provider.media_port])
    provider.start()
    phone.wait_event("CALL_ESTABLISHED", timeout=dtmf_at_ms / 1000 + 15)
    provider.check(timeout=40)  # sends BYE after talking and gets 200
    phone.wait_event("CALL_CLOSED", timeout=10)
    cap.stop()

    # What the provider (caller) heard: prompt 400 Hz, then the menu's 800 Hz, then 101.
    heard = cap.audio()
    assert tone_order(heard, [PROMPT_PLAY_HZ, PROMPT_MENU_HZ, PHONE_HZ], tolerance_hz=15) == [
        PROMPT_PLAY_HZ,
        PROMPT_MENU_HZ,
        PHONE_HZ,
    ], describe(heard) + "\n" + cap.summary()
    assert has_tone(heard, PROMPT_PLAY_HZ, 1.0), describe(heard)
    assert has_tone(heard, PROMPT_MENU_HZ, 1.0), describe(heard)
    assert has_tone(heard, PHONE_HZ, 3.0), describe(heard)
    assert len(cap.sources()) == 1, f"one RTP source expected: {cap.summary()}"

    # What extension 101 heard: the provider's tone, for most of the talk time.
    _, heard_by_phone = phone.received_wav()
    assert has_tone(heard_by_phone, PROVIDER_TONE_HZ, 3.0), describe(heard_by_phone)

    (row,) = server.history()
    assert row["did"] == DID
    assert row["flow"] == "Main line"
    assert str(row["answered_by"]) == "101"
    trace = row["trace"]
    shown = json.dumps(trace, indent=1)
    assert visited(trace) == ["start", "welcome", "menu", "ext101"], shown
    assert last_output(trace, "start") == "next", shown
    assert last_output(trace, "welcome") == "next", shown
    assert last_output(trace, "menu") == "1", shown
    assert last_output(trace, "ext101") == "answered", shown
    menu_facts = json.dumps([e.get("facts") for e in trace if e.get("node") == "menu"])
    assert '"1"' in menu_facts, f"the digit pressed belongs in the menu's facts: {menu_facts}"
    times = [e["t"] for e in trace]
    assert times == sorted(times)


# ---------------------------------------------------------------- c. unconnected key
def test_unconnected_menu_key_ends_the_call_politely(e2e: Harness) -> None:
    server, trunk_port = start_company(e2e)
    phone = e2e.baresip(
        name="p101", user="101", password=EXT_PASSWORD, registrar=server.sip, tone_hz=PHONE_HZ
    )
    phone.wait_registered(10)
    dtmf_at_ms = int(2 * PROMPT_SECONDS * 1000 + 700)
    provider = e2e.provider(
        server.sip, trunk_port, did=DID, digit="2", dtmf_at_ms=dtmf_at_ms, hangup_expected=True
    )
    provider.start().check(timeout=40)  # flowpbx sent BYE, SIPp answered 200
    assert provider.received_requests() == ["BYE"], provider.logs()
    types = [e.get("type") for e in phone.events()]
    assert "CALL_INCOMING" not in types and "CALL_ESTABLISHED" not in types, types

    (row,) = server.history()
    assert not row["answered_by"]
    trace = row["trace"]
    shown = json.dumps(trace, indent=1)
    assert visited(trace)[:3] == ["start", "welcome", "menu"], shown
    assert "ext101" not in visited(trace), shown
    assert last_output(trace, "menu") == "2", shown
    after_menu = trace[max(i for i, e in enumerate(trace) if e.get("node") == "menu") :]
    text = json.dumps(after_menu).lower()
    assert "connect" in text, f"the trace must say output 2 is not connected: {after_menu}"


# ---------------------------------------------------------------- d. the demo company
def test_demo_company_extensions_call_each_other(e2e: Harness) -> None:
    server = e2e.server(None, demo=True)
    alice = e2e.baresip(
        name="d101", user="101", password="demo-pass-101", registrar=server.sip, tone_hz=700
    )
    bob = e2e.baresip(
        name="d102", user="102", password="demo-pass-102", registrar=server.sip, tone_hz=1100
    )
    alice.wait_registered(10)
    bob.wait_registered(10)
    rows = server.wait_rows(
        "SELECT extension FROM registrations WHERE extension IN ('101', '102')", count=2
    )
    assert sorted(r["extension"] for r in rows) == ["101", "102"]

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


def test_server_fixture_writes_the_config_it_imports(tmp_path: Path) -> None:
    """The fixture's own contract (no server started): ports, env and config.yaml."""
    server = FlowpbxServer(tmp_path, None)
    server.config = company_config(server, 5070)
    path = server.write_config()
    doc = yaml.safe_load(path.read_text())
    assert doc["numbers"] == [{"number": DID, "trunk": "provider"}]
    assert (path.parent / doc["audio"][0]["file"]).exists()
    assert server.env["FLOWPBX_SIP_LISTEN"] == f"127.0.0.1:{server.sip_port}"
    assert server.env["FLOWPBX_RTP_PORTS"] == f"{server.rtp_lo}-{server.rtp_hi}"
    assert server.env["FLOWPBX_DATA_DIR"] == str(server.data_dir)
    assert len({server.sip_port, server.http_port, server.rtp_lo}) == 3
