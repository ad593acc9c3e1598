"""The daily retention purge (the Settings page's ``history_retention_days`` and
``voicemail_retention_days``).

Once shortly after start (Settings.retention_first_run_s, FLOWPBX_RETENTION_FIRST_RUN_S) and
then every day, `RetentionPurge` deletes the call-history rows of calls that started more
than ``history_retention_days`` ago with their recordings, and the voicemail messages
received more than ``voicemail_retention_days`` ago with their files (0: voicemail is kept
for ever). Rows go first, in committed batches, then their files (`Store.purge_calls`): a
crash midway never leaves a row pointing at a missing file, and nothing still in retention
is touched. Message files a crash left without their row are swept by a later purge once
they are past retention themselves. Every purge that deleted something is written to the
audit log (actor ``retention``, entity ``call_history`` / ``voicemail``) with its counts.

The clock is injectable (`clock`), so tests can move "now" instead of waiting days.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flowpbx.store import audit

if TYPE_CHECKING:
    from flowpbx.store.db import Store

__all__ = [
    "DEFAULT_HISTORY_DAYS",
    "DEFAULT_VOICEMAIL_DAYS",
    "PURGE_INTERVAL_S",
    "PurgeResult",
    "RetentionPurge",
]

log = logging.getLogger("flowpbx.services.retention")

DEFAULT_HISTORY_DAYS = 365
DEFAULT_VOICEMAIL_DAYS = 0  # keep for ever
PURGE_INTERVAL_S = 86_400.0
ACTOR = "retention"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class PurgeResult:
    """What one purge deleted."""

    at: dt.datetime
    history_days: int
    voicemail_days: int
    calls: int = 0
    recordings: int = 0
    voicemail: int = 0
    voicemail_files: int = 0
    orphan_files: int = 0  # message files no row names (a crash midway through a purge)
    mailboxes: set[str] = field(default_factory=set)


def _days(value: object, default: int) -> int:
    """A stored day count, or the default when it is missing or not a count."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return default
    return value


class RetentionPurge:
    """Runs `purge` on a timer: first after `first_delay_s`, then every `interval_s`."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        first_delay_s: float = 60.0,
        interval_s: float = PURGE_INTERVAL_S,
        on_voicemail_purged: Callable[[set[str]], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.first_delay_s = first_delay_s
        self.interval_s = interval_s
        self.on_voicemail_purged = on_voicemail_purged
        self.runs = 0
        self.last: PurgeResult | None = None
        self._task: asyncio.Task[None] | None = None

    async def purge(self) -> PurgeResult:
        """One purge at `clock()`: history, then voicemail; each audited when it deleted."""
        now = self.clock()
        history_days = _days(
            await self.store.get_setting("history_retention_days"), DEFAULT_HISTORY_DAYS
        )
        if history_days == 0:  # the API allows 1.., a stored 0 would wipe everything
            history_days = DEFAULT_HISTORY_DAYS
        voicemail_days = _days(
            await self.store.get_setting("voicemail_retention_days"), DEFAULT_VOICEMAIL_DAYS
        )
        result = PurgeResult(at=now, history_days=history_days, voicemail_days=voicemail_days)
        before = now - dt.timedelta(days=history_days)
        result.calls, result.recordings = await self.store.purge_calls(before)
        if result.calls:
            await audit.record_change(
                self.store,
                actor=ACTOR,
                action="purge",
                entity="call_history",
                details={
                    "retention_days": history_days,
                    "before": before.isoformat(),
                    "calls": result.calls,
                    "recordings": result.recordings,
                },
            )
        if voicemail_days > 0:
            before = now - dt.timedelta(days=voicemail_days)
            (
                result.voicemail,
                result.voicemail_files,
                result.mailboxes,
            ) = await self.store.purge_voicemail(before)
            result.orphan_files = await self.store.sweep_voicemail_files(before)
            if result.voicemail or result.orphan_files:
                await audit.record_change(
                    self.store,
                    actor=ACTOR,
                    action="purge",
                    entity="voicemail",
                    details={
                        "retention_days": voicemail_days,
                        "before": before.isoformat(),
                        "messages": result.voicemail,
                        "files": result.voicemail_files,
                        "orphan_files": result.orphan_files,
                        "mailboxes": sorted(result.mailboxes),
                    },
                )
            if result.mailboxes and self.on_voicemail_purged is not None:
                await self.on_voicemail_purged(result.mailboxes)
        self.runs += 1
        self.last = result
        if result.calls or result.voicemail:
            log.info(
                "retention purge: %d call(s), %d recording(s), %d voicemail message(s)",
                result.calls,
                result.recordings,
                result.voicemail,
            )
        return result

    async def _run(self) -> None:
        delay = self.first_delay_s
        while True:
            await asyncio.sleep(delay)
            delay = self.interval_s
            try:
                await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed purge is retried tomorrow; nothing was half-deleted
                log.exception("retention purge failed")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="retention-purge")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
