"""The retention purge in a running flowpbx (issue #18: `history_retention_days` and
`voicemail_retention_days` did nothing). Old call history (with its recording) and old
voicemail are seeded through the store before `flowpbx serve` starts; the server's first
purge (FLOWPBX_RETENTION_FIRST_RUN_S) deletes them, which the API shows — history,
mailbox messages, the audit log — and the files are gone from the data directory, while
what is still within retention stays."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pytest

from flowpbx.store.db import Store
from flowpbx.store.records import CallRecord, MailboxRec
from flowpbx.store.repos.voicemail import upsert_mailbox
from tests.e2e.apiclient import admin_token, api
from tests.e2e.conftest import Harness
from tests.e2e.server import FlowpbxServer

pytestmark = pytest.mark.e2e


async def _seed(server: FlowpbxServer) -> dict[str, Path]:
    now = dt.datetime.now(dt.UTC)
    store = Store(f"sqlite+aiosqlite:///{server.db_path}", server.data_dir)
    files: dict[str, Path] = {}
    try:
        await store.set_setting("history_retention_days", 30)
        await store.set_setting("voicemail_retention_days", 14)
        async with store.transaction() as s:
            await upsert_mailbox(s, MailboxRec(number="101", name="Anna"))
        for call_id, age in (("old-call", 45), ("recent-call", 3)):
            started = now - dt.timedelta(days=age)
            await store.add_call_history(
                CallRecord(
                    call_id=call_id,
                    started_at=started,
                    ended_at=started + dt.timedelta(minutes=2),
                    caller="+37120000001",
                    did="+37167000001",
                    outcome="answered",
                )
            )
            rel = f"recordings/{call_id}.wav"
            files[call_id] = server.data_dir / rel
            files[call_id].parent.mkdir(parents=True, exist_ok=True)
            files[call_id].write_bytes(b"RIFF\0\0\0\0WAVE")
            await store.set_call_recording(call_id, rel)
        for name, age in (("old-vm", 20), ("recent-vm", 2)):
            rel = f"voicemail/101/{name}.wav"
            files[name] = server.data_dir / rel
            files[name].parent.mkdir(parents=True, exist_ok=True)
            files[name].write_bytes(b"RIFF\0\0\0\0WAVE")
            await store.add_voicemail(
                mailbox="101",
                file=rel,
                caller=name,
                received_at=now - dt.timedelta(days=age),
            )
    finally:
        await store.close()
    return files


def test_a_running_flowpbx_purges_history_and_voicemail_past_retention(e2e: Harness) -> None:
    server = FlowpbxServer(e2e.tmp_path, {}, extra_env={"FLOWPBX_RETENTION_FIRST_RUN_S": "2"})
    e2e.adopt(server)
    server.data_dir.mkdir(parents=True, exist_ok=True)
    server.cli("db", "upgrade")
    files = asyncio.run(_seed(server))
    assert all(p.exists() for p in files.values())

    server.start()
    token = admin_token(server, "keeper", "keeper-password-1")
    deadline = time.monotonic() + 60
    while True:
        entries = api(server, "GET", "/api/v1/audit?actor=retention", token=token)
        if {e["entity"] for e in entries} >= {"call_history", "voicemail"}:
            break
        assert time.monotonic() < deadline, (entries, server.logs())
        time.sleep(0.5)

    calls = api(server, "GET", "/api/v1/history", token=token)
    assert [c["call_id"] for c in calls] == ["recent-call"], calls
    messages = api(server, "GET", "/api/v1/mailboxes/101/messages", token=token)
    assert [m["caller"] for m in messages] == ["recent-vm"], messages
    by_entity = {e["entity"]: e for e in entries}
    history_entry = by_entity["call_history"]
    assert history_entry["action"] == "purge"
    assert history_entry["details"]["calls"] == 1
    assert history_entry["details"]["recordings"] == 1
    assert history_entry["details"]["retention_days"] == 30
    vm_entry = by_entity["voicemail"]
    assert vm_entry["details"]["messages"] == 1 and vm_entry["details"]["files"] == 1
    assert vm_entry["details"]["mailboxes"] == ["101"]

    assert not files["old-call"].exists() and not files["old-vm"].exists()
    assert files["recent-call"].exists() and files["recent-vm"].exists()
