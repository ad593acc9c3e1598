from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest

from flowpbx.store.db import Store
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.records import CallRecord, NumberRec, RegistrationRec, TrunkRec
from flowpbx.store.repos import extensions as extensions_repo
from flowpbx.store.repos import flows as flows_repo
from flowpbx.store.repos import numbers as numbers_repo
from flowpbx.store.repos import settings as settings_repo
from flowpbx.store.repos import trunks as trunks_repo

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


async def _directory(store: Store) -> None:
    async with store.transaction() as s:
        await extensions_repo.upsert_extension(
            s,
            number="101",
            name="Alice",
            realm="flowpbx",
            password="s3cret",
            outbound=True,
            caller_id="+3711",
        )
        await trunks_repo.upsert_trunk(
            s, TrunkRec(name="prov", host="10.0.0.1", port=5070, username="acme", password="pw")
        )
        await numbers_repo.upsert_number(
            s, NumberRec(number="+37167000002", trunk="prov", position=2)
        )
        await numbers_repo.upsert_number(
            s, NumberRec(number="+37167000001", trunk="prov", position=1)
        )


async def test_extension_password_is_stored_only_as_ha1(store: Store) -> None:
    await _directory(store)
    ext = await store.get_extension("101")
    assert ext is not None
    a1 = b"101:flowpbx:s3cret"
    assert ext.ha1_md5 == hashlib.md5(a1).hexdigest()
    assert ext.ha1_sha256 == hashlib.sha256(a1).hexdigest()
    assert ext.outbound and not ext.supervisor and ext.caller_id == "+3711"
    # updating without a password keeps the HA1
    changed = await store.upsert_extension(
        number="101", name="Alice B", outbound=True, caller_id="+3711"
    )
    assert changed
    again = await store.get_extension("101")
    assert again is not None and again.name == "Alice B" and again.ha1_md5 == ext.ha1_md5
    assert not await store.upsert_extension(
        number="101", name="Alice B", outbound=True, caller_id="+3711"
    )


async def test_new_extension_without_password_is_refused(store: Store) -> None:
    with pytest.raises(ConflictError, match="needs a password"):
        await store.upsert_extension(number="555", name="Nobody")


async def test_runtime_config_round_trip(store: Store) -> None:
    await _directory(store)
    async with store.transaction() as s:
        doc = {
            "name": "Main",
            "entry": "s",
            "nodes": {"s": {"type": "numbers", "params": {"numbers": ["+37167000001"]}}},
        }
        await flows_repo.save_draft(s, "Main", doc)
        assert await flows_repo.publish_flow(s, "Main", author="t") == 1
    cfg = await store.load_runtime_config()
    assert set(cfg.extensions) == {"101"}
    assert cfg.trunks == [
        TrunkRec(
            name="prov", host="10.0.0.1", port=5070, transport="udp", username="acme", password="pw"
        )
    ]
    assert cfg.caller_id_list == ["+37167000001", "+37167000002"]
    assert cfg.numbers["+37167000002"].trunk == "prov"
    flow = cfg.flows_by_did["+37167000001"]
    assert (flow.flow_name, flow.revision) == ("Main", 1)
    assert flow.document["nodes"]["s"]["params"]["numbers"] == ["+37167000001"]
    assert "+37167000002" not in cfg.flows_by_did


async def test_draft_is_not_live_until_published(store: Store) -> None:
    await _directory(store)
    doc1 = {
        "name": "F",
        "entry": "s",
        "nodes": {"s": {"type": "numbers", "params": {"numbers": ["+37167000001"]}}},
    }
    doc2 = {**doc1, "layout": {"s": {"x": 1, "y": 2}}}
    async with store.transaction() as s:
        await flows_repo.save_draft(s, "F", doc1)
        assert await flows_repo.publish_flow(s, "F", author="a") == 1
        assert await flows_repo.publish_flow(s, "F", author="a") == 1  # unchanged: no revision
        await flows_repo.save_draft(s, "F", doc2)
    cfg = await store.load_runtime_config()
    assert cfg.flows_by_did["+37167000001"].document == doc1
    async with store.transaction() as s:
        assert await flows_repo.publish_flow(s, "F", author="b", message="layout") == 2
        revs = await flows_repo.list_revisions(s, "F")
    assert [(r.number, r.author, r.document) for r in revs] == [(1, "a", doc1), (2, "b", doc2)]
    cfg = await store.load_runtime_config()
    assert cfg.flows_by_did["+37167000001"].revision == 2
    async with store.transaction() as s:
        with pytest.raises(NotFoundError):
            await flows_repo.publish_flow(s, "nope", author="a")


async def test_registrations_upsert_expire_and_delete(store: Store) -> None:
    await _directory(store)
    now = dt.datetime.now(UTC)
    reg = RegistrationRec(
        extension="101",
        contact="sip:101@10.0.0.5:5062",
        source="10.0.0.5:5062",
        transport="udp",
        expires_at=now + dt.timedelta(seconds=3600),
        user_agent="Phone/1",
        call_id="abc",
        cseq=1,
    )
    await store.save_registration(reg)
    refreshed = RegistrationRec(
        extension="101",
        contact=reg.contact,
        source="10.0.0.5:5999",
        transport="udp",
        expires_at=now + dt.timedelta(seconds=600),
        user_agent="Phone/1",
        call_id="abc",
        cseq=2,
    )
    await store.save_registration(refreshed)  # same binding: updated, not duplicated
    old = RegistrationRec(
        extension="101",
        contact="sip:101@10.0.0.9",
        source="10.0.0.9:5060",
        transport="tcp",
        expires_at=now - dt.timedelta(seconds=1),
    )
    await store.save_registration(old)
    loaded = await store.load_registrations()
    assert len(loaded) == 1
    got = loaded[0]
    assert got.source == "10.0.0.5:5999" and got.cseq == 2
    assert got.expires_at.tzinfo is not None
    assert abs((got.expires_at - refreshed.expires_at).total_seconds()) < 1e-3
    assert await store.load_registrations(extension="102") == []
    await store.purge_registrations()
    await store.delete_registration("101", reg.contact)
    assert await store.load_registrations() == []


