"""Opening-hours schedules (table ``schedules``), by name."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.records import ScheduleRec
from flowpbx.store.repos.rows import delete_by, update_row


async def list_schedules(s: AsyncSession) -> list[ScheduleRec]:
    rows = await s.scalars(select(m.Schedule).order_by(m.Schedule.name))
    return [
        ScheduleRec(name=r.name, timezone=r.timezone, hours=r.hours, holidays=r.holidays)
        for r in rows
    ]


async def upsert_schedule(s: AsyncSession, rec: ScheduleRec) -> bool:
    row = await s.scalar(select(m.Schedule).where(m.Schedule.name == rec.name))
    values = {"timezone": rec.timezone, "hours": rec.hours, "holidays": rec.holidays}
    if row is None:
        s.add(m.Schedule(name=rec.name, **values))
        return True
    return update_row(row, values)


async def delete_schedule(s: AsyncSession, name: str) -> None:
    await delete_by(s, m.Schedule, m.Schedule.name, name, "schedule")
