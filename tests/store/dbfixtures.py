"""Database fixtures shared by the store, API and CLI tests.

`db_url` yields the URL of a fresh, empty database: a SQLite file under tmp_path, and a
PostgreSQL database created for the one test on 127.0.0.1:5432 (user postgres, trust
auth) and dropped afterwards. PostgreSQL tests are skipped, with the reason shown, when
the server cannot be reached.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"

_pg_reason: list[str] = []


async def _pg_admin() -> object:
    import asyncpg

    return await asyncio.wait_for(asyncpg.connect(PG_ADMIN_DSN), timeout=3)


async def pg_available() -> str | None:
    """None when PostgreSQL answers, else why not (remembered for the session)."""
    if _pg_reason:
        return _pg_reason[0] or None
    try:
        conn = await _pg_admin()
        await conn.close()  # type: ignore[attr-defined]
        _pg_reason.append("")
    except Exception as exc:
        _pg_reason.append(f"PostgreSQL at 127.0.0.1:5432 unreachable: {exc!r}")
    return _pg_reason[0] or None


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'flowpbx.db'}"
        return
    reason = await pg_available()
    if reason:
        pytest.skip(reason)
    name = f"flowpbx_test_{uuid.uuid4().hex[:12]}"
    conn = await _pg_admin()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    finally:
        await conn.close()  # type: ignore[attr-defined]
    try:
        yield PG_URL.format(db=name)
    finally:
        conn = await _pg_admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
        finally:
            await conn.close()  # type: ignore[attr-defined]
