"""Call history written in batches: one transaction for many rows, each final row still
replacing its call's in-progress row (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from flowpbx.store.db import Store
from flowpbx.store.records import CallRecord


def _rec(i: int, outcome: str) -> CallRecord:
    start = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=i)
    return CallRecord(
        call_id=f"call-{i}",
        started_at=start,
        ended_at=None if outcome == "in_progress" else start + dt.timedelta(seconds=30),
        caller=f"+3712900{i:04d}",
        did="+37167000001",
        outcome=outcome,
        trace=[{"t": 0.0, "node": "start", "type": "numbers", "output": "next", "facts": {}}],
    )


async def test_batch_writes_every_row_and_replaces_in_progress_rows(store: Store) -> None:
    await store.add_call_history(_rec(0, "in_progress"))
    pks = await store.add_call_history_many([_rec(i, "answered") for i in range(120)])
    assert len(pks) == 120 and len(set(pks)) == 120
    rows = await store.list_call_history(limit=500)
    assert len(rows) == 120  # call-0's in-progress row became its final row
    assert {r.outcome for r in rows} == {"answered"}
    assert sorted(r.call_id for r in rows) == sorted(f"call-{i}" for i in range(120))
