"""Fault injection on storage (issue 10), against a real flowpbx on SQLite:

- the database file is locked: another process holds an exclusive write lock while calls
  come in, and for longer than SQLite's busy timeout; the calls are handled as usual and
  their history rows and a phone's registration, waited for rather than dropped, land once
  the lock is gone;
- kill -9 in the middle of a voicemail recording, then a restart: no half file in the
  mailbox (the recording lives in memory until it is written atomically; a temporary file
  a crash leaves behind mid-write is discarded at start-up), no message row pointing at a
  missing file, and the call's history row is closed as ``interrupted``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.audio_analysis import make_tone_wav
from tests.e2e.conftest import Harness
from tests.e2e.procs import kill9
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000001"
PASSWORD = "locked-pass-101"

LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()  # held until the test says so (or closes the pipe)
db.execute("ROLLBACK")
db.close()
print("released", flush=True)
"""


def company(server: FlowpbxServer, trunk_port: int, main: dict[str, Any]) -> None:
    make_tone_wav(server.config_file("prompts/greeting.wav"), 440.0, 0.5)
    server.config = {
        "extensions": [{"number": "101", "name": "Alice", "password": PASSWORD}],
        "trunks": [{"name": "provider", "host": "127.0.0.1", "port": trunk_port}],
        "numbers": [{"number": DID, "trunk": "provider"}],
        "mailboxes": [{"number": "100", "name": "Main"}],
        "audio": [{"name": "greeting-tone", "file": "prompts/greeting.wav"}],
        "flows": [
            {
                "name": "Store",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID]},
                        "next": {"next": "main"},
                    },
                    "main": main,
                    **({"bye": {"type": "hangup", "params": {}}} if "next" in main else {}),
                },
            }
        ],
    }


class Locker:
    """A separate process holding ``BEGIN EXCLUSIVE`` on the database until `release`."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
            assert self.proc.stdout.readline().strip() == "released"
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def test_calls_complete_while_the_database_is_locked(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    company(
        server,
        trunk_port,
        {"type": "play", "params": {"audio": "greeting-tone"}, "next": {"next": "bye"}},
    )
    e2e.adopt(server)
    server.start()
    locker = Locker(server.db_path)
    e2e.stack.callback(locker.stop)
    # A phone registers meanwhile: answered from memory, its binding written later.
    e2e.register(server.sip, ext="101", password=PASSWORD).start().check(timeout=20)
    calls = 3
    for i in range(calls):  # one after the other from the trunk's port; the PBX hangs up
        call = e2e.provider(
            server.sip,
            trunk_port,
            did=DID,
            dtmf_at_ms=200,
            hangup_expected=True,
            name=f"provider-{i}",
        )
        call.start().check(timeout=30)
    # Still locked: nothing could be written yet (readers see the last committed state).
    assert locker.proc.poll() is None
    assert server.db_query("SELECT * FROM call_history") == []
    # Hold the lock past SQLite's own busy timeout (15 s), until a write has failed and
    # the history writer says it waits the outage out instead of dropping the rows.
    deadline = time.monotonic() + 90
    while "database unavailable" not in server.stderr_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.2)
    assert server.db_query("SELECT * FROM call_history") == []
    assert server.db_query("SELECT * FROM registrations") == []
    locker.release()
    rows = server.wait_rows(
        "SELECT * FROM call_history WHERE outcome != 'in_progress'", count=calls, timeout=30
    )
    assert len(rows) == calls, rows
    server.wait_rows("SELECT * FROM registrations WHERE extension='101'")
    assert {r["did"] for r in rows} == {DID}
    assert all(r["ended_at"] is not None for r in rows), rows
    log = server.stderr_path.read_text(errors="replace")
    assert "could not write" not in log and "Traceback" not in log, server.logs()


def test_kill9_during_a_voicemail_recording_leaves_no_half_message(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    company(
        server,
        trunk_port,
        {
            "type": "voicemail",
            "params": {
                "mode": "leave",
                "mailbox": "100",
                "greeting": "greeting-tone",
                "max_length_s": 60,
                "silence_stop_s": 30,
            },
        },
    )
    e2e.adopt(server)
    server.start()
    # The caller talks (a 600 Hz tone) for a minute into the recording.
    call = e2e.provider(
        server.sip, trunk_port, did=DID, dtmf_at_ms=60_000, talk_ms=60_000, name="provider"
    )
    call.start()
    (row,) = server.wait_rows("SELECT * FROM call_history WHERE outcome='in_progress'", timeout=20)
    # greeting (0.5 s) and beep are over within a few seconds; the recording runs for 60 s
    time.sleep(4)
    mailbox = server.data_dir / "voicemail" / "100"
    kill9(server)
    call.stop()
    # As if the crash had hit while a recording was being written: a temporary file beside
    # the messages, never renamed.
    mailbox.mkdir(parents=True, exist_ok=True)
    debris = mailbox / ".msg-crashed.wav.k3j4h5.tmp"
    debris.write_bytes(b"RIFF\x00\x00")
    server.start()

    (closed,) = server.wait_rows("SELECT * FROM call_history WHERE outcome='interrupted'")
    assert closed["call_id"] == row["call_id"] and closed["ended_at"] is not None
    assert not debris.exists()
    assert "discarded 1 unfinished media file" in server.stderr_path.read_text(errors="replace")
    leftovers = [p.name for p in mailbox.iterdir()]
    messages = server.db_query("SELECT * FROM voicemail_messages")
    # no half file: only complete messages, each with its row, and every row has its file
    assert sorted(leftovers) == sorted(Path(m["file"]).name for m in messages), (
        leftovers,
        messages,
    )
    for m in messages:
        assert (server.data_dir / m["file"]).is_file(), m
    assert "Traceback" not in server.stderr_path.read_text(errors="replace")
