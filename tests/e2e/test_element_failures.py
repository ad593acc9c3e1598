"""Failure paths of flow elements on live calls: the provider refusing an outbound call
(486 / 480 / 503 -> busy / no_answer / failed), an extension with no registered phone
(offline), and a webhook server that is down (default branch, the call goes on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.audio_analysis import make_tone_wav
from tests.e2e.conftest import Harness
from tests.e2e.peers import provider_call
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp
from tests.netutil import free_tcp_port, free_udp_port

SIPP_DIR = Path(__file__).resolve().parent.parent / "sipp"

pytestmark = pytest.mark.e2e

DID = "+37167000051"


def _server(e2e: Harness, in_port: int, out_port: int, nodes: dict[str, Any]) -> FlowpbxServer:
    server = FlowpbxServer(e2e.tmp_path, None, extra_env={"FLOWPBX_HTTP_ALLOW_PRIVATE": "1"})
    make_tone_wav(server.config_file("prompts/short.wav"), 500.0, 0.3)
    server.config = {
        "extensions": [{"number": "101", "name": "Alice", "password": "pw-101-fail"}],
        "trunks": [
            {"name": "in", "host": "127.0.0.1", "port": in_port},
            {"name": "out", "host": "127.0.0.1", "port": out_port},
        ],
        "numbers": [{"number": DID, "trunk": "out"}],
        "audio": [{"name": "short", "file": "prompts/short.wav"}],
        "flows": [
            {
                "name": "Failures",
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


def _call(e2e: Harness, server: FlowpbxServer, in_port: int, name: str) -> dict[str, Any]:
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
    provider.start().check(timeout=30)  # flowpbx hangs up: the output is not connected
    rows = server.history()
    return rows[-1]


def _output(row: dict[str, Any], node: str) -> Any:
    outs = [e.get("output") for e in row["trace"] if e.get("node") == node]
    return outs[0] if outs else None


def test_provider_refusals_map_to_call_phone_outputs(e2e: Harness) -> None:
    in_port, out_port = free_udp_port(), free_udp_port()
    server = _server(
        e2e,
        in_port,
        out_port,
        {
            "main": {
                "type": "call_phone",
                "params": {"number": "+37129999999", "ring_timeout_s": 10},
            }
        },
    )
    busy_xml = (SIPP_DIR / "uas_busy.xml").read_text()
    for status, output in ((486, "busy"), (480, "no_answer"), (503, "failed")):
        # SIPp checks response codes when it loads a scenario: one file per status.
        scenario = e2e.tmp_path / f"uas_{status}.xml"
        scenario.write_text(busy_xml.replace("486 Busy Here", f"{status} Refused"))
        refuser = e2e.adopt_sipp(
            Sipp(
                scenario,
                e2e.tmp_path,
                local_port=out_port,
                service="+37129999999",
                name=f"refuse{status}",
            )
        )
        refuser.start()
        refuser.wait_ready()
        row = _call(e2e, server, in_port, f"call{status}")
        refuser.check(timeout=10)
        assert _output(row, "main") == output, (status, row["trace"])
        refuser.stop()


def test_unregistered_extension_is_offline_and_dead_webhook_takes_default(
    e2e: Harness,
) -> None:
    in_port, out_port = free_udp_port(), free_udp_port()
    dead = free_tcp_port()  # nothing listens here
    server = _server(
        e2e,
        in_port,
        out_port,
        {
            "main": {
                "type": "call_sip",
                "params": {"extension": "101"},
                "next": {"offline": "hook"},
            },
            "hook": {
                "type": "http_notify",
                "params": {"url": f"http://127.0.0.1:{dead}/hook", "timeout_s": 2},
                "next": {"1": "hello2", "default": "bye"},
            },
            "hello2": {"type": "play", "params": {"audio": "short"}},
            "bye": {"type": "play", "params": {"audio": "short"}},
        },
    )
    row = _call(e2e, server, in_port, "offline")
    assert _output(row, "main") == "offline", row["trace"]
    assert _output(row, "hook") == "default", row["trace"]
    assert "bye" in [e.get("node") for e in row["trace"]], row["trace"]
