"""Call history in bulk (Store.add_call_history_many): a call's in-progress and final rows
in one batch, finals replacing rows of earlier batches, ids in record order, one event per
record (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flowpbx.store.db import Store
from flowpbx.store.records import CallRecord

T0 = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def _rec(call: str, outcome: str, *, second: int = 0, caller: str = "+37129000001") -> CallRecord:
    return CallRecord(
        call_id=call,
        started_at=T0 + dt.timedelta(seconds=second),
        answered_at=None if outcome == "in_progress" else T0 + dt.timedelta(seconds=second + 2),
        ended_at=None if outcome == "in_progress" else T0 + dt.timedelta(seconds=second + 9),
        caller=caller,
        did="+37167000001",
        flow="Main",
        revision=3,
        answered_by=None if outcome == "in_progress" else "200",
        outcome=outcome,
        trace=[{"t": 0.0, "node": "start", "type": "numbers", "output": "next", "facts": {}}],
    )


async def test_in_progress_and_final_of_one_call_in_one_batch_make_one_row(store: Store) -> None:
    events: list[dict[str, Any]] = []
    store.event_sink = events.append
    batch = [
        _rec("a", "in_progress", second=1),
        _rec("b", "in_progress", second=2),
        _rec("a", "answered", second=5, caller="+37129000009"),
    ]
    pks = await store.add_call_history_many(batch)
    assert pks[0] == pks[2] and pks[1] != pks[0]
    rows = {r.call_id: r for r in await store.list_call_history(limit=10)}
    assert set(rows) == {"a", "b"}
    a = rows["a"]
    assert a.id == pks[0] and a.outcome == "answered" and a.answered_by == "200"
    assert a.started_at == T0 + dt.timedelta(seconds=1)  # kept from the in-progress row
    assert a.ended_at == T0 + dt.timedelta(seconds=14)
    assert a.caller == "+37129000009" and a.flow == "Main" and a.revision == 3
    assert a.trace and a.trace[0]["node"] == "start"
    assert rows["b"].outcome == "in_progress"
    assert [e["history_id"] for e in events] == pks
    assert [e["outcome"] for e in events] == ["in_progress", "in_progress", "answered"]


async def test_finals_replace_rows_of_earlier_batches_in_order(store: Store) -> None:
    first = await store.add_call_history_many(
        [_rec(f"c{i}", "in_progress", second=i) for i in range(5)]
    )
    second = await store.add_call_history_many(
        [_rec("c3", "busy", second=3), _rec("new", "answered", second=7)]
        + [_rec(f"c{i}", "answered", second=i) for i in (0, 4)]
    )
    assert second[0] == first[3] and second[2] == first[0] and second[3] == first[4]
    assert second[1] not in first
    rows = {r.call_id: r for r in await store.list_call_history(limit=20)}
    assert len(rows) == 6
    assert {k: r.outcome for k, r in rows.items()} == {
        "c0": "answered",
        "c1": "in_progress",
        "c2": "in_progress",
        "c3": "busy",
        "c4": "answered",
        "new": "answered",
    }
    # A second final row for a call that is no longer in progress is a row of its own.
    again = await store.add_call_history_many([_rec("c3", "answered", second=3)])
    assert again[0] not in first
    assert len(await store.list_call_history(limit=20)) == 7


async def test_more_finals_than_one_select_takes(store: Store) -> None:
    """The in-progress rows are looked up 500 call-ids at a time."""
    first = await store.add_call_history_many(
        [_rec(f"n{i}", "in_progress", second=i) for i in range(1_100)]
    )
    second = await store.add_call_history_many(
        [_rec(f"n{i}", "answered", second=i) for i in range(1_100)]
    )
    assert second == first
    rows = await store.list_call_history(limit=2_000)
    assert len(rows) == 1_100 and {r.outcome for r in rows} == {"answered"}
