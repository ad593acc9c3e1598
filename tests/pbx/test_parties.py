"""The one model of a call's parties (pbx/call/parties.py) and history routing on it
(pbx/history.py `past_calls`): who is agent and client by leg origin, on incoming,
outgoing and internal calls, before and after a transfer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from flowpbx.pbx.call.parties import Direction, Parties, parties_of
from flowpbx.pbx.history import past_calls
from flowpbx.store.db import Store
from flowpbx.store.records import CallRecord
from tests.store.dbfixtures import db_url, migrated_db_url, migrated_templates

__all__ = ["db_url", "migrated_db_url", "migrated_templates"]  # fixtures of the store tests

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
CLIENT = "+37129990001"
COMPANY = "+37167000001"


@dataclasses.dataclass
class Call:
    direction: Direction
    caller: str
    did: str
    caller_ext: str | None = None
    dialled: str | None = None
    answered_by: str | None = None
    transferred_to: str | None = None


def test_incoming_call_client_is_the_caller_agent_who_answered_then_the_target() -> None:
    call = Call("inbound", caller=CLIENT, did=COMPANY, answered_by="101")
    assert parties_of(call) == Parties(
        direction="inbound", extension=None, presented=CLIENT, dialled=COMPANY, client=CLIENT,
        agent="101",
    )  # fmt: skip
    call.transferred_to = "102"
    assert parties_of(call).agent == "102"


def test_outgoing_call_agent_is_the_dialling_extension_client_the_number_dialled() -> None:
    call = Call("outbound", caller=COMPANY, did=COMPANY, caller_ext="101", dialled=CLIENT)
    ringing = parties_of(call)
    assert (ringing.extension, ringing.client, ringing.dialled) == ("101", CLIENT, CLIENT)
    assert ringing.presented == COMPANY and ringing.agent is None  # nobody talked yet
    call.answered_by = CLIENT  # the bridge names the number it reached
    assert parties_of(call).agent == "101"
    call.transferred_to = "102"  # *2 102: the client now talks to 102
    assert parties_of(call).agent == "102" and parties_of(call).extension == "101"


def test_internal_call_has_no_client() -> None:
    call = Call("internal", caller="101", did="102", caller_ext="101", answered_by="102")
    got = parties_of(call)
    assert (got.client, got.agent, got.extension) == (None, "102", "101")


async def test_past_calls_of_a_client_include_calls_extensions_made_to_it(
    migrated_db_url: str, tmp_path: Path
) -> None:
    store = Store(migrated_db_url, tmp_path / "data", sip_realm="flowpbx")
    try:
        end = dt.timedelta(seconds=60)
        rows = [
            CallRecord(  # 101 phoned the client
                call_id="out", started_at=T0, answered_at=T0, ended_at=T0 + end,
                caller=COMPANY, did=CLIENT, answered_by="101", outcome="answered",
                direction="outbound", extension="101",
            ),
            CallRecord(  # the client called in, 102 answered
                call_id="in", started_at=T0 + end, answered_at=T0 + end, ended_at=T0 + 2 * end,
                caller=CLIENT, did=COMPANY, answered_by="102", outcome="answered",
                direction="inbound",
            ),
            CallRecord(  # another client phoned from the company number: not this client
                call_id="other", started_at=T0, answered_at=T0, ended_at=T0 + end,
                caller=COMPANY, did="+37120000000", answered_by="103", outcome="answered",
                direction="outbound", extension="103",
            ),
            CallRecord(  # an internal call from 104 into the flow of the company number
                call_id="int", started_at=T0, answered_at=T0, ended_at=T0 + end,
                caller="104", did=COMPANY, answered_by="101", outcome="answered",
                direction="internal", extension="104",
            ),
        ]  # fmt: skip
        await store.add_call_history_many(rows)
        got = await past_calls(store, CLIENT, T0 - dt.timedelta(days=1))
        assert sorted((c.answered_by, c.talk_s) for c in got) == [("101", 60.0), ("102", 60.0)]
        assert await past_calls(store, COMPANY, T0 - dt.timedelta(days=1)) == []
    finally:
        await store.close()
