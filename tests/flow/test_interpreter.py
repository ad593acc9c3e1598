"""The interpreter, driven by the simulator (the same run_flow as live calls)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from flowpbx.flow.context import FlowServices
from flowpbx.flow.interpreter import run_flow
from flowpbx.flow.model import ScheduleSpec, load_flow
from flowpbx.flow.schedule import Schedule
from flowpbx.flow.session import DialResult
from flowpbx.flow.simulator import SimulatedSession, simulate
from tests.flow.helpers import CALLER, DID, MONDAY_10, menu_flow


async def sim(doc: dict[str, Any], **kwargs: Any) -> Any:
    kwargs.setdefault("caller", CALLER)
    kwargs.setdefault("did", DID)
    kwargs.setdefault("at", MONDAY_10)
    return await simulate(doc, **kwargs)


def session_for(keys: str = "", **kwargs: Any) -> SimulatedSession:
    return SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10, keys=keys, **kwargs)


def outputs(run: Any) -> list[tuple[str, str | None]]:
    return [(e.node, e.output) for e in run.trace if e.type != "end"]


async def test_digit_1_rings_extension_and_it_answers() -> None:
    run = await sim(menu_flow(), keys="1", answers={"101": "answered"})
    assert outputs(run) == [
        ("start", "next"),
        ("hello", "next"),
        ("menu", "1"),
        ("alice", "answered"),
    ]
    assert run.outcome == "answered"
    assert run.answered_by == "101"
    alice = run.trace[3]
    assert alice.facts["dial"] == "answered" and alice.facts["answered_by"] == "101"
    assert run.trace[-1].type == "end"
    assert run.reason == "output answered of node alice is not connected"
    assert run.path == ["start", "hello", "menu", "alice"]


async def test_unconnected_key_hangs_up_and_trace_says_why() -> None:
    session = session_for("2")
    run = await run_flow(load_flow(menu_flow()), session)
    assert run.outcome == "hangup"
    end = run.trace[-1]
    assert (end.node, end.type, end.output) == ("menu", "end", "2")
    assert end.facts["reason"] == "output 2 of node menu is not connected"
    assert session.hung_up == "output 2 of node menu is not connected"
    assert run.trace[-2].facts["pressed"] == ["2"]


async def test_timeout_after_retries() -> None:
    run = await sim(menu_flow(retries=2, timeout_s=5))
    assert outputs(run) == [
        ("start", "next"),
        ("hello", "next"),
        ("menu", "timeout"),
        ("bye", "next"),
        ("end", None),
    ]
    menu = run.trace[2]
    assert menu.facts["pressed"] == ["-", "-", "-"]
    assert menu.facts["attempts"] == 3
    # greeting 1 s, then 3 x (prompt 1 s + 5 s wait)
    assert menu.t == pytest.approx(1 + 3 * 6)
    assert run.outcome == "hangup"
    assert run.reason == "call finished by 'end' (hangup)"


async def test_invalid_key_retries_with_invalid_prompt() -> None:
    session = session_for("91")
    run = await run_flow(load_flow(menu_flow(invalid_prompt="invalid")), session)
    menu = next(e for e in run.trace if e.node == "menu")
    assert menu.output == "1" and menu.facts["pressed"] == ["9", "1"]
    plays = [detail for _, what, detail in session.events if what == "play"]
    assert plays == ["greeting", "menu", "invalid", "menu"]


async def test_invalid_after_retries_run_out() -> None:
    run = await sim(menu_flow(retries=1), keys="77")
    menu = run.trace[2]
    assert menu.output == "invalid" and menu.facts["pressed"] == ["7", "7"]
    assert outputs(run)[-2:] == [("bye", "next"), ("end", None)]


async def test_scripted_timeout_then_key() -> None:
    run = await sim(menu_flow(), keys="_1", answers={"101": "busy"})
    assert run.trace[2].facts["pressed"] == ["-", "1"]
    assert outputs(run)[-1] == ("alice", "busy")
    assert run.outcome == "hangup" and run.answered_by is None


async def test_barge_in_stops_the_prompt() -> None:
    durations = {"greeting": 4.0, "menu": 30.0}
    session = session_for("1", audio_duration=durations.get)
    run = await run_flow(load_flow(menu_flow()), session)
    menu = run.trace[2]
    assert menu.output == "1"
    # greeting 4 s, key pressed 1 s into the 30 s prompt: the menu decided at 5 s, not 34 s
    assert menu.t == pytest.approx(5.0)
    kinds = [what for _, what, _ in session.events]
    assert kinds[:5] == ["answer", "play", "play", "key", "dial"]


async def test_type_ahead_during_play_is_kept_for_the_menu() -> None:
    doc = menu_flow()
    doc["nodes"]["hello"]["params"]["repeat"] = 2
    session = session_for("")
    session._buffer.append("1")  # pressed before the menu started
    run = await run_flow(load_flow(doc), session)
    assert run.trace[2].output == "1"
    assert run.trace[1].facts["repeat"] == 2


async def test_step_limit_on_loop_of_non_waiting_elements() -> None:
    doc = menu_flow()
    doc["nodes"]["hello"] = {
        "type": "caller_id",
        "params": {"name_prefix": "x"},
        "next": {"next": "tr"},
    }
    doc["nodes"]["tr"] = {
        "type": "time_routing",
        "params": {"override": "open"},
        "next": {"true": "hello", "false": "menu"},
    }
    session = session_for()
    run = await run_flow(load_flow(doc), session)
    assert run.outcome == "step_limit"
    steps = [e for e in run.trace if e.type != "end"]
    assert len(steps) == 50
    assert "50 steps without waiting for the caller" in run.reason
    assert run.trace[-1].facts["reason"] == run.reason
    assert session.hung_up == run.reason


async def test_step_counter_resets_when_the_caller_is_waited_for() -> None:
    doc = menu_flow(retries=0)
    doc["nodes"]["menu"]["next"]["timeout"] = "menu"  # loops forever, but waits each time
    run = await sim(doc, max_duration_s=600)
    assert run.outcome == "caller_hangup"
    assert "after 600 s" in run.reason
    assert len(run.trace) > 60


async def test_caller_hangs_up_mid_menu() -> None:
    session = session_for("h")
    run = await run_flow(load_flow(menu_flow()), session)
    assert run.outcome == "caller_hangup"
    assert run.trace[-2].node == "menu" and run.trace[-2].facts["caller_hangup"]
    assert session.hung_up is None  # nobody to hang up on


class ExplodingSession(SimulatedSession):
    async def dial_extension(self, extension: str, *, ring_timeout_s: float) -> DialResult:
        raise RuntimeError("trunk on fire")


async def test_element_exception_is_recorded_and_call_hung_up() -> None:
    session = ExplodingSession(caller=CALLER, did=DID, at=MONDAY_10, keys="1")
    run = await run_flow(load_flow(menu_flow()), session)
    assert run.outcome == "error"
    assert run.trace[-2].node == "alice"
    assert run.trace[-2].facts["error"] == "RuntimeError: trunk on fire"
    assert "trunk on fire" in run.reason
    assert session.hung_up is not None


async def test_early_media_play() -> None:
    doc = menu_flow()
    doc["nodes"]["hello"]["params"]["answer"] = False
    doc["nodes"]["hello"]["next"] = {"next": "end"}
    session = session_for()
    run = await run_flow(load_flow(doc), session)
    assert run.trace[1].facts["early_media"] is True
    assert not session.answered
    assert [w for _, w, _ in session.events] == ["early_media", "hangup"]


async def test_caller_id_rewrite() -> None:
    doc = menu_flow()
    doc["nodes"]["hello"] = {
        "type": "caller_id",
        "params": {"strip": 3, "prefix": "0", "suffix": "9", "name_prefix": "Sales: "},
        "next": {"next": "end"},
    }
    session = session_for(caller_name="Bob")
    run = await run_flow(load_flow(doc), session)
    assert session.caller == "0299999999"
    assert session.caller_name == "Sales: Bob"
    assert run.trace[1].facts == {"caller": "0299999999", "caller_name": "Sales: Bob"}


def _hook_flow(connected: bool) -> dict[str, Any]:
    doc = menu_flow()
    nxt = {"default": "end"}
    if connected:
        nxt["1"] = "alice"
    doc["nodes"]["hello"] = {
        "type": "http_notify",
        "params": {
            "url": "https://crm.example/hook?from={caller}",
            "body": '{"from": "{caller}", "name": "{caller_name}"}',
        },
        "next": nxt,
    }
    return doc


async def test_http_notify_reply_picks_output() -> None:
    run = await sim(_hook_flow(True), http_replies={"hello": "1\n"}, caller_name='Bo "B"')
    hook = run.trace[1]
    assert hook.output == "1" and hook.facts["status"] == 200
    assert hook.facts["url"] == "https://crm.example/hook?from=%2B37129999999"
    assert run.answered_by == "101"


async def test_http_notify_default_on_timeout_error_and_other_body() -> None:
    for reply in (None, 500, "7"):
        run = await sim(_hook_flow(True), http_replies={"hello": reply})
        assert run.trace[1].output == "default", reply


async def test_http_notify_body_is_json_escaped() -> None:
    seen: list[Any] = []

    async def http(request: Any) -> Any:
        seen.append(request)
        from flowpbx.flow.context import HttpReply

        return HttpReply(status=200, body="")

    session = session_for(caller_name='Bo "B"\n')
    run = await run_flow(load_flow(_hook_flow(False)), session, services=FlowServices(http=http))
    assert run.trace[1].facts["waited"] is False
    # live + nothing connected to 1..5: sent in the background, the flow went on at once
    import asyncio

    await asyncio.sleep(0)
    import json

    assert json.loads(seen[0].body) == {"from": CALLER, "name": 'Bo "B"\n'}
    assert seen[0].headers["Content-Type"] == "application/json"


async def test_email_unanswered_sent_only_when_nobody_answered() -> None:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    doc = menu_flow()
    doc["nodes"]["hello"] = {
        "type": "email",
        "params": {
            "to": ["boss@example.com"],
            "when": "unanswered",
            "subject": "Missed {caller_name}\nfrom {did}",
        },
        "next": {"next": "menu"},
    }
    services = FlowServices(send_email=send)
    run = await run_flow(load_flow(doc), session_for("1"), services=services)
    assert run.outcome == "answered" and sent == []
    evil = session_for("2", caller_name="Eve\r\nBcc: all@example.com")
    run = await run_flow(load_flow(doc), evil, services=services)
    assert run.outcome == "hangup"
    assert len(sent) == 1
    assert sent[0].subject == "Missed Eve Bcc: all@example.com from +37167000001"
    assert run.trace[-1].type == "email" and run.trace[-1].facts["sent"] is True


async def test_direct_dial_from_menu() -> None:
    doc = menu_flow(direct_dial=True)
    run = await sim(doc, keys="102", extensions={"101", "102", "103"})
    menu = run.trace[2]
    assert menu.facts["direct_dial"] == "102" and menu.output is None
    assert run.outcome == "answered" and run.answered_by == "102"
    # a lone "1" that could start an extension is the menu key once no more digits come
    run = await sim(doc, keys="1", extensions={"101", "102", "103"})
    assert run.trace[2].output == "1"


async def test_time_routing_named_and_inline() -> None:
    doc = menu_flow()
    doc["nodes"]["start"]["next"] = {"next": "tr"}
    doc["nodes"]["tr"] = {
        "type": "time_routing",
        "params": {"schedule": "office"},
        "next": {"true": "hello", "false": "bye"},
    }
    office = Schedule.from_spec(
        ScheduleSpec(timezone="Europe/Riga", hours={"mon": [("09:00", "18:00")]})
    )
    run = await sim(doc, schedules={"office": office}, keys="2")
    assert run.trace[1].output == "true"
    assert run.trace[1].facts["local_time"] == "Mon 2026-05-04 13:00 EEST"
    run = await sim(doc, schedules={"office": office}, at=MONDAY_10 + dt.timedelta(hours=6))
    assert run.trace[1].output == "false"
    doc["nodes"]["tr"]["params"] = {"timezone": "UTC", "hours": {"mon": [["09:00", "10:00"]]}}
    assert (await sim(doc, keys="2")).trace[1].output == "false"  # 10:00 is closing time
    doc["nodes"]["tr"]["params"]["override"] = "open"
    assert (await sim(doc, keys="2")).trace[1].output == "true"


class BareSession(SimulatedSession):
    """A session with only the core CallSession: no queues, voicemail or outbound calls."""

    run_queue = None  # type: ignore[assignment]
    leave_voicemail = None  # type: ignore[assignment]
    dial_number = None  # type: ignore[assignment]


async def test_elements_without_session_support_take_fallback_outputs() -> None:
    doc = menu_flow()
    doc["nodes"]["hello"] = {
        "type": "queue",
        "params": {"members": ["101"]},
        "next": {"timeout": "vm"},
    }
    doc["nodes"]["vm"] = {
        "type": "voicemail",
        "params": {"mailbox": "100"},
        "next": {"no_message": "phone"},
    }
    doc["nodes"]["phone"] = {
        "type": "call_phone",
        "params": {"number": "+3712000000"},
        "next": {"failed": "hist"},
    }
    doc["nodes"]["hist"] = {"type": "history_routing", "next": {"not_found": "end"}}
    session = BareSession(caller=CALLER, did=DID, at=MONDAY_10)
    run = await run_flow(load_flow(doc), session)
    assert outputs(run)[1:] == [
        ("hello", "timeout"),
        ("vm", "no_message"),
        ("phone", "failed"),
        ("hist", "not_found"),
        ("end", None),
    ]
    assert all("not yet available on live calls" in str(e.facts["note"]) for e in run.trace[1:5])
    # the queue and voicemail still waited: hold audio, then the greeting
    plays = [d for _, what, d in session.events if what == "play"]
    assert plays == ["hold-music", "voicemail-greeting"]


async def test_caller_lookup_sets_name() -> None:
    doc = menu_flow()
    doc["nodes"]["hello"] = {
        "type": "caller_lookup",
        "params": {"url": "https://crm.example/name/{caller}", "json_field": "contact.name"},
        "next": {"next": "end"},
    }
    url = "https://crm.example/name/%2B37129999999"
    run = await sim(doc, http_replies={url: '{"contact": {"name": "Alice Ltd"}}'})
    assert run.trace[1].facts["caller_name"] == "Alice Ltd"


async def test_trace_serialises() -> None:
    run = await sim(menu_flow(), keys="1")
    data = run.to_dict()
    assert data["outcome"] == "answered"
    assert data["trace"][2] == {
        "t": 2.0,
        "node": "menu",
        "type": "menu",
        "output": "1",
        "facts": {"pressed": ["1"]},
    }


async def test_simulator_rejects_bad_script() -> None:
    with pytest.raises(ValueError, match="keys may only contain"):
        await sim(menu_flow(), keys="1x")
    with pytest.raises(ValueError, match="answer for"):
        await sim(menu_flow(), answers={"101": "maybe"})
