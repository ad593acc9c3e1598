"""Email outbox, voicemail messages, queue statistics, API tokens (migration 0002 tables)."""

from __future__ import annotations

import datetime as dt

import pytest

from flowpbx.store.db import Store
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.records import MailboxRec, NumberRec, QueueRec, TrunkRec
from flowpbx.store.repos import numbers as numbers_repo
from flowpbx.store.repos import queues as queues_repo
from flowpbx.store.repos import trunks as trunks_repo
from flowpbx.store.repos import users as users_repo
from flowpbx.store.repos import voicemail as voicemail_repo
from flowpbx.store.repos.numbers import upsert_number
from flowpbx.store.repos.trunks import upsert_trunk
from flowpbx.store.repos.voicemail import upsert_mailbox

T0 = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


async def test_outbox_enqueue_due_sent(store: Store) -> None:
    eid = await store.enqueue_email(
        ["boss@example.com", "ops@example.com"],
        "New voicemail",
        "You have a message",
        attachments=[("msg.wav", "/data/voicemail/1.wav")],
    )
    due = await store.due_emails(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert [e.id for e in due] == [eid]
    e = due[0]
    assert e.to == ("boss@example.com", "ops@example.com")
    assert e.subject == "New voicemail" and e.body == "You have a message"
    assert e.attachments == (("msg.wav", "/data/voicemail/1.wav"),)
    assert e.status == "pending" and e.attempts == 0
    await store.mark_sent(eid)
    assert await store.due_emails(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == []
    sent = await store.get_email(eid)
    assert sent is not None and sent.status == "sent" and sent.sent_at is not None
    assert sent.attempts == 1


async def test_outbox_failed_is_retried_later_then_given_up(store: Store) -> None:
    eid = await store.enqueue_email("a@example.com", "s", "b")
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    retry = now + dt.timedelta(minutes=5)
    await store.mark_failed(eid, "connection refused", retry)
    assert await store.due_emails(now) == []  # not yet
    later = await store.due_emails(retry + dt.timedelta(seconds=1))
    assert [e.id for e in later] == [eid]
    assert later[0].attempts == 1 and later[0].last_error == "connection refused"
    await store.mark_failed(eid, "550 no such user", None)
    assert await store.due_emails(retry + dt.timedelta(days=1)) == []
    gone = await store.get_email(eid)
    assert gone is not None and gone.status == "failed" and gone.attempts == 2
    with pytest.raises(NotFoundError):
        await store.mark_sent(9999)
    with pytest.raises(ValueError):
        await store.enqueue_email([], "s", "b")


async def test_due_emails_limit_and_order(store: Store) -> None:
    ids = [await store.enqueue_email("a@example.com", f"s{i}", "b") for i in range(3)]
    due = await store.due_emails(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), limit=2)
    assert [e.id for e in due] == ids[:2]


async def test_voicemail_messages(store: Store) -> None:
    async with store.transaction() as s:
        await upsert_mailbox(s, MailboxRec(number="100", name="Main"))
    store.data_dir.mkdir(parents=True, exist_ok=True)
    (store.data_dir / "vm1.wav").write_bytes(b"RIFF")
    m1 = await store.add_voicemail(
        mailbox="100", file="vm1.wav", caller="+3712", duration_s=3.5, received_at=T0
    )
    m2 = await store.add_voicemail(
        mailbox="100", file="vm2.wav", caller="+3713", received_at=T0 + dt.timedelta(hours=1)
    )
    msgs = await store.list_voicemail("100")
    assert [m.id for m in msgs] == [m2, m1]  # newest first
    assert msgs[1].duration_s == 3.5 and msgs[1].received_at == T0 and not msgs[1].heard
    assert (await store.mark_heard(m1)).heard
    async with store.sessions() as s:
        assert await voicemail_repo.mailbox_counts(s) == {"100": (2, 1)}
    await store.delete_voicemail(m1)
    assert not (store.data_dir / "vm1.wav").exists()
    assert await store.get_voicemail(m1) is None
    with pytest.raises(NotFoundError):
        await store.add_voicemail(mailbox="999", file="x.wav")


async def test_queue_config_and_member_statistics(store: Store) -> None:
    async with store.transaction() as s:
        rec = QueueRec(name="sales", members=[{"extension": "101", "penalty": 0}])
        assert await queues_repo.upsert_queue(s, rec)
        assert not await queues_repo.upsert_queue(s, rec)
    async with store.sessions() as s:
        assert await queues_repo.get_queue(s, "sales") == rec
    for i, (member, result, wait) in enumerate(
        [
            ("101", "answered", 5.0),
            ("101", "answered", 15.0),
            ("102", "answered", 1.0),
            (None, "timeout", 120.0),
        ]
    ):
        await store.record_queue_call(
            queue="sales",
            call_id=f"c{i}",
            caller="+371",
            joined_at=T0 + dt.timedelta(minutes=i),
            wait_s=wait,
            result=result,
            member=member,
            talk_s=30.0 if member else 0.0,
        )
    stats = await store.queue_member_stats("sales", T0)
    assert stats["101"]["answered"] == 2 and stats["101"]["talk_s"] == 60.0
    assert stats["101"]["last_call_at"] == T0 + dt.timedelta(minutes=1)
    assert stats["102"]["answered"] == 1
    assert await store.queue_member_stats("sales", T0 + dt.timedelta(minutes=3)) == {}
    async with store.sessions() as s:
        q = await queues_repo.queue_stats(s, "sales", T0)
    assert q["calls"] == 4 and q["by_result"] == {"answered": 3, "timeout": 1}
    assert q["max_wait_s"] == 120.0 and q["mean_wait_s"] == pytest.approx(35.25)


async def test_api_tokens_named_listed_revoked(store: Store) -> None:
    user = await store.create_user("ann", "ann-password", "admin")
    async with store.transaction() as s:
        rec, token = await users_repo.issue_api_token(s, user.id, "backup script", T0)
    assert (await store.user_for_token(token)) == user
    async with store.sessions() as s:
        assert [t.name for t in await users_repo.list_api_tokens(s, user.id)] == ["backup script"]
    async with store.transaction() as s:
        await users_repo.revoke_api_token(s, user.id, rec.id)
    assert await store.user_for_token(token) is None


async def test_trunk_in_use_and_number_order(store: Store) -> None:
    async with store.transaction() as s:
        await upsert_trunk(s, TrunkRec(name="p", host="127.0.0.1"))
        for i, n in enumerate(["+3711", "+3712", "+3713"], start=1):
            await upsert_number(s, NumberRec(number=n, trunk="p", position=i))
    with pytest.raises(ConflictError, match=r"\+3711"):
        async with store.transaction() as s:
            await trunks_repo.delete_trunk(s, "p")
    async with store.transaction() as s:
        await numbers_repo.move_number(s, "+3713", 1)
    cfg = await store.load_runtime_config()
    assert cfg.caller_id_list == ["+3713", "+3711", "+3712"]
    async with store.transaction() as s:
        await numbers_repo.delete_number(s, "+3711")
    cfg = await store.load_runtime_config()
    assert sorted((n.position, n.number) for n in cfg.numbers.values()) == [
        (1, "+3713"),
        (2, "+3712"),
    ]
