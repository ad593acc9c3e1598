"""`dial_format` per trunk on live calls (issue #18): a flow dials the same number three ways
(+371…, 00371…, national 0…) through the trunk; the provider, a SIPp UAS answering 486,
receives every INVITE with the Request-URI (and To) in the trunk's form — e164, national,
international — the form changed over the API between rounds."""

from __future__ import annotations

import re

import pytest

from tests.e2e.apiclient import admin_token, api
from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, tone_audio
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000070"
DIALLED = ("+37167000071", "0037167000071", "067000071")
EXPECTED = {
    "e164": "+37167000071",
    "national": "067000071",
    "international": "0037167000071",
}
NUMBER_FORMAT = {"country_code": "371", "national_prefix": "0"}
INVITE_LINE = re.compile(r"^INVITE sip:([^@\s]+)@\S+ SIP/2\.0$", re.MULTILINE)
TO_LINE = re.compile(r"^To:.*<sip:([^@>]+)@", re.MULTILINE)


def _nodes() -> dict[str, object]:
    every = {"busy": None, "no_answer": None, "failed": None, "answered": None}
    nodes: dict[str, object] = {}
    names = ["main", "second", "third", "done"]
    for i, number in enumerate(DIALLED):
        nodes[names[i]] = {
            "type": "call_phone",
            "params": {"number": number, "ring_timeout_s": 10, "caller_id": "did"},
            "next": dict.fromkeys(every, names[i + 1]),
        }
    nodes["done"] = {"type": "play", "params": {"audio": "done-tone"}}
    return nodes


def test_the_provider_gets_the_number_in_the_trunks_dial_format(e2e: Harness) -> None:
    out_port, in_port = free_udp_port(), free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    company(
        server,
        trunk_ports=[out_port, in_port],  # the DID, and so calls out, on the first
        trunk_options={**NUMBER_FORMAT, "dial_format": "e164"},
        audio=[tone_audio(server, "done-tone", 900.0, 3.0)],
        flows=[flow("Dial three ways", [DID], _nodes())],
    )
    e2e.adopt(server)
    server.start()
    token = admin_token(server, "dialer", "dialer-password-1")

    for form, sent in EXPECTED.items():
        if form != "e164":
            body = {"host": "127.0.0.1", "port": out_port, **NUMBER_FORMAT, "dial_format": form}
            api(server, "PUT", "/api/v1/trunks/provider", body, token=token)
        busy = e2e.adopt_sipp(
            Sipp("uas_busy.xml", e2e.tmp_path, local_port=out_port, calls=3, name=f"to-{form}")
        ).start()
        busy.wait_ready()
        caller = e2e.provider(
            server.sip, in_port, did=DID, hangup_expected=True, dtmf_at_ms=300, name=form
        )
        caller.start()
        caller.check(timeout=60)
        busy.check(timeout=30)
        messages = busy.messages()
        assert INVITE_LINE.findall(messages) == [sent] * 3, (form, messages)
        to_users = [u for u in TO_LINE.findall(messages) if u != "anonymous"]
        assert sent in to_users, (form, to_users)
