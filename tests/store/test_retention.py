"""The retention purge (services/retention.py) on a real database — SQLite and PostgreSQL
(the `store` fixture runs each test on both) — with an injected clock: history rows and
their recordings, voicemail and its files, the audit entries, and what a crash midway
leaves (never a row pointing at a missing file, nothing in retention touched)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import pytest

from flowpbx.services.retention import RetentionPurge
from flowpbx.store import audit
from flowpbx.store.db import Store
from flowpbx.store.records import CallRecord, MailboxRec
from flowpbx.store.repos.voicemail import upsert_mailbox

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def _clock(at: dt.datetime) -> list[dt.datetime]:
    return [at]


async def _call(store: Store, call_id: str, age_days: float, *, outcome: str = "answered",
                recording: bool = False) -> Path | None:  # fmt: skip
    started = NOW - dt.timedelta(days=age_days)
    await store.add_call_history(
        CallRecord(
            call_id=call_id,
            started_at=started,
            ended_at=started + dt.timedelta(minutes=1),
            caller="+37120000001",
            did="+37167000001",
            outcome=outcome,
        )
    )
    if not recording:
        return None
    rel = f"recordings/{call_id}.wav"
    path = store.data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF....WAVE")
    await store.set_call_recording(call_id, rel)
    return path


async def _voicemail(store: Store, mailbox: str, name: str, age_days: float) -> Path:
    rel = f"voicemail/{mailbox}/{name}.wav"
    path = store.data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF....WAVE")
    await store.add_voicemail(
        mailbox=mailbox, file=rel, caller="+37120000001",
        received_at=NOW - dt.timedelta(days=age_days),
    )  # fmt: skip
    return path


async def _call_ids(store: Store) -> set[str]:
    return {r.call_id for r in await store.list_call_history(limit=1000)}


async def _audit(store: Store, entity: str) -> list[audit.AuditRec]:
    async with store.sessions() as s:
        entries, _total = await audit.list_entries(s, entity=entity)
    return entries


async def test_history_past_retention_goes_with_its_recording(store: Store) -> None:
    await store.set_setting("history_retention_days", 30)
    old_file = await _call(store, "old-rec", 400, recording=True)
    await _call(store, "old-plain", 31)
    kept_file = await _call(store, "recent-rec", 29, recording=True)
    await _call(store, "old-running", 400, outcome="in_progress")  # never purged mid-call
    now = _clock(NOW)
    purge = RetentionPurge(store, clock=lambda: now[0])

    result = await purge.purge()

    assert (result.calls, result.recordings) == (2, 1)
    assert await _call_ids(store) == {"recent-rec", "old-running"}
    assert old_file is not None and not old_file.exists()
    assert kept_file is not None and kept_file.exists()
    [entry] = await _audit(store, "call_history")
    assert (entry.actor, entry.action) == ("retention", "purge")
    assert entry.details["calls"] == 2 and entry.details["recordings"] == 1
    assert entry.details["retention_days"] == 30

    # Nothing more to do now: no new audit entry. Two days later the 29-day call is due.
    assert (await purge.purge()).calls == 0
    assert len(await _audit(store, "call_history")) == 1
    now[0] = NOW + dt.timedelta(days=2)
    assert (await purge.purge()).calls == 1
    assert await _call_ids(store) == {"old-running"}
    assert not kept_file.exists()
    assert len(await _audit(store, "call_history")) == 2


async def test_default_history_retention_is_a_year(store: Store) -> None:
    await _call(store, "older-than-a-year", 366)
    await _call(store, "this-year", 364)
    result = await RetentionPurge(store, clock=lambda: NOW).purge()
    assert result.history_days == 365 and result.calls == 1
    assert await _call_ids(store) == {"this-year"}


async def test_voicemail_past_its_own_retention(store: Store) -> None:
    async with store.transaction() as s:
        await upsert_mailbox(s, MailboxRec(number="101", name="Anna"))
        await upsert_mailbox(s, MailboxRec(number="102", name="Ben"))
    old_101 = await _voicemail(store, "101", "old", 10)
    old_102 = await _voicemail(store, "102", "old", 8)
    new_101 = await _voicemail(store, "101", "new", 1)
    told: list[set[str]] = []

    async def purged(boxes: set[str]) -> None:
        told.append(boxes)

    purge = RetentionPurge(store, clock=lambda: NOW, on_voicemail_purged=purged)

    # 0 (the default): voicemail is kept for ever, however old.
    result = await purge.purge()
    assert result.voicemail_days == 0 and result.voicemail == 0
    assert all(p.exists() for p in (old_101, old_102, new_101)) and told == []

    await store.set_setting("voicemail_retention_days", 7)
    result = await purge.purge()
    assert (result.voicemail, result.voicemail_files) == (2, 2)
    assert not old_101.exists() and not old_102.exists() and new_101.exists()
    assert [m.file for m in await store.list_voicemail("101")] == ["voicemail/101/new.wav"]
    assert await store.list_voicemail("102") == []
    assert told == [{"101", "102"}]
    [entry] = await _audit(store, "voicemail")
    assert entry.details["messages"] == 2 and entry.details["mailboxes"] == ["101", "102"]
    assert await _audit(store, "call_history") == []  # nothing purged there: no entry


async def test_a_crash_midway_leaves_no_row_without_its_file(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.set_setting("history_retention_days", 30)
    files = {f"old-{i}": await _call(store, f"old-{i}", 100 + i, recording=True) for i in range(5)}
    kept = await _call(store, "recent", 5, recording=True)

    # The process dies after the second batch's rows are committed, before its files go.
    real_unlink = Store._unlink_data_files
    batches: list[list[str]] = []

    def dying_unlink(self: Store, names: list[str]) -> int:
        batches.append(list(names))
        if len(batches) == 2:
            raise SystemError("power cut")
        return real_unlink(self, names)

    monkeypatch.setattr(Store, "_unlink_data_files", dying_unlink)
    with pytest.raises(SystemError):
        await store.purge_calls(NOW - dt.timedelta(days=30), batch=2)

    rows = await store.list_call_history(limit=100)
    left = {r.call_id for r in rows}
    assert "recent" in left and kept is not None and kept.exists()
    for r in rows:  # every row still there has its recording on disk
        path = files.get(r.call_id) or kept
        assert path is not None and path.exists(), r.call_id
    assert len(left) == 6 - 4  # two batches of two committed gone

    monkeypatch.setattr(Store, "_unlink_data_files", real_unlink)
    result = await RetentionPurge(store, clock=lambda: NOW).purge()
    assert result.calls == 1
    assert await _call_ids(store) == {"recent"}


async def test_the_task_runs_first_soon_then_on_its_interval(store: Store) -> None:
    await store.set_setting("history_retention_days", 30)
    await _call(store, "old", 100)
    times = iter([NOW + dt.timedelta(days=d) for d in range(100)])
    purge = RetentionPurge(store, clock=lambda: next(times), first_delay_s=0.0, interval_s=0.05)
    purge.start()
    try:
        async with asyncio.timeout(60):
            while purge.runs < 3:
                await asyncio.sleep(0.02)
    finally:
        await purge.close()
    assert await _call_ids(store) == set()
    assert purge.last is not None and purge.last.at >= NOW + dt.timedelta(days=2)
    runs = purge.runs
    await asyncio.sleep(0.2)
    assert purge.runs == runs  # closed: no more runs


async def test_voicemail_files_a_crash_left_without_rows_are_swept(store: Store) -> None:
    async with store.transaction() as s:
        await upsert_mailbox(s, MailboxRec(number="101", name="Anna"))
    await store.set_setting("voicemail_retention_days", 7)
    kept = await _voicemail(store, "101", "kept", 1)
    old_stamp = (NOW - dt.timedelta(days=30)).timestamp()
    os.utime(kept, (old_stamp, old_stamp))  # an old file that a message still names: kept
    orphan = store.data_dir / "voicemail" / "101" / "orphan.wav"
    orphan.write_bytes(b"RIFF....WAVE")
    os.utime(orphan, (old_stamp, old_stamp))
    fresh = store.data_dir / "voicemail" / "101" / "being-recorded.wav"
    fresh.write_bytes(b"RIFF....WAVE")  # written just now, its row not yet added: kept
    fresh_stamp = (NOW - dt.timedelta(hours=1)).timestamp()
    os.utime(fresh, (fresh_stamp, fresh_stamp))

    result = await RetentionPurge(store, clock=lambda: NOW).purge()

    assert (result.voicemail, result.orphan_files) == (0, 1)
    assert not orphan.exists() and kept.exists() and fresh.exists()
    [entry] = await _audit(store, "voicemail")
    assert entry.details["orphan_files"] == 1 and entry.details["messages"] == 0
