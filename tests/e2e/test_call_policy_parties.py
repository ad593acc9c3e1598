"""An outside caller presenting a short number is still an outside caller (issue 16).

A provider's caller whose From shows `101` (an extension's number) reaches extension 102
through a DID flow. Parties are labelled by the leg they came on, so that caller:
- is not in the spy registry as extension 101: supervisor 103 dialling `4#101` gets 480
  (extension 101 is in no call), not the stranger's conversation;
- has no feature keys: its `*2103#` is relayed to 102 as keys, and 103 is never rung;
- may not transfer with REFER from the provider's leg: 403.
The real, authenticated 101 calling 102 afterwards can still be spied on (`4#101` -> 200).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow
from tests.e2e.rawsip import Dialog, RawUa
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000161"
PASSWORDS = {"101": "pw-101-parties", "102": "pw-102-parties", "103": "pw-103-parties"}


@contextlib.contextmanager
def _uas(*uas: RawUa) -> Iterator[None]:
    try:
        yield
    finally:
        for ua in uas:
            ua.close()


def _server(e2e: Harness, trunk_port: int) -> FlowpbxServer:
    server = FlowpbxServer(e2e.tmp_path, None)
    company(
        server,
        trunk_ports=[trunk_port],
        extensions=[
            {"number": n, "name": f"Ext {n}", "password": pw, "supervisor": n == "103"}
            for n, pw in PASSWORDS.items()
        ],
        flows=[
            flow("Parties", [DID], {"main": {"type": "call_sip", "params": {"extension": "102"}}})
        ],
    )
    e2e.adopt(server)
    return server.start()


def test_a_trunk_caller_showing_101_is_not_extension_101(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = _server(e2e, trunk_port)
    trunk = RawUa(server.sip, port=trunk_port, user="provider")
    phones = {n: RawUa(server.sip) for n in PASSWORDS}
    with _uas(trunk, *phones.values()):
        for n, pw in PASSWORDS.items():
            assert phones[n].register(n, pw).status == 200
        p101, p102, p103 = phones["101"], phones["102"], phones["103"]

        # The provider's caller, showing 101, is put through to 102.
        trunk.user = "101"
        call = trunk.invite(DID, meanwhile=lambda: p102.answer(p102.wait_request("INVITE")))
        assert isinstance(call, Dialog), call.raw
        trunk.send_audio(call)

        # Spy code on "101": extension 101 is in no call.
        spied = p103.invite("4#101", password=PASSWORDS["103"])
        if isinstance(spied, Dialog):
            p103.hangup(spied)
        assert not isinstance(spied, Dialog), "the stranger's call was spied on as extension 101"
        assert spied.status == 480, spied.raw

        # REFER from the provider's leg: refused.
        trunk.request(call, "REFER", extra=[("Refer-To", f"<sip:103@{server.sip[0]}>")])
        refer = trunk.response(call.call_id, "REFER")
        assert refer.status == 403, refer.raw

        # *2 from the provider's leg: not a feature key, just keys for the other party.
        trunk.send_digits(call, "*2103#")
        assert p102.received_digits("*2103#").endswith("*2103#")
        trunk.hangup(call)
        assert trunk.response(call.call_id, "BYE").status == 200
        (row,) = server.wait_rows(
            "SELECT trace FROM call_history WHERE call_id = ? AND outcome != 'in_progress'",
            [call.call_id],
        )
        transfers = [e for e in json.loads(row["trace"]) if e.get("type") == "transfer"]
        assert transfers == [], transfers  # neither *2 nor the REFER started one

        # The authenticated 101 calling 102 is extension 101: it can be spied on.
        internal = p101.invite(
            "102",
            password=PASSWORDS["101"],
            meanwhile=lambda: p102.answer(p102.wait_request("INVITE")),
        )
        assert isinstance(internal, Dialog), internal.raw
        p101.send_audio(internal)
        spied = p103.invite("4#101", password=PASSWORDS["103"])
        assert isinstance(spied, Dialog), spied.raw
        p103.hangup(spied)
        p101.hangup(internal)
        assert p101.response(internal.call_id, "BYE").status == 200
