"""Two helpers every repository uses: change a row in place, delete one row by its key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store.errors import NotFoundError


def update_row(row: Any, values: dict[str, Any]) -> bool:
    """Set the attributes of `row` that differ from `values`; True if any did."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


async def delete_by(s: AsyncSession, model: Any, column: Any, key: str, what: str) -> None:
    """Delete the row of `model` whose `column` is `key`; NotFoundError if there is none."""
    result = await s.execute(delete(model).where(column == key))
    if not getattr(result, "rowcount", 0):
        raise NotFoundError(f"{what} {key!r} does not exist")