async def test_call_history_round_trip_and_order(store: Store) -> None:
    trace = [
        {"t": 0.0, "node": "start", "output": "next"},
        {"t": 1.5, "node": "menu", "output": "1", "facts": {"digits": "1"}},
    ]
    first = CallRecord(
        call_id="c1",
        started_at=T0,
        answered_at=T0 + dt.timedelta(seconds=2),
        ended_at=T0 + dt.timedelta(seconds=30),
        caller="+3712999",
        caller_name="Eve",
        did="+37167000001",
        flow="Main",
        revision=3,
        answered_by="101",
        outcome="answered",
        trace=trace,
    )
    pk1 = await store.add_call_history(first)
    pk2 = await store.add_call_history(
        CallRecord(
            call_id="c2", started_at=T0 + dt.timedelta(hours=1), caller="+3713", outcome="no_answer"
        )
    )
    assert pk1 != pk2
    rows = await store.list_call_history()
    assert [r.call_id for r in rows] == ["c2", "c1"]
    got = await store.get_call_history(pk1)
    assert got is not None
    assert got == dataclasses.replace(first, id=pk1)
    assert got.trace == trace and got.started_at == T0 and got.answered_by == "101"
    assert [r.call_id for r in await store.list_call_history(limit=1, offset=1)] == ["c1"]
    assert [r.call_id for r in await store.list_call_history(outcome="answered")] == ["c1"]
    assert [r.call_id for r in await store.list_call_history(number="+37167000001")] == ["c1"]
    assert [r.call_id for r in await store.list_call_history(extension="101")] == ["c1"]
    since = await store.list_call_history(since=T0 + dt.timedelta(minutes=30))
    assert [r.call_id for r in since] == ["c2"]
    assert await store.get_call_history(999999) is None


async def test_users_and_tokens(store: Store) -> None:
    user = await store.create_user("root", "pa55word", "admin")
    assert user.role == "admin"
    with pytest.raises(ConflictError):
        await store.create_user("root", "x", "admin")
    with pytest.raises(ValueError, match="role"):
        await store.create_user("bob", "x", "god")
    assert await store.authenticate("root", "wrong") is None
    assert await store.authenticate("ghost", "pa55word") is None
    ok = await store.authenticate("root", "pa55word")
    assert ok == user
    token = await store.issue_token(user.id)
    assert await store.user_for_token(token) == user
    assert await store.user_for_token(token + "x") is None
    await store.revoke_token(token)
    assert await store.user_for_token(token) is None


async def test_settings_key_value(store: Store) -> None:
    async with store.transaction() as s:
        assert await settings_repo.get_setting(s, "x", 5) == 5
        await settings_repo.set_setting(s, "x", {"a": [1, 2]})
        await settings_repo.set_setting(s, "x", {"a": [3]})
    async with store.sessions() as s:
        assert await settings_repo.get_setting(s, "x") == {"a": [3]}


async def test_history_by_parties_finds_outgoing_and_incoming_calls(store: Store) -> None:
    """An outgoing call's row (number presented as caller, number dialled as did, the dialling
    extension) is found by that extension and by either number, like an incoming row by the
    extension that answered; `direction` narrows; both bulk and single writes keep it."""
    client = "+37129990001"
    inbound = CallRecord(
        call_id="in", started_at=T0, caller=client, did="+37167000001", answered_by="102",
        outcome="answered", direction="inbound",
    )  # fmt: skip
    outbound = CallRecord(
        call_id="out", started_at=T0 + dt.timedelta(minutes=5), caller="+37167000001",
        did=client, answered_by="101", outcome="answered", direction="outbound",
        extension="101",
    )  # fmt: skip
    moved = CallRecord(
        call_id="moved", started_at=T0 + dt.timedelta(minutes=9), caller="+37167000001",
        did="+37120000000", answered_by="103", outcome="answered", direction="outbound",
        extension="101",
    )  # fmt: skip
    await store.add_call_history(inbound)
    await store.add_call_history_many([outbound, moved])

    def ids(rows: list[CallRecord]) -> list[str]:
        return sorted(r.call_id for r in rows)

    assert ids(await store.list_call_history(number=client)) == ["in", "out"]
    assert ids(await store.list_call_history(extension="101")) == ["moved", "out"]
    assert ids(await store.list_call_history(extension="103")) == ["moved"]  # handed on to
    assert ids(await store.list_call_history(extension="102")) == ["in"]
    assert ids(await store.list_call_history(direction="outbound")) == ["moved", "out"]
    (got,) = await store.list_call_history(direction="inbound")
    assert (got.direction, got.extension) == ("inbound", None)
    (got,) = [r for r in await store.list_call_history() if r.call_id == "out"]
    assert (got.direction, got.extension, got.caller, got.did) == (
        "outbound", "101", "+37167000001", client,
    )  # fmt: skip
