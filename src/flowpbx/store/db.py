"""Database access: engines, migrations, and `Store`, the one object the rest of flowpbx uses.

`app.py` builds one `Store(url, data_dir)` and hands it to `pbx/` (runtime configuration,
registrations, call history) and `api/`. `api/` opens `sessions()` / `transaction()` and
calls the repositories of `store/repos/` itself; the methods below are the port of the
runtime (pbx/, services/, the command line), adding the live events and files that go with
its writes. Every `Store` method is one short transaction on the async engine (aiosqlite
for SQLite, asyncpg for PostgreSQL), so nothing blocks the event loop. Schema changes only
ever come from the Alembic migrations shipped in `flowpbx/store/migrations` (`upgrade(url)`,
`flowpbx db upgrade`).

Errors: see `flowpbx.store.errors` (StoreError → SchemaError, NotFoundError, ...).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from flowpbx.media.audiofile import BUILTIN_SAMPLES, builtin_sample_path
from flowpbx.store.errors import SchemaError
from flowpbx.store.records import (
    CallRecord,
    EmailRec,
    ExtensionRec,
    PublishedFlow,
    RegistrationRec,
    RuntimeConfig,
    UserRec,
    VoicemailRec,
)
from flowpbx.store.repos import audio as audio_repo
from flowpbx.store.repos import extensions as extensions_repo
from flowpbx.store.repos import flows as flows_repo
from flowpbx.store.repos import history as history_repo
from flowpbx.store.repos import numbers as numbers_repo
from flowpbx.store.repos import outbox as outbox_repo
from flowpbx.store.repos import queues as queues_repo
from flowpbx.store.repos import registrations as registrations_repo
from flowpbx.store.repos import schedules as schedules_repo
from flowpbx.store.repos import settings as settings_repo
from flowpbx.store.repos import trunks as trunks_repo
from flowpbx.store.repos import users as users_repo
from flowpbx.store.repos import voicemail as voicemail_repo

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


DIR_MODE = 0o700  # the data directory: the database, recordings and voicemail live here
FILE_MODE = 0o600  # the SQLite database (its -wal and -shm files take the same mode)


def create_private_file(path: Path) -> None:
    """Create `path` (and its missing parent directories) readable by this user only;
    an existing file is left as it is."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def create_engine(url: str) -> AsyncEngine:
    """An async engine for `url`; SQLite gets foreign keys on and a busy timeout. A new
    SQLite database file is created 0600 in a 0700 directory (it holds password hashes,
    trunk passwords and voicemail PINs)."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            create_private_file(Path(database))
        engine = _create_async_engine(url, connect_args={"timeout": 15})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return _create_async_engine(url, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to the newest schema (`alembic upgrade head`).

    `revision` stops at an older one (tests build old databases with it).
    """
    cfg = _alembic_config(url)
    engine = create_engine(url)

    def _run(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    def _get(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_get)


class Store:
    """The database of one flowpbx installation, as the runtime and the API see it."""

    def __init__(self, url: str, data_dir: Path, *, sip_realm: str = "flowpbx") -> None:
        self.url = url
        self.data_dir = Path(data_dir).resolve()
        self.sip_realm = sip_realm
        self.engine = create_engine(url)
        self.sessions = session_factory(self.engine)
        # Where live events go (set by the API: `flowpbx.api.events`); writes that the UI
        # shows live — registrations, finished calls, voicemail, queue exits — emit one.
        self.event_sink: Callable[[dict[str, Any]], None] | None = None

    def emit(self, event: dict[str, Any]) -> None:
        """Hand an event to the sink; an event must never break the write that caused it."""
        sink = self.event_sink
        if sink is None:
            return
        try:
            sink(event)
        except Exception:  # a broken subscriber must not fail a registration or a call
            logging.getLogger("flowpbx.store").exception("event sink failed")

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on error."""
        async with self.sessions() as s, s.begin():
            yield s

    async def check_schema(self) -> None:
        """Raise SchemaError unless the database is migrated to the head revision."""
        try:
            current = await current_revision(self.engine)
        except (DBAPIError, OSError) as exc:
            raise SchemaError(f"cannot open database: {exc.__class__.__name__}: {exc}") from exc
        head = head_revision()
        if current is None:
            raise SchemaError("database is empty: run `flowpbx db upgrade` first")
        if current != head:
            raise SchemaError(
                f"database schema is at {current}, expected {head}: run `flowpbx db upgrade`"
            )

    # ----------------------------------------------------------------- runtime

    async def load_runtime_config(self) -> RuntimeConfig:
        async with self.sessions() as s:
            extensions = await extensions_repo.list_extensions(s)
            trunks = await trunks_repo.list_trunks(s)
            numbers = await numbers_repo.list_numbers(s)
            mailboxes = await voicemail_repo.list_mailboxes(s)
            schedules = await schedules_repo.list_schedules(s)
            published = await flows_repo.list_published(s)
            audio_rows = await audio_repo.list_audio_rows(s)
        flows_by_did: dict[str, PublishedFlow] = {}
        for flow in published:
            for did in flows_repo.flow_dids(flow.document):
                flows_by_did.setdefault(did, flow)
        audio = builtin_audio()
        for row in audio_rows:
            if row.builtin and row.name in audio:
                continue
            audio[row.name] = audio_repo.audio_path(row, self.data_dir)
        return RuntimeConfig(
            extensions={e.number: e for e in extensions},
            trunks=trunks,
            numbers={n.number: n for n in numbers},
            flows_by_did=flows_by_did,
            audio=audio,
            mailboxes={mb.number: mb for mb in mailboxes},
            schedules={sc.name: sc for sc in schedules},
        )

    async def add_call_history(self, rec: CallRecord) -> int:
        return (await self.add_call_history_many([rec]))[0]

    async def add_call_history_many(self, records: Sequence[CallRecord]) -> list[int]:
        """Several rows in one transaction (the runtime batches them: one commit, not one
        per call, keeps history writes far below the call rate's cost)."""
        async with self.transaction() as s:
            pks = await history_repo.add_call_history_many(s, records)
        for rec, pk in zip(records, pks, strict=True):
            self.emit(
                {
                    "type": "call.ended",
                    "id": rec.call_id,
                    "history_id": pk,
                    "caller": rec.caller,
                    "did": rec.did,
                    "flow": rec.flow,
                    "answered_by": rec.answered_by,
                    "outcome": rec.outcome,
                }
            )
        return pks

    async def close_interrupted_calls(self) -> int:
        """At start-up: calls a crash cut (rows still in progress) end as `interrupted`."""
        async with self.transaction() as s:
            return await history_repo.close_interrupted_calls(s, dt.datetime.now(dt.UTC))

    async def list_call_history(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        number: str | None = None,
        extension: str | None = None,
        outcome: str | None = None,
        direction: str | None = None,
    ) -> list[CallRecord]:
        async with self.sessions() as s:
            return await history_repo.list_call_history(
                s,
                limit=limit,
                offset=offset,
                since=since,
                until=until,
                number=number,
                extension=extension,
                outcome=outcome,
                direction=direction,
            )

    async def get_call_history(self, call_pk: int) -> CallRecord | None:
        async with self.sessions() as s:
            return await history_repo.get_call_history(s, call_pk)

    async def save_registration(self, reg: RegistrationRec) -> None:
        async with self.transaction() as s:
            await registrations_repo.save_registration(s, reg)
        self.emit(
            {
                "type": "registration",
                "extension": reg.extension,
                "contact": reg.contact,
                "registered": True,
                "expires_at": reg.expires_at.isoformat(),
            }
        )

    async def delete_registration(self, extension: str, contact: str) -> None:
        async with self.transaction() as s:
            await registrations_repo.delete_registration(s, extension, contact)
        self.emit(
            {
                "type": "registration",
                "extension": extension,
                "contact": contact,
                "registered": False,
            }
        )

    async def load_registrations(
        self, *, extension: str | None = None, now: dt.datetime | None = None
    ) -> list[RegistrationRec]:
        """Unexpired bindings (all, or those of one extension)."""
        async with self.sessions() as s:
            return await registrations_repo.load_registrations(s, now or _utcnow(), extension)

    async def purge_registrations(self, now: dt.datetime | None = None) -> None:
        async with self.transaction() as s:
            await registrations_repo.purge_registrations(s, now or _utcnow())

    # ----------------------------------------------------------------- directory

    async def list_extensions(self) -> list[ExtensionRec]:
        async with self.sessions() as s:
            return await extensions_repo.list_extensions(s)

    async def get_extension(self, number: str) -> ExtensionRec | None:
        async with self.sessions() as s:
            return await extensions_repo.get_extension(s, number)

    async def upsert_extension(
        self,
        *,
        number: str,
        name: str,
        password: str | None = None,
        supervisor: bool = False,
        outbound: bool = False,
        caller_id: str | None = None,
        mailbox: str | None = None,
        allowed_cidrs: tuple[str, ...] | list[str] = (),
        call_waiting: bool = True,
        media_encryption: str = "none",
    ) -> bool:
        async with self.transaction() as s:
            return await extensions_repo.upsert_extension(
                s,
                number=number,
                name=name,
                realm=self.sip_realm,
                password=password,
                supervisor=supervisor,
                outbound=outbound,
                caller_id=caller_id,
                mailbox=mailbox,
                allowed_cidrs=allowed_cidrs,
                call_waiting=call_waiting,
                media_encryption=media_encryption,
            )

    # ----------------------------------------------------------------- users

    async def create_user(
        self, username: str, password: str, role: str, *, replace: bool = False
    ) -> UserRec:
        async with self.transaction() as s:
            return await users_repo.create_user(s, username, password, role, replace=replace)

    async def authenticate(self, username: str, password: str) -> UserRec | None:
        async with self.sessions() as s:
            return await users_repo.authenticate(s, username, password)

    async def issue_token(self, user_id: int, *, kind: str = "session") -> str:
        async with self.transaction() as s:
            return await users_repo.issue_token(s, user_id, _utcnow(), kind=kind)

    async def user_for_token(self, token: str) -> UserRec | None:
        async with self.sessions() as s:
            return await users_repo.user_for_token(s, token, _utcnow())

    async def revoke_token(self, token: str) -> None:
        async with self.transaction() as s:
            await users_repo.revoke_token(s, token)

    # ----------------------------------------------------------------- email outbox

    async def enqueue_email(
        self,
        to: str | Sequence[str],
        subject: str,
        body: str,
        attachments: Sequence[tuple[str, str | Path]] = (),
    ) -> int:
        """Put an email in the outbox, due at once; returns its id (services/mail sends it)."""
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients:
            raise ValueError("an email needs at least one recipient")
        async with self.transaction() as s:
            return await outbox_repo.enqueue_email(
                s,
                to=recipients,
                subject=subject,
                body=body,
                attachments=attachments,
                now=_utcnow(),
            )

    async def due_emails(self, now: dt.datetime | None = None, limit: int = 20) -> list[EmailRec]:
        """Pending emails whose next attempt is due at `now`, oldest first."""
        async with self.sessions() as s:
            return await outbox_repo.due_emails(s, now or _utcnow(), limit)

    async def get_email(self, email_id: int) -> EmailRec | None:
        async with self.sessions() as s:
            return await outbox_repo.get_email(s, email_id)

    async def mark_sent(self, email_id: int) -> None:
        async with self.transaction() as s:
            await outbox_repo.mark_sent(s, email_id, _utcnow())

    async def mark_failed(self, email_id: int, error: str, retry_at: dt.datetime | None) -> None:
        """Record a failed attempt: retried at `retry_at`, or given up when it is None."""
        async with self.transaction() as s:
            await outbox_repo.mark_failed(s, email_id, error, retry_at)

    # ----------------------------------------------------------------- voicemail

    async def add_voicemail(
        self,
        *,
        mailbox: str,
        file: str,
        caller: str = "",
        caller_name: str | None = None,
        call_id: str | None = None,
        duration_s: float = 0.0,
        received_at: dt.datetime | None = None,
    ) -> int:
        """Record a message already written (atomically) at data_dir/`file`; returns its id."""
        async with self.transaction() as s:
            mid = await voicemail_repo.add_voicemail(
                s,
                mailbox=mailbox,
                file=file,
                caller=caller,
                caller_name=caller_name,
                call_id=call_id,
                duration_s=duration_s,
                received_at=received_at or _utcnow(),
            )
        self.emit({"type": "voicemail", "mailbox": mailbox, "id": mid, "caller": caller})
        return mid

    async def list_voicemail(self, mailbox: str) -> list[VoicemailRec]:
        async with self.sessions() as s:
            return await voicemail_repo.list_voicemail(s, mailbox)

    async def get_voicemail(self, message_id: int) -> VoicemailRec | None:
        async with self.sessions() as s:
            return await voicemail_repo.get_voicemail(s, message_id)

    async def mark_heard(self, message_id: int, heard: bool = True) -> VoicemailRec:
        async with self.transaction() as s:
            return await voicemail_repo.mark_heard(s, message_id, heard)

    async def delete_voicemail(self, message_id: int) -> None:
        """Delete the row and its file."""
        async with self.transaction() as s:
            rec = await voicemail_repo.delete_voicemail(s, message_id)
        (self.data_dir / rec.file).unlink(missing_ok=True)

    # ----------------------------------------------------------------- queues

    async def record_queue_call(
        self,
        *,
        queue: str,
        call_id: str,
        caller: str,
        joined_at: dt.datetime,
        wait_s: float,
        result: str,
        member: str | None = None,
        talk_s: float = 0.0,
    ) -> None:
        """One caller left a queue (answered, timeout, full, empty, exit or hangup)."""
        async with self.transaction() as s:
            await queues_repo.record_queue_call(
                s,
                queue=queue,
                call_id=call_id,
                caller=caller,
                joined_at=joined_at,
                wait_s=wait_s,
                result=result,
                member=member,
                talk_s=talk_s,
            )
        self.emit(
            {"type": "queue", "queue": queue, "call_id": call_id, "result": result,
             "wait_s": wait_s, "member": member}
        )  # fmt: skip

    async def queue_member_stats(
        self, queue: str | None, since: dt.datetime
    ) -> dict[str, dict[str, Any]]:
        """extension -> {answered, talk_s, last_call_at} since `since` (all queues if None)."""
        async with self.sessions() as s:
            return await queues_repo.queue_member_stats(s, queue, since)

    # ----------------------------------------------------------------- recordings

    async def set_call_recording(self, call_id: str, file: str) -> None:
        """Attach a recording (relative to data_dir) to the history row(s) of `call_id`."""
        async with self.transaction() as s:
            await history_repo.set_call_recording(s, call_id, file)

    # ----------------------------------------------------------------- retention

    def _unlink_data_files(self, files: Sequence[str]) -> int:
        """Delete files (relative to data_dir, never outside it); how many were there."""
        gone = 0
        for rel in files:
            path = (self.data_dir / rel).resolve()
            if not path.is_relative_to(self.data_dir):
                logging.getLogger("flowpbx.store").warning("not deleting %s: outside data", rel)
                continue
            try:
                path.unlink()
                gone += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                logging.getLogger("flowpbx.store").warning("could not delete %s: %s", rel, exc)
        return gone

    async def purge_calls(self, before: dt.datetime, *, batch: int = 500) -> tuple[int, int]:
        """Delete the history rows of calls started before `before`, then their recordings:
        each batch's rows are committed gone before its files are deleted, so no row ever
        points at a missing file (a crash between the two leaves only files past retention).
        Returns (rows, recording files) deleted."""
        rows = files = 0
        while True:
            async with self.transaction() as s:
                expired = await history_repo.expired_calls(s, before, limit=batch)
                rows += await history_repo.delete_calls(s, [pk for pk, _f in expired])
            recordings = [f for _pk, f in expired if f]
            if recordings:
                files += await asyncio.to_thread(self._unlink_data_files, recordings)
            if len(expired) < batch:
                return rows, files

    async def purge_voicemail(
        self, before: dt.datetime, *, batch: int = 500
    ) -> tuple[int, int, set[str]]:
        """Delete voicemail messages received before `before`, rows first, then their files
        (as `purge_calls`). Returns (messages, files, mailboxes that lost messages)."""
        rows = files = 0
        boxes: set[str] = set()
        while True:
            async with self.transaction() as s:
                expired = await voicemail_repo.expired_voicemail(s, before, limit=batch)
                rows += await voicemail_repo.delete_voicemail_rows(s, [pk for pk, *_ in expired])
            boxes.update(mb for _pk, _f, mb in expired)
            names = [f for _pk, f, _mb in expired if f]
            if names:
                files += await asyncio.to_thread(self._unlink_data_files, names)
            if len(expired) < batch:
                return rows, files, boxes

    def _old_files(self, folder: str, before: dt.datetime) -> list[str]:
        """Files under data_dir/`folder` last written before `before` (relative paths)."""
        root = self.data_dir / folder
        if not root.is_dir():
            return []
        limit = before.timestamp()
        out: list[str] = []
        for path in root.rglob("*"):
            try:
                if path.is_file() and path.stat().st_mtime < limit:
                    out.append(path.relative_to(self.data_dir).as_posix())
            except OSError:
                continue
        return out

    async def sweep_voicemail_files(self, before: dt.datetime) -> int:
        """Delete message files under data_dir/voicemail written before `before` that no
        message names: what a crash left between a purge's commit and its file deletion.
        A message being recorded now (its file written, its row not yet) is never that old."""
        candidates = await asyncio.to_thread(self._old_files, "voicemail", before)
        if not candidates:
            return 0
        async with self.sessions() as s:
            named = await voicemail_repo.referenced_files(s, candidates)
        orphans = [f for f in candidates if f not in named]
        return await asyncio.to_thread(self._unlink_data_files, orphans) if orphans else 0

    # ----------------------------------------------------------------- settings

    async def get_setting(self, key: str, default: Any = None) -> Any:
        async with self.sessions() as s:
            return await settings_repo.get_setting(s, key, default)

    async def set_setting(self, key: str, value: Any) -> None:
        async with self.transaction() as s:
            await settings_repo.set_setting(s, key, value)


def builtin_audio() -> dict[str, Path]:
    """name -> absolute path of every built-in sample that ships with the package."""
    return {name: Path(builtin_sample_path(name)).resolve() for name in BUILTIN_SAMPLES}
