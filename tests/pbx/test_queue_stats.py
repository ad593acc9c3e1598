"""Queue member statistics read back from the store (pbx/features/queues.py `_load_stats`), on
SQLite and PostgreSQL: after a restart `fewest_calls` counts today's answered calls and
`least_recent` orders by when each member's last call ENDED (joined + wait + talk), not
when it began."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from types import SimpleNamespace

from flowpbx.flow.queue_policy import pick_members
from flowpbx.pbx.features.queues import QueueManager, QueueSpec
from flowpbx.store.db import Store
from tests.store.dbfixtures import db_url, migrated_db_url, migrated_templates

__all__ = ["db_url", "migrated_db_url", "migrated_templates"]


def _runtime(store: Store) -> SimpleNamespace:
    registrar = SimpleNamespace(bindings=lambda extension: [extension])  # all registered
    return SimpleNamespace(
        store=store, registrar=registrar, busy={}, ringing={}, loop=asyncio.get_running_loop()
    )


async def test_statistics_from_the_store_drive_fewest_calls_and_least_recent(
    migrated_db_url: str, tmp_path: Path
) -> None:
    store = Store(migrated_db_url, tmp_path / "data")
    try:
        # the queue reads back today's calls (local midnight on): right after midnight the
        # calls below are placed a few minutes into today instead of into yesterday
        real_now = dt.datetime.now(dt.UTC)
        midnight = real_now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        now = max(real_now, midnight.astimezone(dt.UTC) + dt.timedelta(seconds=300))
        # 101 joined first but talked long: its call ended 10 s ago; 102's ended 70 s ago
        calls = [
            ("101", 200, 0.0, 190.0, "answered"),
            ("102", 100, 0.0, 30.0, "answered"),
            ("101", 150, 1.0, 0.0, "timeout"),  # not answered: counts for nobody
            ("103", 60, 2.0, 10.0, "answered"),
            ("103", 50, 2.0, 10.0, "answered"),
        ]
        for i, (member, ago, wait, talk, result) in enumerate(calls):
            await store.record_queue_call(
                queue="sales",
                call_id=f"c{i}",
                caller="+37129000001",
                joined_at=now - dt.timedelta(seconds=ago),
                wait_s=wait,
                result=result,
                member=member if result == "answered" else None,
                talk_s=talk,
            )
        await store.record_queue_call(  # another queue's statistics are its own
            queue="other",
            call_id="x",
            caller="+37129000001",
            joined_at=now,
            wait_s=0.0,
            result="answered",
            member="102",
            talk_s=1.0,
        )
        stats = await store.queue_member_stats("sales", now - dt.timedelta(hours=1))
        assert {k: v["answered"] for k, v in stats.items()} == {"101": 1, "102": 1, "103": 2}
        end_101 = stats["101"]["last_call_end"]
        assert abs((end_101 - (now - dt.timedelta(seconds=10))).total_seconds()) < 1
        assert stats["101"]["last_call_at"] < stats["102"]["last_call_at"]

        manager = QueueManager(_runtime(store))  # type: ignore[arg-type]
        q = manager.queue("sales")
        await manager._load_stats(q)
        spec = QueueSpec(name="sales", members=(("101", 0), ("102", 0), ("103", 0)))
        members = manager.member_stats(q, spec)
        assert [m.calls_today for m in members] == [1, 1, 2]
        assert pick_members("fewest_calls", members) == ["101"]  # tie 101/102: list order
        assert pick_members("least_recent", members) == ["102"]  # ended longest ago
        ordered = sorted(members, key=lambda m: m.last_call_end or 0.0)
        assert [m.extension for m in ordered] == ["102", "103", "101"]
    finally:
        await store.close()
