"""The call-history writer waits out a database outage (a locked SQLite file, a restarting
PostgreSQL) instead of losing rows, and gives up only after `outage_s`; a bad row is still
written around. A store that fails on cue stands in for the database."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy.exc import IntegrityError, OperationalError

from flowpbx.pbx.history import HistoryWriter
from flowpbx.store.db import Store
from flowpbx.store.records import CallRecord


class FlakyStore:
    def __init__(self, outages: int, error: Exception | None = None) -> None:
        self.outages = outages
        self.error = error or OperationalError("INSERT", {}, Exception("database is locked"))
        self.rows: list[str] = []
        self.attempts = 0

    async def add_call_history_many(self, records: Sequence[CallRecord]) -> list[int]:
        self.attempts += 1
        if self.outages > 0:
            self.outages -= 1
            raise self.error
        self.rows += [r.call_id for r in records]
        return list(range(len(records)))

    async def add_call_history(self, rec: CallRecord) -> int:
        if isinstance(self.error, IntegrityError) and rec.call_id == "bad":
            raise self.error
        if isinstance(self.error, OperationalError) and self.outages > 0:
            raise self.error  # still down
        self.rows.append(rec.call_id)
        return 1


def _rec(call_id: str) -> CallRecord:
    return CallRecord(call_id=call_id, started_at=dt.datetime.now(dt.UTC), outcome="answered")


def _writer(store: FlakyStore) -> HistoryWriter:
    return HistoryWriter(cast(Store, cast(Any, store)))


async def test_rows_wait_out_an_outage_and_are_written_in_order() -> None:
    store = FlakyStore(outages=2)
    writer = _writer(store)
    for n in range(3):
        await writer.add(_rec(f"c{n}"))
    await asyncio.wait_for(writer.close(), timeout=30)
    assert store.rows == ["c0", "c1", "c2"] and store.attempts == 3
    assert (writer.written, writer.lost) == (3, 0)


async def test_an_outage_longer_than_the_limit_loses_the_rows_and_says_so() -> None:
    store = FlakyStore(outages=1000)
    writer = _writer(store)
    writer.outage_s = 0.4
    await writer.add(_rec("c0"))
    await asyncio.wait_for(writer.close(), timeout=30)
    assert store.rows == [] and (writer.written, writer.lost) == (0, 1)


async def test_a_bad_row_is_not_an_outage() -> None:
    bad = IntegrityError("INSERT", {}, Exception("constraint"))
    store = FlakyStore(outages=1, error=bad)
    writer = _writer(store)
    for call_id in ("ok1", "bad", "ok2"):
        await writer.add(_rec(call_id))
    await asyncio.wait_for(writer.close(), timeout=30)
    assert store.attempts == 1  # no retry of the batch: straight to one by one
    assert store.rows == ["ok1", "ok2"] and (writer.written, writer.lost) == (2, 1)
