"""Property tests (hypothesis) over whole flow documents.

1. Validation never crashes, whatever the document: it returns problems with stable codes.
2. Every valid generated flow, with any scripted caller, runs in the simulator to an end
   within the step guard: never an element error, never the 50-step limit (validation
   refuses loops that do not wait), always a final ``end`` entry in the trace.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flowpbx.flow.interpreter import FlowRun
from flowpbx.flow.io import dump_document, load_document
from flowpbx.flow.model import ELEMENT_TYPES, MENU_KEYS, FlowError, load_flow
from flowpbx.flow.revisions import diff_flows
from flowpbx.flow.simulator import simulate
from flowpbx.flow.validate import validate_flow
from tests.flow.helpers import DID, FakeDirectory

CODES = {
    "invalid_document", "no_nodes", "bad_node", "bad_node_id", "unknown_type",
    "missing_setting", "bad_setting", "bad_output", "unknown_output", "missing_target",
    "entry_missing", "entry_not_numbers", "unreachable", "audio_missing",
    "extension_missing", "mailbox_missing", "schedule_missing", "number_claimed",
    "loop_without_wait", "output_unconnected", "no_numbers", "duplicate_number",
    "unknown_placeholder",
}  # fmt: skip

# ----------------------------------------------------------------------------- 1. anything

PARAM_NAMES = [
    "numbers", "number", "extension", "ring_timeout_s", "caller_id", "confirm", "mode",
    "mailbox", "greeting", "audio", "repeat", "answer", "prompt", "timeout_s", "retries",
    "direct_dial", "keys", "schedule", "timezone", "hours", "holidays", "override",
    "members", "strategy", "url", "method", "headers", "body", "json_field", "prefix",
    "strip", "to", "subject", "when", "lookback_days", "min_talk_s", "bogus",
]  # fmt: skip
OUTPUT_NAMES = [
    "next", "answered", "no_answer", "busy", "failed", "offline", "recorded", "no_message",
    "done", "timeout", "invalid", "true", "false", "full", "empty", "exit", "default",
    "not_found", *sorted(MENU_KEYS), "x",
]  # fmt: skip
IDS = ["a", "b", "c", "d"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
    | st.sampled_from(["09:00", "22:00", "Europe/Riga", "https://x.example/{caller}", "101"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
arbitrary_node = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"type": st.sampled_from([*sorted(ELEMENT_TYPES), "bogus"]) | json_values},
        optional={
            "params": st.dictionaries(st.sampled_from(PARAM_NAMES), json_values, max_size=4)
            | json_values,
            "next": st.dictionaries(
                st.sampled_from(OUTPUT_NAMES) | st.integers(0, 9) | st.booleans(),  # YAML keys
                st.sampled_from([*IDS, "zz", None]) | json_values,
                max_size=4,
            )
            | json_values,
            "extra": json_values,
        },
    ),
)
arbitrary_document = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.text(max_size=5) | json_values,
            "entry": st.sampled_from([*IDS, "zz"]) | json_values,
            "nodes": st.dictionaries(
                st.sampled_from(IDS) | st.text(max_size=3) | st.integers(0, 3),
                arbitrary_node,
                max_size=4,
            )
            | json_values,
            "layout": json_values,
            "junk": json_values,
        },
    ),
)


@settings(max_examples=300, deadline=None)
@given(arbitrary_document)
def test_validation_never_crashes(doc: Any) -> None:
    report = validate_flow(doc, FakeDirectory())
    for problem in report.errors + report.warnings:
        assert problem.code in CODES, problem
        assert problem.message
    if isinstance(doc, dict):
        try:
            load_flow(doc)
        except FlowError as exc:
            assert exc.problems and not report.ok
        diff_flows(doc, {})  # the revision diff takes broken drafts too
    json.dumps(report.to_dict())


# ----------------------------------------------------------------------------- 2. valid flows

EXTS = ["101", "102", "103"]
AUDIO = ["greeting", "menu", "goodbye", "hold-music"]
seconds = st.sampled_from([1, 2.5, 5, 20])


def outputs_for(type_: str, params: dict[str, Any]) -> list[str]:
    fixed = {
        "call_phone": ["answered", "no_answer", "busy", "failed"],
        "call_sip": ["answered", "no_answer", "busy", "offline"],
        "play": ["next"],
        "time_routing": ["true", "false"],
        "queue": ["answered", "timeout", "full", "empty", "exit"],
        "http_notify": ["1", "2", "3", "4", "5", "default"],
        "caller_lookup": ["next"],
        "caller_id": ["next"],
        "email": ["next"],
        "history_routing": ["answered", "not_found", "no_answer"],
        "hangup": [],
    }
    if type_ == "voicemail":
        return ["done"] if params.get("mode") == "listen" else ["recorded", "no_message"]
    if type_ == "menu":
        return [*params.get("keys", ["1"]), "timeout", "invalid"]
    return fixed[type_]


PARAMS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "call_phone": st.fixed_dictionaries(
        {"number": st.just("+37120000000")}, optional={"ring_timeout_s": seconds}
    ),
    "call_sip": st.fixed_dictionaries(
        {"extension": st.sampled_from(EXTS)}, optional={"ring_timeout_s": seconds}
    ),
    "voicemail": st.fixed_dictionaries(
        {"mailbox": st.just("100")}, optional={"mode": st.sampled_from(["leave", "listen"])}
    ),
    "play": st.fixed_dictionaries(
        {"audio": st.sampled_from(AUDIO)},
        optional={"repeat": st.integers(1, 3), "answer": st.booleans()},
    ),
    "menu": st.fixed_dictionaries(
        {
            "prompt": st.sampled_from(AUDIO),
            "keys": st.lists(
                st.sampled_from(sorted(MENU_KEYS)), min_size=1, max_size=4, unique=True
            ),
        },
        optional={
            "timeout_s": seconds,
            "retries": st.integers(0, 3),
            "direct_dial": st.booleans(),
            "invalid_prompt": st.sampled_from(AUDIO),
        },
    ),
    "time_routing": st.one_of(
        st.fixed_dictionaries({"override": st.sampled_from(["open", "closed"])}),
        st.just({"schedule": "office"}),
        st.fixed_dictionaries(
            {
                "timezone": st.sampled_from(["UTC", "Europe/Riga", "America/New_York"]),
                "hours": st.dictionaries(
                    st.sampled_from(["mon", "tue", "sat", "sun"]),
                    st.lists(st.sampled_from([("09:00", "18:00"), ("22:00", "06:00")]), max_size=2),
                    max_size=3,
                ),
            }
        ),
    ),
    "queue": st.fixed_dictionaries(
        {"members": st.lists(st.sampled_from(EXTS), min_size=1, max_size=3)},
        optional={"strategy": st.sampled_from(["ring_all", "linear", "random"])},
    ),
    "http_notify": st.fixed_dictionaries(
        {"url": st.just("https://crm.example/hook?c={caller}")},
        optional={"method": st.sampled_from(["GET", "POST"]), "body": st.just('{"c": "{caller}"}')},
    ),
    "caller_lookup": st.fixed_dictionaries(
        {"url": st.just("https://crm.example/name/{caller}")},
        optional={"json_field": st.just("name")},
    ),
    "caller_id": st.fixed_dictionaries(
        {}, optional={"prefix": st.just("0"), "suffix": st.just("1"), "strip": st.integers(0, 4)}
    ),
    "email": st.fixed_dictionaries(
        {"to": st.just(["boss@example.com"])},
        optional={"when": st.sampled_from(["now", "unanswered"])},
    ),
    "history_routing": st.fixed_dictionaries({}, optional={"lookback_days": st.integers(1, 60)}),
    "hangup": st.just({}),
}
NODE_TYPES = sorted(PARAMS)


def _reachable(nodes: dict[str, Any], entry: str) -> set[str]:
    seen, stack = {entry}, [entry]
    while stack:
        for target in nodes[stack.pop()].get("next", {}).values():
            if target is not None and target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


@st.composite
def valid_flows(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 8))
    ids = [f"n{i}" for i in range(count)]
    targets = st.sampled_from([*ids, None])
    nodes: dict[str, Any] = {
        "start": {"type": "numbers", "params": {"numbers": [DID]}, "next": {"next": ids[0]}}
    }
    for node_id in ids:
        type_ = draw(st.sampled_from(NODE_TYPES))
        params = draw(PARAMS[type_])
        nxt = {out: draw(targets) for out in outputs_for(type_, params)}
        nodes[node_id] = {"type": type_, "params": params, "next": nxt}
    keep = _reachable(nodes, "start")
    return {
        "name": "Generated",
        "entry": "start",
        "nodes": {k: v for k, v in nodes.items() if k in keep},
    }


scripts = st.fixed_dictionaries(
    {
        "keys": st.text(alphabet="0123456789*#_h", max_size=12),
        "answers": st.dictionaries(
            st.sampled_from(EXTS), st.sampled_from(["answered", "no_answer", "busy", "offline"])
        ),
        "http_replies": st.dictionaries(
            st.sampled_from([f"n{i}" for i in range(8)]),
            st.sampled_from(["1", "2", "3", "4", "5", " 2\n", "x", "", None, 500]),
        ),
        "history": st.lists(
            st.fixed_dictionaries(
                {
                    "answered_by": st.sampled_from([*EXTS, None]),
                    "days_ago": st.floats(0, 90),
                    "talk_s": st.floats(0, 600),
                }
            ),
            max_size=3,
        ),
        "at": st.datetimes(
            min_value=dt.datetime(2026, 1, 1),
            max_value=dt.datetime(2027, 12, 31),
            timezones=st.just(dt.UTC),
        ),
    }
)


def _office() -> Any:
    from flowpbx.flow.model import ScheduleSpec
    from flowpbx.flow.schedule import Schedule

    return Schedule.from_spec(
        ScheduleSpec(timezone="Europe/Riga", hours={"mon": [("09:00", "18:00")]})
    )


OFFICE = _office()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_flows(), scripts)
def test_every_valid_flow_runs_to_an_end(doc: dict[str, Any], script: dict[str, Any]) -> None:
    report = validate_flow(doc, FakeDirectory())
    assume(report.ok)  # (only loops without a wait are refused; nodes are all reachable)
    flow = load_flow(doc)
    run: FlowRun = asyncio.run(
        simulate(
            flow,
            caller="+37129999999",
            did=DID,
            extensions=EXTS,
            schedules={"office": OFFICE},
            max_duration_s=300,
            **script,
        )
    )
    assert run.outcome in ("answered", "hangup", "caller_hangup"), (run.outcome, run.reason)
    ends = [i for i, e in enumerate(run.trace) if e.type == "end"]
    assert len(ends) == 1, run.trace
    assert all(e.type == "email" for e in run.trace[ends[0] + 1 :])
    assert set(run.path) <= set(doc["nodes"])
    # between two waits at most 50 elements (the guard never had to stop it)
    assert run.trace[ends[0]].facts["reason"] == run.reason
    json.dumps(run.to_dict())
    # the document survives YAML and JSON
    assert load_flow(load_document(dump_document(flow, "yaml"))) == flow
    assert load_flow(load_document(dump_document(flow, "json"), "json")) == flow
