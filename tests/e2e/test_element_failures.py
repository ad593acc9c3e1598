"""Failure paths of flow elements on live calls: the provider refusing an outbound call
(486 / 480 / 503 -> busy / no_answer / failed), an extension with no registered phone
(offline), and a webhook server that is down (default branch, the call goes on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.faults_support import call_once
from tests.e2e.peers import company, flow, tone_audio, trace_output
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp
from tests.netutil import free_tcp_port, free_udp_port

SIPP_DIR = Path(__file__).resolve().parent.parent / "sipp"

pytestmark = pytest.mark.e2e

DID = "+37167000051"


def _server(e2e: Harness, in_port: int, out_port: int, nodes: dict[str, Any]) -> FlowpbxServer:
    server = FlowpbxServer(e2e.tmp_path, None, extra_env={"FLOWPBX_HTTP_ALLOW_PRIVATE": "1"})
    hello = {"hello": {"type": "play", "params": {"audio": "short"}, "next": {"next": "main"}}}
    company(
        server,
        trunk_ports=[out_port, in_port],  # the DID (and so calls out) on the first
        extensions=[{"number": "101", "name": "Alice", "password": "pw-long-101-fail"}],
        audio=[tone_audio(server, "short", 500.0, 0.3)],
        flows=[flow("Failures", [DID], {**hello, **nodes}, first="hello")],
    )
    e2e.adopt(server)
    return server.start()


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
        row = call_once(e2e, server, in_port, f"call{status}", did=DID)
        refuser.check(timeout=10)
        assert trace_output(row, "main") == output, (status, row["trace"])
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
    row = call_once(e2e, server, in_port, "offline", did=DID)
    assert trace_output(row, "main") == "offline", row["trace"]
    assert trace_output(row, "hook") == "default", row["trace"]
    assert "bye" in [e.get("node") for e in row["trace"]], row["trace"]
