"""Table-driven tests per element: every output and the edge cases of SPEC §3.

Each row runs a one-element flow ``start (numbers) → x (element under test)`` in the
simulator — the interpreter that runs live calls — with every output of ``x`` connected to
its own ``hangup`` node, and checks the output ``x`` took and its facts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from flowpbx.flow.context import END, FlowContext, FlowServices, PastCall
from flowpbx.flow.elements import ELEMENTS
from flowpbx.flow.interpreter import FlowRun, TraceEntry, run_flow
from flowpbx.flow.model import VoicemailNode, load_flow
from flowpbx.flow.simulator import (
    SimulatedSession,
    _History,
    past_calls,
    simulate,
    simulate_call,
)
from tests.flow.helpers import CALLER, DID, MONDAY_10

_SAFE = {"*": "star", "#": "hash"}


def one_element(
    type_: str, params: dict[str, Any] | None, outputs: list[str], **extra: Any
) -> dict[str, Any]:
    nodes: dict[str, Any] = {
        "start": {"type": "numbers", "params": {"numbers": [DID]}, "next": {"next": "x"}},
        "x": {"type": type_, "next": {}, **extra},
    }
    if params is not None:
        nodes["x"]["params"] = params
    for out in outputs:
        target = f"to_{_SAFE.get(out, out)}"
        nodes["x"]["next"][out] = target
        nodes[target] = {"type": "hangup"}
    return {"name": "Table", "entry": "start", "nodes": nodes}


async def sim(doc: dict[str, Any], **kwargs: Any) -> FlowRun:
    kwargs.setdefault("caller", CALLER)
    kwargs.setdefault("did", DID)
    kwargs.setdefault("at", MONDAY_10)
    return await simulate(doc, **kwargs)


def step(run: FlowRun, node: str = "x") -> TraceEntry:
    return next(e for e in run.trace if e.node == node and e.type != "end")


# ----------------------------------------------------------------------------- menu

MENU_OUTPUTS = ["0", "1", "*", "#", "timeout", "invalid"]


@pytest.mark.parametrize(
    ("keys", "params", "output", "pressed"),
    [
        ("1", {}, "1", ["1"]),
        ("0", {}, "0", ["0"]),
        ("*", {}, "*", ["*"]),
        ("#", {}, "#", ["#"]),
        ("", {"retries": 0}, "timeout", ["-"]),
        ("", {"retries": 2}, "timeout", ["-", "-", "-"]),
        ("9", {"retries": 0}, "invalid", ["9"]),
        ("91", {"retries": 1}, "1", ["9", "1"]),
        ("99", {"retries": 1}, "invalid", ["9", "9"]),
        ("_#", {"retries": 1}, "#", ["-", "#"]),
        ("9_", {"retries": 1}, "timeout", ["9", "-"]),  # the last attempt decides
        ("_9", {"retries": 1}, "invalid", ["-", "9"]),
        ("5*", {"retries": 3}, "*", ["5", "*"]),
        # direct dial on, keys that cannot start an extension are plain menu keys
        ("#", {"direct_dial": True}, "#", ["#"]),
        ("*", {"direct_dial": True}, "*", ["*"]),
        ("0", {"direct_dial": True}, "0", ["0"]),
        ("9", {"direct_dial": True, "retries": 0}, "invalid", ["9"]),
        # "1" could begin 101..103; no more digits (or "#") within 3 s: the key 1
        ("1", {"direct_dial": True}, "1", ["1"]),
        ("1#", {"direct_dial": True}, "1", ["1"]),
        # "10" then "#": not an extension, not a key
        ("10#", {"direct_dial": True, "retries": 0}, "invalid", ["10"]),
        ("15", {"direct_dial": True, "retries": 0}, "invalid", ["15"]),
        # direct dial off: "1" is taken at once, "02" is key 0 (then 2 is typed ahead)
        ("102", {}, "1", ["1"]),
    ],
)
async def test_menu_outputs(
    keys: str, params: dict[str, Any], output: str, pressed: list[str]
) -> None:
    doc = one_element("menu", {"prompt": "menu", "timeout_s": 4} | params, MENU_OUTPUTS)
    run = await sim(doc, keys=keys, extensions={"101", "102", "103"})
    x = step(run)
    assert x.output == output
    assert x.facts["pressed"] == pressed
    assert run.path[-1] == f"to_{_SAFE.get(output, output)}"


@pytest.mark.parametrize(
    ("answer", "outcome", "output", "answered_by"),
    [
        ("answered", "answered", None, "102"),  # the menu finished the call itself
        ("busy", "busy", "invalid", None),
        ("no_answer", "no_answer", "invalid", None),
        ("offline", "offline", "invalid", None),
    ],
)
async def test_menu_direct_dial(
    answer: str, outcome: str, output: str | None, answered_by: str | None
) -> None:
    doc = one_element("menu", {"prompt": "menu", "direct_dial": True, "retries": 0}, MENU_OUTPUTS)
    run = await sim(doc, keys="102", answers={"102": answer}, extensions={"101", "102"})
    x = step(run)
    assert (x.output, x.facts["direct_dial"], x.facts["dial"]) == (output, "102", outcome)
    assert run.answered_by == answered_by


async def test_menu_key_offered_but_not_connected_hangs_up() -> None:
    doc = one_element("menu", {"prompt": "menu", "keys": ["1", "2"]}, ["1"])
    run = await sim(doc, keys="2")
    assert step(run).output == "2"
    assert run.outcome == "hangup" and run.reason == "output 2 of node x is not connected"


async def test_menu_invalid_prompt_between_attempts() -> None:
    doc = one_element("menu", {"prompt": "menu", "invalid_prompt": "oops"}, MENU_OUTPUTS)
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10, keys="7_1")
    await run_flow(load_flow(doc), session)
    plays = [d for _, what, d in session.events if what == "play"]
    assert plays == ["menu", "oops", "menu", "menu"]  # no invalid prompt after a timeout


# ----------------------------------------------------------------------------- HTTP

HOOK = {"url": "https://crm.example/hook?c={caller}"}


@pytest.mark.parametrize(
    ("reply", "output"),
    [
        ("1", "1"),
        ("2", "2"),
        ("5", "5"),
        (" 3 \n", "3"),  # trimmed
        ("\t4\r\n", "4"),
        ("6", "default"),
        ("0", "default"),
        ("12", "default"),
        ("1.0", "default"),
        ("1 2", "default"),
        ("one", "default"),
        ("", "default"),
        (500, "default"),  # an error status, whatever the body
        (404, "default"),
        (204, "default"),
        (None, "default"),  # no reply within timeout_s
    ],
)
async def test_http_reply_mapping(reply: str | int | None, output: str) -> None:
    doc = one_element("http_notify", HOOK, ["1", "2", "3", "4", "5", "default"])
    run = await sim(doc, http_replies={"x": reply})
    x = step(run)
    assert x.output == output
    if reply is None:
        assert "TimeoutError" in str(x.facts["error"])
    else:
        assert x.facts["status"] == (reply if isinstance(reply, int) else 200)


async def test_http_reply_naming_an_unconnected_output_takes_default() -> None:
    doc = one_element("http_notify", HOOK, ["1", "default"])
    assert step(await sim(doc, http_replies={"x": "2"})).output == "default"
    assert step(await sim(doc, http_replies={"x": "1"})).output == "1"


async def test_http_non_200_success_status_still_maps() -> None:
    seen: list[Any] = []

    async def http(request: Any) -> Any:
        from flowpbx.flow.context import HttpReply

        seen.append(request)
        return HttpReply(status=201, body="2\n")

    doc = one_element("http_notify", HOOK | {"method": "PUT"}, ["2", "default"])
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10)
    run = await run_flow(load_flow(doc), session, services=FlowServices(http=http))
    assert step(run).output == "2"
    assert seen[0].method == "PUT" and seen[0].url == "https://crm.example/hook?c=%2B37129999999"


async def test_http_without_client_takes_default() -> None:
    doc = one_element("http_notify", HOOK, ["1", "default"])
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10)
    run = await run_flow(load_flow(doc), session, services=FlowServices())
    assert step(run).output == "default"
    assert "not yet available" in str(step(run).facts["note"])


# ----------------------------------------------------------------------------- email


class _Sent:
    def __init__(self, fail: bool = False) -> None:
        self.messages: list[Any] = []
        self.fail = fail

    async def __call__(self, message: Any) -> None:
        if self.fail:
            raise ConnectionRefusedError("smtp down")
        self.messages.append(message)


def email_flow(when: str, then: dict[str, Any]) -> dict[str, Any]:
    doc = one_element(
        "email", {"to": ["boss@example.com"], "when": when, "subject": "Call {caller}"}, []
    )
    doc["nodes"]["x"]["next"] = {"next": "then"}
    doc["nodes"]["then"] = then
    return doc


RING_101 = {"type": "call_sip", "params": {"extension": "101"}}
MENU = {"type": "menu", "params": {"prompt": "menu", "retries": 0}}
VOICEMAIL = {"type": "voicemail", "params": {"mailbox": "100"}}
HISTORY = {"type": "history_routing"}


@pytest.mark.parametrize(
    ("when", "then", "keys", "answers", "history", "sent", "why"),
    [
        ("now", RING_101, "", {"101": "answered"}, [], 1, "now: sent before anyone answers"),
        ("now", RING_101, "", {"101": "busy"}, [], 1, "now: sent whatever happens"),
        ("unanswered", RING_101, "", {"101": "answered"}, [], 0, "a person answered"),
        ("unanswered", RING_101, "", {"101": "no_answer"}, [], 1, "nobody answered"),
        ("unanswered", RING_101, "", {"101": "offline"}, [], 1, "nobody there"),
        ("unanswered", MENU, "", {}, [], 1, "menu timed out, hung up"),
        ("unanswered", MENU, "h", {}, [], 1, "caller hung up mid-menu"),
        (
            "unanswered",
            MENU | {"params": {"prompt": "menu", "direct_dial": True}},
            "102",
            {"102": "answered"},
            [],
            0,
            "direct dial answered",
        ),
        (
            "unanswered",
            HISTORY,
            "",
            {"102": "answered"},
            [{"answered_by": "102"}],
            0,
            "history routing reached the operator",
        ),
        ("unanswered", VOICEMAIL, "_", {}, [], 1, "silence: no voicemail left"),
        ("unanswered", VOICEMAIL, "", {}, [], 0, "a voicemail was left"),
    ],
)
async def test_email_when(
    when: str,
    then: dict[str, Any],
    keys: str,
    answers: dict[str, str],
    history: list[dict[str, Any]],
    sent: int,
    why: str,
) -> None:
    outbox = _Sent()
    ext = {"101", "102"}
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10, keys=keys, answers=answers)

    services = FlowServices(
        send_email=outbox,
        extensions=lambda: ext,
        call_history=_History(past_calls(history, MONDAY_10)),
    )
    run = await run_flow(load_flow(email_flow(when, then)), session, services=services)
    assert len(outbox.messages) == sent, why
    if sent:
        assert outbox.messages[0].subject == f"Call {CALLER}"
        # `unanswered` mail goes out after the call: its trace entry comes after the end
        if when == "unanswered":
            assert run.trace[-1].type == "email" and run.trace[-2].type == "end"
        else:
            assert step(run).facts["sent"] is True


async def test_email_unanswered_not_sent_when_voicemail_was_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def leave_message(node: VoicemailNode, ctx: FlowContext) -> str:
        ctx.voicemail_left = True
        return "recorded"

    monkeypatch.setitem(ELEMENTS, "voicemail", leave_message)
    outbox = _Sent()
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10)
    doc = email_flow("unanswered", VOICEMAIL)
    await run_flow(load_flow(doc), session, services=FlowServices(send_email=outbox))
    assert outbox.messages == []


async def test_email_send_failure_is_in_the_trace() -> None:
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10)
    doc = email_flow("now", {"type": "hangup"})
    run = await run_flow(load_flow(doc), session, services=FlowServices(send_email=_Sent(True)))
    assert step(run).output == "next"
    assert step(run).facts["error"] == "ConnectionRefusedError: smtp down"
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10)
    run = await run_flow(load_flow(doc), session, services=FlowServices())
    assert "Email is not yet available" in str(step(run).facts["note"])


# ----------------------------------------------------------------------------- history

HIST_OUTPUTS = ["answered", "not_found", "no_answer"]


def past(ext: str | None, days_ago: float, talk_s: float = 60.0) -> dict[str, Any]:
    return {"answered_by": ext, "days_ago": days_ago, "talk_s": talk_s}


@pytest.mark.parametrize(
    ("history", "params", "answers", "output", "operator"),
    [
        ([], {}, {}, "not_found", None),
        ([past("102", 2)], {}, {}, "answered", "102"),
        ([past("101", 5), past("102", 2), past("103", 9)], {}, {}, "answered", "102"),
        ([past("102", 40)], {}, {}, "not_found", None),  # beyond the default 30 days
        ([past("102", 40)], {"lookback_days": 60}, {}, "answered", "102"),
        (
            [past("102", 2, talk_s=5), past("101", 5, talk_s=100)],
            {"min_talk_s": 30},
            {},
            "answered",
            "101",
        ),
        ([past("102", 2, talk_s=5)], {"min_talk_s": 30}, {}, "not_found", None),
        ([past(None, 1)], {}, {}, "not_found", None),  # nobody answered that call
        ([past(None, 1), past("103", 3)], {}, {}, "answered", "103"),
        ([past("102", -1)], {}, {}, "not_found", None),  # "in the future": ignored
        ([past("102", 1)], {}, {"102": "no_answer"}, "no_answer", "102"),
        ([past("102", 1)], {}, {"102": "busy"}, "no_answer", "102"),
        ([past("102", 1)], {}, {"102": "offline"}, "no_answer", "102"),
    ],
)
async def test_history_routing(
    history: list[dict[str, Any]],
    params: dict[str, Any],
    answers: dict[str, str],
    output: str,
    operator: str | None,
) -> None:
    doc = one_element("history_routing", params, HIST_OUTPUTS)
    run = await sim(doc, history=history, answers=answers)
    x = step(run)
    assert x.output == output
    assert x.facts.get("operator") == operator
    assert run.answered_by == (operator if output == "answered" else None)


async def test_history_routing_only_rings_current_extensions_and_the_original_caller() -> None:
    asked: list[tuple[str, dt.datetime]] = []

    async def history(caller: str, since: dt.datetime) -> list[PastCall]:
        asked.append((caller, since))
        return [
            PastCall(started_at=MONDAY_10 - dt.timedelta(days=1), answered_by="199", talk_s=9),
            PastCall(started_at=MONDAY_10 - dt.timedelta(days=3), answered_by="101", talk_s=9),
        ]

    doc = one_element("history_routing", {"lookback_days": 7}, HIST_OUTPUTS)
    doc["nodes"]["start"]["next"] = {"next": "cid"}
    doc["nodes"]["cid"] = {"type": "caller_id", "params": {"prefix": "9"}, "next": {"next": "x"}}
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10)
    services = FlowServices(call_history=history, extensions=lambda: {"101", "102"})
    run = await run_flow(load_flow(doc), session, services=services)
    assert step(run).facts["operator"] == "101"  # 199 left the company
    assert asked == [(CALLER, MONDAY_10 - dt.timedelta(days=7))]
    assert session.caller == "9" + CALLER


def test_history_naive_times_are_utc() -> None:
    from flowpbx.flow.elements.history_routing import choose_operator
    from flowpbx.flow.model import HistoryRoutingParams

    naive = MONDAY_10.replace(tzinfo=None)
    calls = [
        PastCall(started_at=naive - dt.timedelta(days=2), answered_by="101"),
        PastCall(started_at=MONDAY_10 - dt.timedelta(days=3), answered_by="102"),
    ]
    chosen = choose_operator(calls, HistoryRoutingParams(), MONDAY_10)
    assert chosen is not None and chosen.answered_by == "101"


async def test_history_routing_without_service() -> None:
    doc = one_element("history_routing", None, HIST_OUTPUTS)
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10)
    run = await run_flow(load_flow(doc), session, services=FlowServices())
    assert step(run).output == "not_found"


def test_history_script_errors() -> None:

    with pytest.raises(ValueError, match="history item 0"):
        past_calls([{"answered_by": "1", "days_ago": "soon"}], MONDAY_10)
    naive = past_calls([{"answered_by": "1", "started_at": "2026-05-01T10:00"}], MONDAY_10)
    assert naive[0].started_at.tzinfo is dt.UTC


# ----------------------------------------------------------------------------- caller_id


@pytest.mark.parametrize(
    ("caller", "name", "params", "number", "new_name"),
    [
        ("+37129999999", None, {"strip": 3}, "29999999", None),
        ("+37129999999", None, {"strip": 3, "prefix": "0"}, "029999999", None),
        ("29999999", None, {"prefix": "+371"}, "+37129999999", None),
        ("29999999", None, {"suffix": "1"}, "299999991", None),
        ("123", None, {"strip": 5, "prefix": "0"}, "0", None),
        ("+3712", "Bob", {"name_prefix": "Sales: "}, "+3712", "Sales: Bob"),
        ("+3712", None, {"name_prefix": "Sales: "}, "+3712", "Sales: +3712"),
        ("+3712", "Bob", {}, "+3712", "Bob"),
    ],
)
async def test_caller_id(
    caller: str, name: str | None, params: dict[str, Any], number: str, new_name: str | None
) -> None:
    doc = one_element("caller_id", params, ["next"])
    session = SimulatedSession(caller=caller, did=DID, at=MONDAY_10, caller_name=name)
    run = await run_flow(load_flow(doc), session)
    assert (session.caller, session.caller_name) == (number, new_name)
    assert step(run).output == "next" and step(run).facts["caller"] == number


# ----------------------------------------------------------------------------- time routing


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


NIGHT_NY = {"timezone": "America/New_York", "hours": {"sat": [["22:00", "06:00"]]}}


@pytest.mark.parametrize(
    ("params", "at", "output"),
    [
        ({"override": "open"}, MONDAY_10, "true"),
        ({"override": "closed", "hours": {"mon": [["00:00", "24:00"]]}}, MONDAY_10, "false"),
        ({"schedule": "office"}, MONDAY_10, "true"),  # 13:00 in Riga
        ({"schedule": "office"}, utc(2026, 5, 4, 15, 0), "false"),  # 18:00 in Riga
        ({"schedule": "nowhere"}, MONDAY_10, "false"),  # missing: closed, trace says why
        ({"hours": {"mon": [["22:00", "06:00"]]}}, utc(2026, 5, 4, 23, 59), "true"),
        ({"hours": {"mon": [["22:00", "06:00"]]}}, utc(2026, 5, 5, 0, 0), "true"),
        ({"hours": {"mon": [["22:00", "06:00"]]}}, utc(2026, 5, 5, 6, 0), "false"),
        (NIGHT_NY, utc(2026, 3, 8, 9, 59), "true"),  # 05:59 EDT, after spring forward
        (NIGHT_NY, utc(2026, 3, 8, 10, 0), "false"),
        (NIGHT_NY | {"holidays": ["2026-03-07"]}, utc(2026, 3, 8, 9, 0), "false"),
    ],
)
async def test_time_routing(params: dict[str, Any], at: dt.datetime, output: str) -> None:
    from flowpbx.flow.model import ScheduleSpec
    from flowpbx.flow.schedule import Schedule

    office = Schedule.from_spec(
        ScheduleSpec(timezone="Europe/Riga", hours={"mon": [("09:00", "18:00")]})
    )
    doc = one_element("time_routing", params, ["true", "false"])
    run = await sim(doc, at=at, schedules={"office": office})
    x = step(run)
    assert x.output == output
    if params.get("schedule") == "nowhere":
        assert "not found" in str(x.facts["note"])


# ----------------------------------------------------------------------------- the others


@pytest.mark.parametrize(
    ("answer", "output"),
    [
        ("answered", "answered"),
        ("no_answer", "no_answer"),
        ("busy", "busy"),
        ("offline", "offline"),
        ("failed", "offline"),
    ],
)
async def test_call_sip(answer: str, output: str) -> None:
    doc = one_element(
        "call_sip", {"extension": "101"}, ["answered", "no_answer", "busy", "offline"]
    )
    run = await sim(doc, answers={"101": answer})
    assert step(run).output == output
    assert run.outcome == ("answered" if answer == "answered" else "hangup")


PHONE_OUTPUTS = ["answered", "no_answer", "busy", "failed"]
MOBILE = "+37120000000"


@pytest.mark.parametrize(
    ("answer", "params", "output", "shown"),
    [
        ("answered", {}, "answered", CALLER),
        ("no_answer", {}, "no_answer", CALLER),
        ("busy", {}, "busy", CALLER),
        ("failed", {}, "failed", CALLER),
        ("offline", {}, "failed", CALLER),  # anything else is a failure to call
        ("answered", {"caller_id": "did"}, "answered", DID),
        ("answered", {"caller_id": "+37167000002", "confirm": True}, "answered", "+37167000002"),
    ],
)
async def test_call_phone(answer: str, params: dict[str, Any], output: str, shown: str) -> None:
    doc = one_element("call_phone", {"number": MOBILE} | params, PHONE_OUTPUTS)
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10, answers={MOBILE: answer})
    run = await run_flow(load_flow(doc), session)
    x = step(run)
    assert (x.output, x.facts["caller_id"]) == (output, shown)
    assert (f"{MOBILE} as {shown}") in [d for _, what, d in session.events if what == "dial_out"]
    assert run.answered_by == (MOBILE if output == "answered" else None)


class NoTrunkSession(SimulatedSession):
    dial_number = None  # type: ignore[assignment]  # a session that cannot call out


async def test_call_phone_without_outbound_calls_fails_politely() -> None:
    doc = one_element("call_phone", {"number": MOBILE}, PHONE_OUTPUTS)
    run = await run_flow(load_flow(doc), NoTrunkSession(caller=CALLER, did=DID, at=MONDAY_10))
    assert step(run).output == "failed"
    assert "Calling a phone number is not yet available" in str(step(run).facts["note"])


async def test_call_phone_presents_the_rewritten_caller() -> None:
    doc = one_element("call_phone", {"number": MOBILE}, PHONE_OUTPUTS)
    doc["nodes"]["start"]["next"] = {"next": "cid"}
    doc["nodes"]["cid"] = {"type": "caller_id", "params": {"prefix": "00"}, "next": {"next": "x"}}
    run = await sim(doc)
    assert step(run).facts["caller_id"] == "00" + CALLER


@pytest.mark.parametrize(
    ("type_", "params", "outputs", "output"),
    [
        ("numbers", {}, ["next"], "next"),
        ("play", {"audio": "greeting"}, ["next"], "next"),
        ("play", {"audio": "greeting", "answer": False}, ["next"], "next"),
        ("caller_lookup", {"url": "https://crm.example/{caller}"}, ["next"], "next"),
        ("voicemail", {"mailbox": "100", "mode": "listen"}, ["done"], "done"),
    ],
)
async def test_simple_outputs(
    type_: str, params: dict[str, Any], outputs: list[str], output: str
) -> None:
    doc = one_element(type_, params, outputs)
    run = await sim(doc)
    assert step(run).output == output


async def test_hangup_finishes_the_call() -> None:
    doc = one_element("hangup", None, [])
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10)
    run = await run_flow(load_flow(doc), session)
    assert (
        await ELEMENTS["hangup"](load_flow(doc).nodes["x"], FlowContext(load_flow(doc), session))
        == END
    )
    assert run.reason == "call finished by 'x' (hangup)" and session.hung_up


@pytest.mark.parametrize(
    ("reply", "json_field", "name"),
    [
        ("Alice Ltd\nmore", None, "Alice Ltd"),
        ('{"name": "Bob"}', "name", "Bob"),
        ('{"contact": {"name": 42}}', "contact.name", "42"),
        ('{"contact": {}}', "contact.name", None),
        ("not json", "name", None),
        ("", None, None),
        (404, None, None),
        (None, None, None),
    ],
)
async def test_caller_lookup(
    reply: str | int | None, json_field: str | None, name: str | None
) -> None:
    params: dict[str, Any] = {"url": "https://crm.example/{caller}"}
    if json_field:
        params["json_field"] = json_field
    doc = one_element("caller_lookup", params, ["next"])
    run = await sim(doc, http_replies={"x": reply})
    assert step(run).output == "next"
    assert step(run).facts.get("caller_name") == name


# ----------------------------------------------------------------------------- queue

QUEUE_OUTPUTS = ["answered", "timeout", "full", "empty", "exit"]
TEAM = ["101", "102", "103"]


@pytest.mark.parametrize(
    ("params", "answers", "keys", "output", "answered_by", "wait_s"),
    [
        ({"strategy": "ring_all"}, {}, "", "answered", "101", 3.0),
        ({"strategy": "ring_all"}, {"101": "no_answer"}, "", "answered", "102", 3.0),
        # one at a time: 101 rings 15 s, retry after 5 s, then 102 answers after 3 s
        ({"strategy": "linear"}, {"101": "no_answer"}, "", "answered", "102", 23.0),
        ({"strategy": "round_robin"}, {"101": "busy"}, "", "answered", "102", 3.0),
        ({"strategy": "fewest_calls"}, {"101": "offline"}, "", "answered", "102", 3.0),
        ({"strategy": "least_recent"}, {"101": "busy", "102": "busy"}, "", "answered", "103", 3.0),
        ({"strategy": "random"}, {"101": "offline", "103": "offline"}, "", "answered", "102", 3.0),
        (
            {"strategy": "linear", "members": [{"extension": "101", "penalty": 1}, "102", "103"]},
            {},
            "",
            "answered",
            "102",
            3.0,
        ),
        ({"max_wait_s": 60}, dict.fromkeys(TEAM, "no_answer"), "", "timeout", None, 60.0),
        ({"max_wait_s": 30}, dict.fromkeys(TEAM, "busy"), "", "timeout", None, 30.0),
        ({}, dict.fromkeys(TEAM, "offline"), "", "empty", None, 0.0),
        (
            {"join_empty": True, "max_wait_s": 20},
            dict.fromkeys(TEAM, "offline"),
            "",
            "timeout",
            None,
            20.0,
        ),
        ({"exit_key": "0"}, dict.fromkeys(TEAM, "busy"), "0", "exit", None, 1.0),
        ({"exit_key": "#"}, dict.fromkeys(TEAM, "busy"), "0", "timeout", None, 300.0),
    ],
)
async def test_queue(
    params: dict[str, Any],
    answers: dict[str, str],
    keys: str,
    output: str,
    answered_by: str | None,
    wait_s: float,
) -> None:
    doc = one_element("queue", {"members": TEAM} | params, QUEUE_OUTPUTS)
    run = await sim(doc, answers=answers, keys=keys)
    x = step(run)
    assert (x.output, x.facts.get("answered_by")) == (output, answered_by)
    assert x.facts["wait_s"] == wait_s
    assert run.variables["queue_wait_s"] == round(wait_s)
    assert run.answered_by == answered_by


async def test_queue_name_and_wait_in_templates() -> None:
    doc = one_element("queue", {"members": ["101"], "max_wait_s": 45}, QUEUE_OUTPUTS)
    doc["nodes"]["x"]["next"]["timeout"] = "mail"
    doc["nodes"]["mail"] = {
        "type": "email",
        "params": {"to": ["a@example.com"], "subject": "{caller} waited {queue_wait_s} s"},
    }
    sim_ = await simulate_call(
        doc, caller=CALLER, did=DID, at=MONDAY_10, answers={"101": "no_answer"}
    )
    assert step(sim_.run).facts["queue"] == "Table/x"  # default name: flow name + node id
    assert sim_.emails[0].subject == f"{CALLER} waited 45 s"


# ----------------------------------------------------------------------------- voicemail


@pytest.mark.parametrize(
    ("params", "keys", "output", "duration"),
    [
        ({}, "", "recorded", 10.0),
        ({}, "#", "recorded", 10.0),
        ({}, "_", "no_message", None),  # silence
        ({"min_length_s": 20}, "", "no_message", 10.0),  # too short: discarded
        ({"max_length_s": 5}, "", "recorded", 5.0),
        ({"mode": "listen"}, "", "done", None),
    ],
)
async def test_voicemail(
    params: dict[str, Any], keys: str, output: str, duration: float | None
) -> None:
    outputs = ["done"] if params.get("mode") == "listen" else ["recorded", "no_message"]
    doc = one_element("voicemail", {"mailbox": "100"} | params, outputs)
    sim_ = await simulate_call(doc, caller=CALLER, did=DID, at=MONDAY_10, keys=keys)
    x = step(sim_.run)
    assert x.output == output
    assert x.facts.get("duration_s") == duration
    assert sim_.run.variables["mailbox"] == "100"
    heard = [a for _, a in sim_.heard]
    assert heard == (["voicemail-greeting"] if "mode" in params else ["voicemail-greeting", "beep"])
