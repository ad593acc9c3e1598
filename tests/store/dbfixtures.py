"""Database fixtures shared by the store, API and CLI tests.

`db_url` yields the URL of a fresh, empty database: a SQLite file under tmp_path, and a
PostgreSQL database created for the one test on 127.0.0.1:5432 (user postgres, trust
auth) and dropped afterwards. PostgreSQL tests are skipped, with the reason shown, when
the server cannot be reached.

`migrated_db_url` is the same, already migrated to head: for SQLite a copy of a file
migrated once per session; for PostgreSQL one database migrated once per session and
emptied (TRUNCATE … RESTART IDENTITY) before each test. Both are much cheaper than
migrating, or creating a database, for every test.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
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


async def _create_pg(name: str, template: str | None = None) -> str:
    conn = await _pg_admin()
    try:
        tmpl = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{tmpl}')  # type: ignore[attr-defined]
    finally:
        await conn.close()  # type: ignore[attr-defined]
    return PG_URL.format(db=name)


async def _drop_pg(name: str) -> None:
    conn = await _pg_admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
    finally:
        await conn.close()  # type: ignore[attr-defined]


class Templates:
    """Migrated template databases, built on first use (in a worker thread: `get` runs its
    own event loop) and dropped at the end of the session."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._factory = tmp_path_factory
        self._made: dict[str, str] = {}

    def get(self, kind: str) -> str:
        from flowpbx.store.db import upgrade

        if kind not in self._made:
            if kind == "sqlite":
                path = self._factory.mktemp("template") / "flowpbx.db"
                asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
                self._made[kind] = str(path)
            else:
                name = f"flowpbx_tmpl_{uuid.uuid4().hex[:12]}"
                url = asyncio.run(_create_pg(name))
                asyncio.run(upgrade(url))
                self._made[kind] = name
        return self._made[kind]

    def close(self) -> None:
        if "postgres" in self._made:
            asyncio.run(_drop_pg(self._made.pop("postgres")))


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    templates = Templates(tmp_path_factory)
    yield templates
    templates.close()


@pytest.fixture(params=BACKENDS)
async def migrated_db_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: Templates
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "data" / "flowpbx.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        template = await asyncio.to_thread(migrated_templates.get, "sqlite")
        shutil.copyfile(template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    reason = await pg_available()
    if reason:
        pytest.skip(reason)
    name = await asyncio.to_thread(migrated_templates.get, "postgres")
    # one migrated database for the session, emptied before each test (much cheaper than
    # creating a database per test)
    conn = await asyncpg.connect(PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}")
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        await conn.execute(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
    finally:
        await conn.close()
    yield PG_URL.format(db=name)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with small parameters in tests (the hash records its own parameters, so
    verification is the real code path); production keeps the library defaults."""
    from argon2 import PasswordHasher

    from flowpbx.store.repos import users as users_repo

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users_repo, "_hasher", cheap)
    monkeypatch.setattr(users_repo, "_DUMMY_HASH", cheap.hash("flowpbx-dummy-password"))
