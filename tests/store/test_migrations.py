from __future__ import annotations

import datetime as dt
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
    "voicemail_messages", "queues", "queue_calls", "email_outbox", "audit_log",
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
    assert head_revision() == "0007_history_direction"


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


async def test_upgrade_from_0001_with_data_keeps_every_row(db_url: str, tmp_path: Path) -> None:
    """A database created by migration 0001 and filled with data upgrades to head intact."""
    from sqlalchemy import text

    await upgrade(db_url, "0001")
    engine = create_engine(db_url)
    stamp = dt.datetime(2026, 5, 4, 10, 0)  # naive UTC, as 0001 stores it
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO extensions (number, name, ha1_md5, ha1_sha256, supervisor, "
                    "outbound, caller_id, mailbox, created_at, updated_at) VALUES ('101', "
                    "'Alice', :md5, :sha, true, false, NULL, '100', :t, :t)"
                ),
                {"md5": "a" * 32, "sha": "b" * 64, "t": stamp},
            )
            await conn.execute(
                text(
                    "INSERT INTO mailboxes (number, name, pin, email) "
                    "VALUES ('100', 'Main', '1234', '[\"boss@example.com\"]')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO trunks (name, host, port, transport, register, trusted, "
                    "created_at, updated_at) VALUES ('provider', '127.0.0.1', 5070, 'udp', "
                    "false, false, :t, :t)"
                ),
                {"t": stamp},
            )
            await conn.execute(
                text(
                    "INSERT INTO numbers (number, trunk, position) "
                    "VALUES ('+37167000001', 'provider', 1)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO call_history (call_id, started_at, caller, outcome, trace) "
                    "VALUES ('c-1', :t, '+3712', 'answered', '[{\"node\": \"start\"}]')"
                ),
                {"t": stamp},
            )
            await conn.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, created_at) "
                    "VALUES ('admin', 'x', 'admin', :t)"
                ),
                {"t": stamp},
            )
            await conn.execute(
                text(
                    "INSERT INTO auth_tokens (token_sha256, user_id, kind, created_at) "
                    "VALUES (:h, 1, 'api', :t)"
                ),
                {"h": "c" * 64, "t": stamp},
            )
    finally:
        await engine.dispose()

    await upgrade(db_url)
    store = Store(db_url, tmp_path)
    try:
        await store.check_schema()
        ext = await store.get_extension("101")
        assert ext is not None and ext.name == "Alice" and ext.supervisor and ext.mailbox == "100"
        cfg = await store.load_runtime_config()
        assert cfg.mailboxes["100"].email == ("boss@example.com",)
        assert cfg.caller_id_list == ["+37167000001"]
        assert [t.name for t in cfg.trunks] == ["provider"]
        calls = await store.list_call_history()
        assert [(c.call_id, c.trace) for c in calls] == [("c-1", [{"node": "start"}])]
        # the new tables work on the upgraded database
        mid = await store.add_voicemail(mailbox="100", file="vm.wav", caller="+3712")
        assert [m.id for m in await store.list_voicemail("100")] == [mid]
        eid = await store.enqueue_email("boss@example.com", "s", "b")
        assert (await store.get_email(eid)) is not None
        await store.set_call_recording("c-1", "rec/c-1.wav")
    finally:
        await store.close()
