from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from flowpbx.store.db import Store, create_engine, head_revision, upgrade
from flowpbx.store.errors import SchemaError
from flowpbx.store.models import Base

TABLES = {
    "extensions", "registrations", "trunks", "numbers", "mailboxes", "schedules", "flows",
    "flow_revisions", "audio", "call_history", "users", "auth_tokens", "settings",
    "voicemail_messages", "queues", "queue_calls", "email_outbox",
}  # fmt: skip


async def test_upgrade_empty_database_creates_every_table(db_url: str) -> None:
    await upgrade(db_url)
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": False}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert names >= TABLES
    assert "alembic_version" in names
    assert diff == [], "models and the migrations disagree"


async def test_upgrade_is_repeatable_and_reaches_head(db_url: str, tmp_path: Path) -> None:
    await upgrade(db_url)
    await upgrade(db_url)
    store = Store(db_url, tmp_path)
    try:
        await store.check_schema()  # does not raise at head
    finally:
        await store.close()
    assert head_revision() == "0002"


async def test_check_schema_on_empty_database_says_what_to_do(db_url: str, tmp_path: Path) -> None:
    store = Store(db_url, tmp_path)
    try:
        with pytest.raises(SchemaError, match="flowpbx db upgrade"):
            await store.check_schema()
    finally:
        await store.close()


async def test_sqlite_upgrade_creates_the_data_dir(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "flowpbx.db"
    await upgrade(f"sqlite+aiosqlite:///{target}")
    assert target.is_file()
