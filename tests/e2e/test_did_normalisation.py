"""My numbers however the provider writes them (SPEC §2, issue "Every call-flow element
live"): a SIPp provider with a national number format (country code 371, national prefix
0) sends the DID in national format in the Request-URI, only in To (Request-URI "s" or the
trunk's account name), and as a tel: URI; each reaches the flow, and history shows E.164
for the DID and the caller. An unknown DID gets 404 and a history row."""

from __future__ import annotations

import pytest

from tests.audio_analysis import describe, has_tone
from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, provider_did_call, tone_audio, trace_output
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000061"
PROMPT_HZ = 760.0


def test_national_to_only_and_tel_dids_reach_the_flow_unknown_gets_404(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    company(
        server,
        trunk_ports=[trunk_port],
        trunk_options={"country_code": "371", "national_prefix": "0", "username": "acme"},
        audio=[tone_audio(server, "did-tone", PROMPT_HZ, 1.0)],
        flows=[flow("DIDs", [DID], {"main": {"type": "play", "params": {"audio": "did-tone"}}})],
    )
    e2e.adopt(server)
    server.start()
    host, port = server.sip
    ways = [
        # (how the provider writes it: Request-URI user or tel: URI, To URI, caller)
        ("067000061", None, "029000001"),  # national format in the Request-URI
        ("s", f"sip:0-670-000-61@{host}:{port}", "0037129000001"),  # only To carries it
        ("acme", f"sip:37167000061@{host}:{port}", "+37129000001"),  # R-URI: the account
        ("tel:+371-6700-0061", None, "29000001"),  # tel: with visual separators
    ]
    for i, (ruri_user, to_uri, caller) in enumerate(ways):
        provider = e2e.adopt_sipp(
            provider_did_call(
                e2e.tmp_path,
                pbx=server.sip,
                trunk_port=trunk_port,
                ruri_user=ruri_user,
                to_uri=to_uri,
                caller=caller,
                name=f"did{i}",
            )
        )
        cap = e2e.capture(f"did{i}", [provider.media_port])
        provider.start()
        provider.check(timeout=40)  # answered, then the PBX hangs up after the prompt
        cap.stop()
        assert 200 in provider.received_status_codes(), (ruri_user, provider.logs())
        heard = cap.audio()
        assert has_tone(heard, PROMPT_HZ, 0.7), (ruri_user, describe(heard))
        rows = server.wait_rows(
            "SELECT * FROM call_history WHERE outcome != 'in_progress'", count=i + 1
        )
        assert len(rows) == i + 1

    rows = server.history()
    assert [r["did"] for r in rows] == [DID] * 4, rows
    assert [r["caller"] for r in rows] == ["+37129000001"] * 4, rows
    assert all(trace_output(r, "main") == "next" for r in rows), [r["trace"] for r in rows]

    unknown = e2e.adopt_sipp(
        provider_did_call(
            e2e.tmp_path,
            pbx=server.sip,
            trunk_port=trunk_port,
            ruri_user="067000099",
            caller="029000002",
            name="unknown",
        )
    )
    unknown.start()
    unknown.check(timeout=20)
    assert 404 in unknown.received_status_codes(), unknown.logs()
    assert 200 not in unknown.received_status_codes()
    (row,) = server.wait_rows("SELECT * FROM call_history WHERE did = ?", ["+37167000099"])
    assert row["outcome"] == "rejected" and row["caller"] == "+37129000002", row
