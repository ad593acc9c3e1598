"""Helpers of the fault-injection and webhook-security e2e tests (test_faults_*.py,
test_security_webhooks.py): a company whose DID leads into given flow nodes after a short
prompt, one provider call that the PBX ends, and the output a node took."""

from __future__ import annotations

from typing import Any

from tests.audio_analysis import make_tone_wav
from tests.e2e.conftest import Harness
from tests.e2e.peers import provider_call
from tests.e2e.server import FlowpbxServer

DID = "+37167000061"


def hook_server(
    e2e: Harness, in_port: int, nodes: dict[str, Any], env: dict[str, str] | None = None
) -> FlowpbxServer:
    """A started flowpbx: trunk `in` at 127.0.0.1:in_port, DID -> play `short` -> `main`."""
    server = FlowpbxServer(e2e.tmp_path, None, extra_env=env or {})
    make_tone_wav(server.config_file("prompts/short.wav"), 500.0, 0.3)
    server.config = {
        "trunks": [{"name": "in", "host": "127.0.0.1", "port": in_port}],
        "numbers": [{"number": DID, "trunk": "in"}],
        "audio": [{"name": "short", "file": "prompts/short.wav"}],
        "flows": [
            {
                "name": "Hooks",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID]},
                        "next": {"next": "hello"},
                    },
                    "hello": {
                        "type": "play",
                        "params": {"audio": "short"},
                        "next": {"next": "main"},
                    },
                    **nodes,
                },
            }
        ],
    }
    e2e.adopt(server)
    return server.start()


def call_once(e2e: Harness, server: FlowpbxServer, in_port: int, name: str) -> dict[str, Any]:
    """One provider call that the PBX hangs up at the end of the flow: its history row."""
    done = "SELECT * FROM call_history WHERE outcome != 'in_progress'"
    before = len(server.db_query(done))
    provider = e2e.adopt_sipp(
        provider_call(
            e2e.tmp_path,
            pbx=server.sip,
            trunk_port=in_port,
            did=DID,
            digit="5",
            dtmf_at_ms=100,
            hangup_expected=True,
            name=name,
        )
    )
    provider.start().check(timeout=30)
    server.wait_rows(done, count=before + 1)
    return server.history()[-1]


def output_of(row: dict[str, Any], node: str) -> Any:
    outs = [e.get("output") for e in row["trace"] if e.get("node") == node]
    return outs[0] if outs else None
