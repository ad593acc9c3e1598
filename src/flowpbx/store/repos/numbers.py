"""Numbers (DIDs, table ``numbers``): which trunk each arrives on and its place in the
caller-ID list (``position``, 1-based, kept without gaps)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.errors import NotFoundError
from flowpbx.store.records import NumberRec
from flowpbx.store.repos.rows import delete_by, update_row


async def list_numbers(s: AsyncSession) -> list[NumberRec]:
    rows = await s.scalars(select(m.Number).order_by(m.Number.position, m.Number.number))
    return [NumberRec(number=r.number, trunk=r.trunk, position=r.position) for r in rows]


async def upsert_number(s: AsyncSession, rec: NumberRec) -> bool:
    row = await s.scalar(select(m.Number).where(m.Number.number == rec.number))
    if row is None:
        s.add(m.Number(number=rec.number, trunk=rec.trunk, position=rec.position))
        return True
    return update_row(row, {"trunk": rec.trunk, "position": rec.position})


async def _in_order(s: AsyncSession) -> list[m.Number]:
    return list(
        (await s.scalars(select(m.Number).order_by(m.Number.position, m.Number.number))).all()
    )


def _renumber(rows: list[m.Number]) -> None:
    """Positions 1, 2, ... in list order (only the rows that move are written)."""
    for pos, row in enumerate(rows, start=1):
        if row.position != pos:
            row.position = pos


async def delete_number(s: AsyncSession, number: str) -> None:
    await delete_by(s, m.Number, m.Number.number, number, "number")
    _renumber(await _in_order(s))


async def move_number(s: AsyncSession, number: str, position: int) -> None:
    """Put `number` at `position` (1-based, clamped) of the caller-ID list."""
    rows = await _in_order(s)
    target = next((r for r in rows if r.number == number), None)
    if target is None:
        raise NotFoundError(f"number {number!r} does not exist")
    rows.remove(target)
    rows.insert(max(0, min(position - 1, len(rows))), target)
    _renumber(rows)
