"""Installation settings (table ``settings``): JSON values by key, written from the
Settings page (time zone, session limits, private webhooks, mail)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m


async def get_setting(s: AsyncSession, key: str, default: Any = None) -> Any:
    row = await s.get(m.Setting, key)
    return default if row is None else row.value


async def set_setting(s: AsyncSession, key: str, value: Any) -> None:
    row = await s.get(m.Setting, key)
    if row is None:
        s.add(m.Setting(key=key, value=value))
    else:
        row.value = value
