"""Helpers of the fault-injection and webhook-security e2e tests (test_faults_*.py,
test_security_webhooks.py): a company whose DID leads into given flow nodes after a short
prompt, and one provider call that the PBX ends."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, tone_audio
from tests.e2e.server import FlowpbxServer

DID = "+37167000061"


def hook_server(
    e2e: Harness, in_port: int, nodes: dict[str, Any], env: dict[str, str] | None = None
) -> FlowpbxServer:
    """A started flowpbx: trunk "provider" at 127.0.0.1:in_port, DID -> play `short` ->
    `main`."""
    server = FlowpbxServer(e2e.tmp_path, None, extra_env=env or {})
    hello = {"hello": {"type": "play", "params": {"audio": "short"}, "next": {"next": "main"}}}
    company(
        server,
        trunk_ports=[in_port],
        audio=[tone_audio(server, "short", 500.0, 0.3)],
        flows=[flow("Hooks", [DID], {**hello, **nodes}, first="hello")],
    )
    e2e.adopt(server)
    return server.start()


def call_once(
    e2e: Harness, server: FlowpbxServer, in_port: int, name: str, did: str = DID
) -> dict[str, Any]:
    """One provider call to *did* that the PBX hangs up at the end of the flow (its output
    not connected): its history row, written at the call's end."""
    done = "SELECT * FROM call_history WHERE outcome != 'in_progress'"
    before = len(server.db_query(done))
    provider = e2e.provider(
        server.sip, in_port, did=did, digit="5", dtmf_at_ms=100, hangup_expected=True, name=name
    )
    provider.start().check(timeout=30)
    server.wait_rows(done, count=before + 1)
    return server.history()[-1]
