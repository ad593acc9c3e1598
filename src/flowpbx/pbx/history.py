"""Call-history writes off the call path: calls hand finished rows to a queue, one worker
writes them to the store in order, so a slow database never delays SIP or media. A database
that is unavailable for a while (locked, restarting) is waited out: the rows stay queued
(bounded) and are written when it is back."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from typing import TYPE_CHECKING

from flowpbx.flow.context import PastCall
from flowpbx.store.errors import DatabaseUnavailable
from flowpbx.store.records import CallRecord

if TYPE_CHECKING:
    from flowpbx.store.db import Store

log = logging.getLogger("flowpbx.history")

BATCH = 500


class HistoryWriter:
    def __init__(self, store: Store, max_pending: int = 10_000) -> None:
        self._store = store
        self._queue: asyncio.Queue[CallRecord] = asyncio.Queue(maxsize=max_pending)
        self._worker: asyncio.Task[None] | None = None
        self.written = 0
        self.lost = 0
        self.outage_s = 600.0  # how long a database outage is waited out before rows are lost

    async def add(self, rec: CallRecord) -> None:
        rec = _storable(rec)
        try:
            self._queue.put_nowait(rec)
        except asyncio.QueueFull:
            self.lost += 1
            log.error("call history queue full: row for %s not written", rec.call_id)
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        """Drain the queue in batches: one transaction for everything waiting (up to
        BATCH rows), so the database's commit cost is paid once per batch, not per call."""
        while not self._queue.empty():
            batch: list[CallRecord] = []
            while not self._queue.empty() and len(batch) < BATCH:
                batch.append(self._queue.get_nowait())
            try:
                await self._write_waiting_out_outages(batch)
                self.written += len(batch)
            except Exception:
                log.exception("could not write a batch of %d call history rows", len(batch))
                for rec in batch:  # one by one, so one bad row does not lose the others
                    try:
                        await self._store.add_call_history(rec)
                        self.written += 1
                    except Exception:
                        self.lost += 1
                        log.exception("could not write call history for %s", rec.call_id)

    async def _write_waiting_out_outages(self, batch: list[CallRecord]) -> None:
        """Write one batch; while the database is unavailable (a locked SQLite file, a
        PostgreSQL restart: `DatabaseUnavailable`) retry with growing pauses for up to
        `outage_s`, so an outage delays rows instead of losing them. Other errors (a bad
        row) go straight to the caller, which then writes the rows one by one."""
        pause, waited = 0.5, 0.0
        while True:
            try:
                await self._store.add_call_history_many(batch)
                return
            except DatabaseUnavailable:
                if waited >= self.outage_s:
                    raise
                log.warning(
                    "database unavailable: %d call history row(s) wait, retry in %.1f s",
                    len(batch),
                    pause,
                )
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 15.0)

    async def close(self) -> None:
        self.outage_s = min(self.outage_s, 10.0)  # stopping: wait out an outage only briefly
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)


def _storable(rec: CallRecord) -> CallRecord:
    """SIP text is decoded with ``surrogateescape`` (bytes that are not UTF-8 survive as lone
    surrogates, sip/message.py); the database takes UTF-8 only, so such a Call-ID or number
    would fail the row and its whole batch. They are stored as ``?``."""
    changes: dict[str, str] = {}
    for name in ("call_id", "caller", "caller_name", "did", "answered_by"):
        value = getattr(rec, name)
        if isinstance(value, str) and not value.isascii():
            fixed = value.encode("utf-8", "replace").decode("utf-8")
            if fixed != value:
                changes[name] = fixed
    return dataclasses.replace(rec, **changes) if changes else rec  # type: ignore[arg-type]


def _client_of(rec: CallRecord) -> str | None:
    """The outside party of a history row (pbx/call/parties.py): the number an outgoing
    call dialled, else the caller (a row from before directions were recorded: the caller)."""
    if rec.direction == "outbound":
        return rec.did
    if rec.direction == "internal":
        return None
    return rec.caller


async def past_calls(store: Store, caller: str, since: dt.datetime) -> list[PastCall]:
    """A client's calls since `since`, for `history_routing` (FlowServices.call_history):
    the calls it made and the calls extensions made to it; `answered_by` is the extension
    that last talked to it (after transfers)."""
    records = await store.list_call_history(number=caller, since=since, limit=500)
    out: list[PastCall] = []
    for rec in records:
        if _client_of(rec) != caller:
            continue  # the number filter also matches the company's own numbers
        talk = 0.0
        for entry in rec.trace:
            facts = entry.get("facts") or {}
            value = facts.get("talk_s") if isinstance(facts, dict) else None
            if isinstance(value, int | float):
                talk += float(value)
        if not talk and rec.answered_at and rec.ended_at and rec.answered_by:
            talk = (rec.ended_at - rec.answered_at).total_seconds()
        out.append(PastCall(started_at=rec.started_at, answered_by=rec.answered_by, talk_s=talk))
    return out
