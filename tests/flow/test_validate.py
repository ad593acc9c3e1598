"""Validation: each kind of problem, with its node, field and stable code."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from flowpbx.flow.model import load_flow
from flowpbx.flow.validate import validate_flow
from tests.flow.helpers import DID, FakeDirectory, menu_flow


def codes(
    doc: Any, directory: FakeDirectory | None = None
) -> set[tuple[str | None, str | None, str]]:
    report = validate_flow(doc, directory or FakeDirectory())
    return {(p.node, p.field, p.code) for p in report.errors}


def warning_codes(doc: Any) -> set[tuple[str | None, str | None, str]]:
    report = validate_flow(doc, FakeDirectory())
    return {(p.node, p.field, p.code) for p in report.warnings}


def test_good_flow_has_no_errors_and_warns_about_unconnected_outputs() -> None:
    doc = menu_flow()
    report = validate_flow(doc, FakeDirectory())
    assert report.ok, report.errors
    assert warning_codes(doc) == {
        ("menu", "next.2", "output_unconnected"),
        ("alice", "next.answered", "output_unconnected"),
        ("alice", "next.no_answer", "output_unconnected"),
        ("alice", "next.busy", "output_unconnected"),
        ("alice", "next.offline", "output_unconnected"),
    }
    assert report.to_dict()["ok"] is True


def test_loaded_flow_validates_too() -> None:
    assert validate_flow(load_flow(menu_flow()), FakeDirectory()).ok


def test_unknown_type_and_bad_settings() -> None:
    doc = menu_flow()
    doc["nodes"]["hello"]["type"] = "sing"
    doc["nodes"]["alice"]["params"] = {"extension": "1", "ring_timeout_s": "soon"}
    doc["nodes"]["menu"]["params"]["colour"] = "red"
    got = codes(doc)
    assert ("hello", "type", "unknown_type") in got
    assert ("alice", "params.extension", "bad_setting") in got
    assert ("alice", "params.ring_timeout_s", "bad_setting") in got
    assert ("menu", "params.colour", "bad_setting") in got
    # the menu after the broken 'hello' node is still reachable: no false "unreachable"
    assert not any(code == "unreachable" for _, _, code in got)


def test_missing_setting() -> None:
    doc = menu_flow()
    del doc["nodes"]["hello"]["params"]["audio"]
    assert ("hello", "params.audio", "missing_setting") in codes(doc)


def test_output_name_not_valid_for_type_and_missing_target() -> None:
    doc = menu_flow()
    doc["nodes"]["hello"]["next"]["done"] = "menu"
    doc["nodes"]["menu"]["next"]["5"] = "ghost"
    got = codes(doc)
    assert ("hello", "next.done", "unknown_output") in got
    assert ("menu", "next.5", "missing_target") in got


def test_menu_output_must_be_a_key() -> None:
    doc = menu_flow()
    doc["nodes"]["menu"]["next"]["12"] = "bye"
    assert ("menu", "next.12", "unknown_output") in codes(doc)


def test_entry_missing_or_not_numbers() -> None:
    doc = menu_flow()
    doc["entry"] = "nope"
    assert (None, "entry", "entry_missing") in codes(doc)
    doc["entry"] = "hello"
    got = codes(doc)
    assert ("hello", "entry", "entry_not_numbers") in got
    assert ("start", None, "unreachable") in got


def test_unreachable_node() -> None:
    doc = menu_flow()
    doc["nodes"]["orphan"] = {"type": "play", "params": {"audio": "greeting"}}
    assert ("orphan", None, "unreachable") in codes(doc)


def test_directory_references() -> None:
    doc = menu_flow(invalid_prompt="nope-audio")
    doc["nodes"]["alice"]["params"]["extension"] = "199"
    doc["nodes"]["menu"]["next"]["2"] = "vm"
    doc["nodes"]["vm"] = {"type": "voicemail", "params": {"mailbox": "555", "greeting": "x"}}
    doc["nodes"]["alice"]["next"] = {"no_answer": "hours"}
    doc["nodes"]["hours"] = {
        "type": "time_routing",
        "params": {"schedule": "weekend"},
        "next": {"true": "q", "false": "vm"},
    }
    doc["nodes"]["q"] = {
        "type": "queue",
        "params": {"members": ["101", {"extension": "777"}], "hold_audio": "jazz"},
    }
    got = codes(doc)
    assert {
        ("menu", "params.invalid_prompt", "audio_missing"),
        ("alice", "params.extension", "extension_missing"),
        ("vm", "params.mailbox", "mailbox_missing"),
        ("vm", "params.greeting", "audio_missing"),
        ("hours", "params.schedule", "schedule_missing"),
        ("q", "params.members.1", "extension_missing"),
        ("q", "params.hold_audio", "audio_missing"),
    } <= got
    assert ("q", "params.members.0", "extension_missing") not in got


def test_number_claimed_by_another_flow_but_not_by_itself() -> None:
    doc = menu_flow()
    assert validate_flow(doc, FakeDirectory(owners={DID: "Main line"})).ok
    got = codes(doc, FakeDirectory(owners={DID: "Support"}))
    assert ("start", "params.numbers.0", "number_claimed") in got


def test_loop_that_never_waits() -> None:
    doc = menu_flow()
    doc["nodes"]["alice"]["next"] = {"busy": "cid"}
    doc["nodes"]["cid"] = {"type": "caller_id", "params": {"prefix": "0"}, "next": {"next": "tr"}}
    doc["nodes"]["tr"] = {
        "type": "time_routing",
        "params": {"override": "open"},
        "next": {"true": "cid", "false": "hook"},
    }
    doc["nodes"]["hook"] = {
        "type": "http_notify",
        "params": {"url": "https://x.example/"},
        "next": {"default": "tr"},
    }
    report = validate_flow(doc, FakeDirectory())
    loops = [p for p in report.errors if p.code == "loop_without_wait"]
    assert len(loops) == 1
    assert loops[0].node == "cid"
    assert "cid → hook → tr" in loops[0].message


def test_loop_through_a_waiting_element_is_fine() -> None:
    doc = menu_flow()
    doc["nodes"]["bye"]["next"] = {"next": "menu"}  # menu → bye (play) → menu
    doc["nodes"]["hook"] = {
        "type": "http_notify",
        "params": {"url": "https://x.example/"},
        "next": {"1": "hook2", "default": "hook2"},
    }
    doc["nodes"]["hook2"] = {"type": "caller_id", "next": {"next": "hook"}}
    doc["nodes"]["menu"]["next"]["2"] = "hook"
    report = validate_flow(doc, FakeDirectory())
    assert not [p for p in report.errors if p.code == "loop_without_wait"], report.errors


def test_self_loop_without_wait() -> None:
    doc = menu_flow()
    doc["nodes"]["menu"]["next"]["2"] = "cid"
    doc["nodes"]["cid"] = {"type": "caller_id", "next": {"next": "cid"}}
    assert ("cid", None, "loop_without_wait") in codes(doc)


@pytest.mark.parametrize(
    ("node", "output", "loops"),
    [
        ({"type": "call_sip", "params": {"extension": "101"}}, "offline", True),
        ({"type": "call_sip", "params": {"extension": "101"}}, "no_answer", False),
        ({"type": "call_sip", "params": {"extension": "101"}}, "busy", False),
        ({"type": "call_phone", "params": {"number": "+3712000000"}}, "failed", True),
        ({"type": "call_phone", "params": {"number": "+3712000000"}}, "busy", False),
        ({"type": "queue", "params": {"members": ["101"]}}, "empty", True),
        ({"type": "queue", "params": {"members": ["101"]}}, "full", True),
        ({"type": "queue", "params": {"members": ["101"]}}, "timeout", False),
        ({"type": "history_routing"}, "not_found", True),
        ({"type": "history_routing"}, "no_answer", True),  # operator offline: at once
        ({"type": "history_routing"}, "answered", False),
        ({"type": "voicemail", "params": {"mailbox": "100"}}, "no_message", False),
        ({"type": "play", "params": {"audio": "greeting"}}, "next", False),
        ({"type": "time_routing", "params": {"override": "open"}}, "true", True),
        ({"type": "caller_lookup", "params": {"url": "https://x.example/"}}, "next", True),
        ({"type": "email", "params": {"to": ["a@example.com"]}}, "next", True),
        ({"type": "http_notify", "params": {"url": "https://x.example/"}}, "default", True),
    ],
)
def test_loops_through_outputs_taken_without_waiting(
    node: dict[str, Any], output: str, loops: bool
) -> None:
    """x → (output) → cid → x: an error only when x may take that output at once."""
    doc = menu_flow()
    doc["nodes"]["menu"]["next"]["2"] = "x"
    doc["nodes"]["x"] = node | {"next": {output: "cid"}}
    doc["nodes"]["cid"] = {"type": "caller_id", "next": {"next": "x"}}
    got = [p for p in validate_flow(doc, FakeDirectory()).errors if p.code == "loop_without_wait"]
    assert bool(got) is loops, got


def test_warnings_numbers_and_placeholders() -> None:
    doc = copy.deepcopy(menu_flow())
    doc["nodes"]["start"]["params"]["numbers"] = [DID, DID]
    doc["nodes"]["menu"]["next"]["2"] = "mail"
    doc["nodes"]["mail"] = {
        "type": "email",
        "params": {"to": ["a@example.com"], "subject": "Call from {callr}"},
        "next": {"next": "end"},
    }
    got = warning_codes(doc)
    assert ("start", "params.numbers.1", "duplicate_number") in got
    assert ("mail", "params.subject", "unknown_placeholder") in got
    doc["nodes"]["start"]["params"]["numbers"] = []
    assert ("start", "params.numbers", "no_numbers") in warning_codes(doc)


def test_time_routing_needs_a_schedule_or_hours() -> None:
    doc = menu_flow()
    doc["nodes"]["menu"]["next"]["2"] = "tr"
    doc["nodes"]["tr"] = {"type": "time_routing", "next": {"true": "end", "false": "end"}}
    assert ("tr", "params.schedule", "missing_setting") in codes(doc)
    doc["nodes"]["tr"]["params"] = {"timezone": "Mars/Olympus", "hours": {}}
    assert ("tr", "params.timezone", "bad_setting") in codes(doc)


def test_broken_document_shape() -> None:
    report = validate_flow({"name": "", "nodes": []}, FakeDirectory())
    got = {(p.field, p.code) for p in report.errors}
    assert ("name", "bad_setting") in got
    assert ("entry", "missing_setting") in got
    assert ("nodes", "no_nodes") in got


def test_listen_voicemail_needs_a_pin_unless_explicitly_not_required() -> None:
    def with_vm(**params: object) -> dict[str, object]:
        doc = menu_flow()
        doc["nodes"]["menu"]["next"]["2"] = "vm"
        doc["nodes"]["vm"] = {
            "type": "voicemail",
            "params": {"mode": "listen", "mailbox": "100", **params},
        }
        return doc

    assert ("vm", "params.pin", "pin_missing") in codes(with_vm())
    assert ("vm", "params.pin", "pin_missing") in codes(with_vm(pin=""))
    assert ("vm", "params.pin", "pin_missing") in codes(with_vm(pin_required=True))
    for ok in ({"pin": "4321"}, {"pin_required": False}):
        assert not [c for c in codes(with_vm(**ok)) if c[0] == "vm"], ok
    leave = with_vm()
    leave["nodes"]["vm"]["params"]["mode"] = "leave"  # type: ignore[index]
    assert not [c for c in codes(leave) if c[0] == "vm"]


def test_listen_voicemail_may_rely_on_the_mailbox_pin() -> None:
    @dataclass
    class PinnedDirectory(FakeDirectory):
        def mailbox_has_pin(self, number: str) -> bool:
            return number == "100"

    doc = menu_flow()
    doc["nodes"]["menu"]["next"]["2"] = "vm"
    doc["nodes"]["vm"] = {"type": "voicemail", "params": {"mode": "listen", "mailbox": "100"}}
    assert ("vm", "params.pin", "pin_missing") in codes(doc)
    assert not [c for c in codes(doc, PinnedDirectory()) if c[0] == "vm"]
