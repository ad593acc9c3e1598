"""The flow document model: loading, defaults, outputs, JSON schema."""

from __future__ import annotations

import copy
import json

import pytest

from flowpbx.flow.model import (
    ELEMENT_TYPES,
    CallSipParams,
    FlowError,
    MenuNode,
    PlayNode,
    QueueParams,
    VoicemailParams,
    flow_json_schema,
    load_flow,
    node_outputs,
)
from tests.flow.helpers import menu_flow

SPEC_EXAMPLE = {
    "name": "Main line",
    "entry": "start",
    "nodes": {
        "start": {
            "type": "numbers",
            "params": {"numbers": ["+37167000001"]},
            "next": {"next": "hours"},
        },
        "hours": {
            "type": "time_routing",
            "params": {"schedule": "office"},
            "next": {"true": "menu", "false": "vm"},
        },
        "menu": {
            "type": "menu",
            "params": {"prompt": "menu-press-1-2", "timeout_s": 5, "retries": 3},
            "next": {"1": "sales", "2": "hook", "timeout": "vm", "invalid": "vm"},
        },
        "sales": {
            "type": "queue",
            "params": {"members": ["101", "102"], "strategy": "ring_all", "max_wait_s": 120},
            "next": {"timeout": "vm"},
        },
        "hook": {
            "type": "http_notify",
            "params": {"url": "https://crm.example/hook"},
            "next": {"1": "sales", "default": "vm"},
        },
        "vm": {"type": "voicemail", "params": {"mode": "leave", "mailbox": "100"}},
    },
    "layout": {"start": {"x": 0, "y": 0}},
}


def test_spec_example_loads_with_defaults() -> None:
    flow = load_flow(SPEC_EXAMPLE)
    assert flow.name == "Main line"
    assert set(flow.nodes) == {"start", "hours", "menu", "sales", "hook", "vm"}
    vm = flow.nodes["vm"].params
    assert isinstance(vm, VoicemailParams)
    assert (vm.max_length_s, vm.min_length_s, vm.silence_stop_s, vm.beep) == (180, 1, 10, True)
    assert vm.greeting == "voicemail-greeting"
    sales = flow.nodes["sales"].params
    assert isinstance(sales, QueueParams)
    assert (sales.member_timeout_s, sales.retry_s, sales.wrapup_s) == (15, 5, 0)
    assert sales.max_wait_s == 120 and sales.max_callers == 0 and not sales.join_empty
    assert [m.extension for m in sales.member_list()] == ["101", "102"]
    hook = flow.nodes["hook"]
    assert hook.params.method == "POST" and hook.params.timeout_s == 3  # type: ignore[union-attr]
    assert flow.layout == {"start": {"x": 0, "y": 0}}


def test_every_type_has_defaults_as_in_spec() -> None:
    assert len(ELEMENT_TYPES) == 14
    assert CallSipParams(extension="101").ring_timeout_s == 20
    doc = menu_flow()
    flow = load_flow(doc)
    menu = flow.nodes["menu"]
    assert isinstance(menu, MenuNode)
    assert menu.params.direct_dial is False and menu.params.invalid_prompt is None
    hello = flow.nodes["hello"]
    assert isinstance(hello, PlayNode)
    assert hello.params.repeat == 1 and hello.params.answer is True


def test_outputs_per_type() -> None:
    flow = load_flow(SPEC_EXAMPLE)
    assert node_outputs(flow.nodes["start"]) == ("next",)
    assert node_outputs(flow.nodes["hours"]) == ("true", "false")
    assert node_outputs(flow.nodes["menu"]) == ("1", "2", "timeout", "invalid")
    assert node_outputs(flow.nodes["vm"]) == ("recorded", "no_message")
    assert node_outputs(flow.nodes["sales"]) == ("answered", "timeout", "full", "empty", "exit")
    assert node_outputs(flow.nodes["hook"]) == ("1", "2", "3", "4", "5", "default")


def test_load_flow_reports_every_problem() -> None:
    doc = copy.deepcopy(SPEC_EXAMPLE)
    doc["entry"] = "nowhere"
    doc["nodes"]["hours"]["type"] = "time_travel"  # type: ignore[index]
    del doc["nodes"]["vm"]["params"]["mailbox"]  # type: ignore[index]
    doc["nodes"]["menu"]["params"]["timeout_s"] = -1  # type: ignore[index]
    doc["nodes"]["hook"]["next"]["7"] = "vm"  # type: ignore[index]
    doc["nodes"]["sales"]["next"]["timeout"] = "ghost"  # type: ignore[index]
    with pytest.raises(FlowError) as info:
        load_flow(doc)
    got = {(p.node, p.field, p.code) for p in info.value.problems}
    assert got == {
        (None, "entry", "entry_missing"),
        ("hours", "type", "unknown_type"),
        ("vm", "params.mailbox", "missing_setting"),
        ("menu", "params.timeout_s", "bad_setting"),
        ("hook", "next.7", "unknown_output"),
        ("sales", "next.timeout", "missing_target"),
    }


def test_unconnected_output_may_be_null() -> None:
    doc = menu_flow()
    doc["nodes"]["menu"]["next"]["2"] = None
    flow = load_flow(doc)
    assert flow.nodes["menu"].next["2"] is None


def test_flow_is_frozen() -> None:
    flow = load_flow(menu_flow())
    with pytest.raises(ValueError):
        flow.name = "other"  # type: ignore[misc]


def test_json_schema_describes_all_types() -> None:
    schema = flow_json_schema()
    text = json.dumps(schema)
    for type_ in ELEMENT_TYPES:
        assert f'"{type_}"' in text
    assert schema["x-outputs"]["call_sip"] == ["answered", "no_answer", "busy", "offline"]
    assert schema["x-outputs"]["voicemail"]["listen"] == ["done"]
    defs = schema["$defs"]
    assert defs["MenuParams"]["properties"]["timeout_s"]["default"] == 5
    assert defs["QueueParams"]["properties"]["strategy"]["enum"] == [
        "ring_all",
        "fewest_calls",
        "least_recent",
        "round_robin",
        "linear",
        "random",
    ]
