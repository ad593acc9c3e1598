"""Extensions calling out through the trunk (SPEC §4): the caller ID a provider (SIPp UAS)
receives for plain, `h` (anonymous) and `cN` dials, refusals for an out-of-range `c9` and
for an extension without the `outbound` flag."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.baresip import Baresip
from tests.e2e.conftest import Harness
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

FIRST = "+37167000031"
SECOND = "+37167000032"
TARGET = "37129999999"


def _config(trunk_port: int) -> dict[str, Any]:
    return {
        "extensions": [
            {"number": "101", "name": "Alice", "password": "pw-long-101-out", "outbound": True},
            {"number": "102", "name": "Bob", "password": "pw-long-102-out", "outbound": False},
        ],
        "trunks": [{"name": "provider", "host": "127.0.0.1", "port": trunk_port, "trusted": True}],
        "numbers": [
            {"number": FIRST, "trunk": "provider"},
            {"number": SECOND, "trunk": "provider"},
        ],
    }


def _invite_headers(messages: str) -> dict[str, str]:
    """Headers of the first INVITE SIPp received, lower-cased names."""
    block = messages.split("INVITE sip:", 1)[1].split("\n\n", 1)[0]
    headers: dict[str, str] = {}
    for line in block.replace("\r", "").splitlines()[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return headers


def _dial_out(
    e2e: Harness, server: FlowpbxServer, phone: Baresip, trunk_port: int, dialled: str, name: str
) -> dict[str, str]:
    uas = e2e.uas(ext=TARGET, tone_hz=1300, local_port=trunk_port, name=name)
    uas.start()
    uas.wait_ready()
    phone.dial(f"sip:{dialled}@{server.sip[0]}:{server.sip[1]}")
    phone.wait_event("CALL_ESTABLISHED", timeout=15)
    time.sleep(0.5)
    phone.hangup()
    phone.wait_event("CALL_CLOSED", timeout=10)
    uas.check(timeout=15)
    return _invite_headers(uas.messages())


def test_caller_id_plain_anonymous_and_chosen(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = e2e.server(_config(trunk_port))
    alice = e2e.baresip(name="o101", user="101", password="pw-long-101-out", registrar=server.sip)
    alice.wait_registered(10)

    plain = _dial_out(e2e, server, alice, trunk_port, TARGET, "plain")
    assert f"sip:{FIRST}@" in plain["from"], plain  # the first of My numbers
    assert "privacy" not in plain

    hidden = _dial_out(e2e, server, alice, trunk_port, TARGET + "h", "anon")
    assert hidden["from"].startswith('"Anonymous" <sip:anonymous@anonymous.invalid>'), hidden
    assert hidden.get("privacy") == "id", hidden
    assert FIRST in hidden.get("p-asserted-identity", ""), hidden  # the trunk is trusted
    assert FIRST not in hidden["from"]

    chosen = _dial_out(e2e, server, alice, trunk_port, TARGET + "c2", "c2")
    assert f"sip:{SECOND}@" in chosen["from"], chosen
    assert TARGET in chosen["to"] and "c2" not in chosen["to"], chosen


def test_out_of_range_caller_id_and_no_outbound_flag_are_refused(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = e2e.server(_config(trunk_port))
    alice = e2e.baresip(name="r101", user="101", password="pw-long-101-out", registrar=server.sip)
    bob = e2e.baresip(name="r102", user="102", password="pw-long-102-out", registrar=server.sip)
    alice.wait_registered(10)
    bob.wait_registered(10)
    for phone, dialled, code in ((alice, TARGET + "c9", "404"), (bob, TARGET, "403")):
        phone.dial(f"sip:{dialled}@{server.sip[0]}:{server.sip[1]}")
        closed = phone.wait_event("CALL_CLOSED", timeout=10)
        assert code in str(closed.get("param")), closed
    rows = server.db_query("SELECT * FROM call_history")
    assert all(r["outcome"] != "answered" for r in rows), rows
