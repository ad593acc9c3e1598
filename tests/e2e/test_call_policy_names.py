"""Display names that reach the phones' INVITEs are quoted and escaped (issue 16).

- A provider's caller whose own From has a display name with escaped quotes and a
  backslash calls extension 102: 102's INVITE has a well-formed From with the same name.
- A CRM lookup answers a name with CR/LF and a header after it: 102's INVITE carries no
  injected header, and the name (its line break made a space) stays inside the quotes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from flowpbx.sip.headers import NameAddr
from tests.e2e.conftest import Harness
from tests.e2e.httppeer import QuietHandler, serving
from tests.e2e.peers import company, flow
from tests.e2e.rawsip import Dialog, Msg, RawUa
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000162"
PASSWORD = "pw-102-names"
EVIL_NAME = "Jane\r\nX-Injected: yes\r\nContact: <sip:evil@198.51.100.1>"


@pytest.fixture
def crm() -> Iterator[int]:
    """An HTTP server whose every GET answers {"name": EVIL_NAME}; yields its port."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.reply(json.dumps({"name": EVIL_NAME}).encode(), "application/json")

    with serving(Handler) as port:
        yield port


def _server(e2e: Harness, trunk_port: int, nodes: dict[str, Any]) -> FlowpbxServer:
    server = FlowpbxServer(e2e.tmp_path, None, extra_env={"FLOWPBX_HTTP_ALLOW_PRIVATE": "1"})
    company(
        server,
        trunk_ports=[trunk_port],
        extensions=[{"number": "102", "name": "Bob", "password": PASSWORD}],
        flows=[flow("Names", [DID], nodes, first="first")],
    )
    e2e.adopt(server)
    return server.start()


def _call_and_take_invite(server: FlowpbxServer, trunk_port: int, from_header: str) -> Msg:
    """The provider calls DID with `from_header`; returns the INVITE 102 received."""
    trunk = RawUa(server.sip, port=trunk_port, user="provider")
    phone = RawUa(server.sip)
    received: list[Msg] = []

    def answer() -> None:
        received.append(phone.wait_request("INVITE"))
        phone.answer(received[0])

    try:
        assert phone.register("102", PASSWORD).status == 200
        call = trunk.invite(DID, from_header=from_header, meanwhile=answer)
        assert isinstance(call, Dialog), call.raw
        trunk.hangup(call)
        trunk.response(call.call_id, "BYE")
    finally:
        trunk.close()
        phone.close()
    return received[0]


def test_a_callers_display_name_with_quotes_reaches_the_phone_well_formed(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = _server(
        e2e, trunk_port, {"first": {"type": "call_sip", "params": {"extension": "102"}}}
    )
    hostile = '"Mallory \\"CEO\\" \\\\ x" <sip:+37129000162@provider.example>;tag=evil1'
    invite = _call_and_take_invite(server, trunk_port, hostile)
    from_ = invite["from"]
    assert from_.startswith('"Mallory \\"CEO\\" \\\\ x" <sip:'), invite.raw
    assert NameAddr.parse(from_).display == 'Mallory "CEO" \\ x', invite.raw


def test_a_looked_up_name_with_crlf_injects_no_header(e2e: Harness, crm: int) -> None:
    trunk_port = free_udp_port()
    server = _server(
        e2e,
        trunk_port,
        {
            "first": {
                "type": "caller_lookup",
                "params": {"url": f"http://127.0.0.1:{crm}/n?c={{caller}}", "json_field": "name"},
                "next": {"next": "ring"},
            },
            "ring": {"type": "call_sip", "params": {"extension": "102"}},
        },
    )
    invite = _call_and_take_invite(
        server, trunk_port, "<sip:+37129000163@provider.example>;tag=evil2"
    )
    assert invite.get("x-injected") is None, invite.raw
    assert len(invite.get_all("contact")) == 1, invite.raw
    assert "evil@198.51.100.1" not in invite["contact"], invite.raw
    parsed = NameAddr.parse(invite["from"])
    assert parsed.display == "Jane X-Injected: yes Contact: <sip:evil@198.51.100.1>", invite.raw
    assert str(parsed.uri).startswith("sip:+37129000163@"), invite.raw
