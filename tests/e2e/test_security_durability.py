"""Durability against a crash (issue 10): flowpbx is killed with SIGKILL in the middle of a
call, with a phone registered; after a restart the phone's registration is still live (the
API shows it from the running PBX) and the cut call's history row is closed as
``interrupted`` instead of staying open or vanishing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audio_analysis import make_tone_wav
from tests.e2e.apiclient import api, login
from tests.e2e.conftest import Harness
from tests.e2e.peers import company_config, flow
from tests.e2e.procs import kill9
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000001"
PASSWORD = "durable-pass-101"


def config(server: FlowpbxServer, trunk_port: int) -> dict[str, Any]:
    make_tone_wav(server.config_file("prompts/tone500.wav"), 500.0, 2.0)
    play = {"type": "play", "params": {"audio": "tone-500", "repeat": 60}}
    return company_config(
        trunk_ports=[trunk_port],
        trunk_options={"transport": "udp", "register": False},
        extensions=[{"number": "101", "name": "Alice", "password": PASSWORD}],
        audio=[{"name": "tone-500", "file": "prompts/tone500.wav"}],
        flows=[flow("Long line", [DID], {"play": play}, first="play")],
    )


def test_kill9_mid_call_keeps_registrations_and_closes_history(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    server.config = config(server, trunk_port)
    e2e.adopt(server)
    server.start()
    server.cli("user", "create", "admin", "--password", "durable-admin-pw", "--role", "admin")

    phone = e2e.register(server.sip, ext="101", password=PASSWORD, expires=600)
    phone.start().check(timeout=20)
    server.wait_rows("SELECT * FROM registrations WHERE extension='101'")

    call = e2e.provider(
        server.sip, trunk_port, did=DID, dtmf_at_ms=60_000, talk_ms=60_000, name="provider"
    )
    call.start()
    (row,) = server.wait_rows("SELECT * FROM call_history WHERE outcome='in_progress'", timeout=20)
    assert row["ended_at"] is None

    kill9(server)
    call.stop()
    server.start()  # same ports, same data directory

    (closed,) = server.wait_rows("SELECT * FROM call_history WHERE outcome='interrupted'")
    assert closed["call_id"] == row["call_id"] and closed["ended_at"] is not None
    assert server.db_query("SELECT * FROM call_history WHERE outcome='in_progress'") == []
    assert "closed in history as interrupted" in server.stderr_path.read_text(errors="replace")

    token = login(server, "admin", "durable-admin-pw")
    ext = api(server, "GET", "/api/v1/extensions/101", token=token)
    assert ext["registered"] is True, ext
    [binding] = ext["registrations"]
    assert binding["contact"].startswith("sip:101@127.0.0.1:"), binding
    assert 0 < binding["expires"] <= 600
    assert "Traceback" not in server.stderr_path.read_text(errors="replace"), server.logs()
