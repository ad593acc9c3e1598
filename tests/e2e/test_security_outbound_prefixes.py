"""Toll fraud through the national and international-access forms of a blocked number (issue
16): an extension with outbound rights dials +1 900 (blocked by default) as "19005551234",
"01119005551234", "0019005551234" and "9005551234" on a NANP trunk. Each is refused (403)
and nothing reaches the provider (a UDP socket at the trunk's address); an allowed number
does reach it, so the socket would have seen a leak."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.rawsip import FakeProvider, extension_invite
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

PASSWORD = "Vb3-outbound-101"
ALLOWED = "12025550100"
BLOCKED_FORMS = ("19005551234", "01119005551234", "0019005551234", "9005551234")


def test_blocked_prefix_in_national_and_access_code_forms_never_reaches_the_provider(
    e2e: Harness,
) -> None:
    trunk_port = free_udp_port()
    provider = FakeProvider(trunk_port)
    e2e.stack.callback(provider.close)
    server = FlowpbxServer(
        e2e.tmp_path,
        {
            "extensions": [
                {"number": "101", "name": "Ext 101", "password": PASSWORD, "outbound": True}
            ],
            "trunks": [
                {
                    "name": "provider",
                    "host": "localhost",  # a name: resolved off the loop for each call
                    "port": trunk_port,
                    "country_code": "1",
                    "national_prefix": "1",
                }
            ],
            "numbers": [{"number": "+12025550199", "trunk": "provider"}],
        },
    )
    e2e.adopt(server)
    server.start()

    for dialled in BLOCKED_FORMS:
        answer = extension_invite(server.sip, user="101", password=PASSWORD, dialled=dialled)
        assert answer.status == 403, (dialled, answer, server.logs())
    assert provider.requests == [], provider.requests

    answer = extension_invite(server.sip, user="101", password=PASSWORD, dialled=ALLOWED)
    seen = provider.wait_invite()
    invites = [uri for method, uri in seen if method == "INVITE"]
    assert invites and all(uri.startswith(f"sip:{ALLOWED}@") for uri in invites), seen
    assert answer.status == 486, answer  # the provider's answer reaches the extension
