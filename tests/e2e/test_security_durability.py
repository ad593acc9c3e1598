"""Durability against a crash (issue 10): flowpbx is killed with SIGKILL in the middle of a
call, with a phone registered; after a restart the phone's registration is still live (the
API shows it from the running PBX) and the cut call's history row is closed as
``interrupted`` instead of staying open or vanishing."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from typing import Any

import pytest

from tests.audio_analysis import make_tone_wav
from tests.e2e.conftest import Harness
from tests.e2e.peers import provider_call, register
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000001"
PASSWORD = "durable-pass-101"


def config(server: FlowpbxServer, trunk_port: int) -> dict[str, Any]:
    make_tone_wav(server.config_file("prompts/tone500.wav"), 500.0, 2.0)
    return {
        "extensions": [{"number": "101", "name": "Alice", "password": PASSWORD}],
        "trunks": [
            {
                "name": "provider",
                "host": "127.0.0.1",
                "port": trunk_port,
                "transport": "udp",
                "register": False,
            }
        ],
        "numbers": [{"number": DID, "trunk": "provider"}],
        "audio": [{"name": "tone-500", "file": "prompts/tone500.wav"}],
        "flows": [
            {
                "name": "Long line",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID]},
                        "next": {"next": "play"},
                    },
                    "play": {"type": "play", "params": {"audio": "tone-500", "repeat": 60}},
                },
            }
        ],
    }


def api(
    server: FlowpbxServer, path: str, body: dict[str, Any] | None = None, token: str | None = None
) -> Any:
    request = urllib.request.Request(
        server.http + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def kill9(server: FlowpbxServer) -> None:
    proc, server.proc = server.proc, None
    assert proc is not None and proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def test_kill9_mid_call_keeps_registrations_and_closes_history(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    server.config = config(server, trunk_port)
    e2e.adopt(server)
    server.start()
    server.cli("user", "create", "admin", "--password", "durable-admin-pw", "--role", "admin")

    phone = e2e.adopt_sipp(
        register(e2e.tmp_path, registrar=server.sip, ext="101", password=PASSWORD, expires=600)
    )
    phone.start().check(timeout=20)
    server.wait_rows("SELECT * FROM registrations WHERE extension='101'")

    call = e2e.adopt_sipp(
        provider_call(
            e2e.tmp_path,
            pbx=server.sip,
            trunk_port=trunk_port,
            did=DID,
            dtmf_at_ms=60_000,
            talk_ms=60_000,
            name="provider",
        )
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

    token = api(
        server, "/api/v1/auth/login", {"username": "admin", "password": "durable-admin-pw"}
    )["token"]
    ext = api(server, "/api/v1/extensions/101", token=token)
    assert ext["registered"] is True, ext
    [binding] = ext["registrations"]
    assert binding["contact"].startswith("sip:101@127.0.0.1:"), binding
    assert 0 < binding["expires"] <= 600
    assert "Traceback" not in server.stderr_path.read_text(errors="replace"), server.logs()
