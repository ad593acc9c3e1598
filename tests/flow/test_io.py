"""Flow documents in and out as YAML and JSON."""

from __future__ import annotations

import copy
import json

import pytest

from flowpbx.flow.io import DocumentError, dump_document, load_document, yaml_load
from flowpbx.flow.model import load_flow
from tests.flow.helpers import menu_flow

HAND_WRITTEN = """
name: Main line
entry: start
nodes:
  start: {type: numbers, params: {numbers: ["+37167000001"]}, next: {next: hours}}
  hours:
    type: time_routing
    params:
      timezone: Europe/Riga
      hours: {mon: [[09:00, 18:00]], tue: [[22:00, 06:00]]}
      holidays: [2026-12-25]
    next: {true: menu, false: bye}
  menu:
    type: menu
    params: {prompt: menu}
    next: {0: bye, 1: bye, "#": bye, "*": bye, timeout: bye}
  bye: {type: hangup}
"""


def test_yaml_as_people_write_it() -> None:
    doc = load_document(HAND_WRITTEN)
    hours = doc["nodes"]["hours"]
    # unquoted times stay times (YAML 1.1 would read 18:00 as 1080), outputs stay names
    assert hours["params"]["hours"] == {"mon": [["09:00", "18:00"]], "tue": [["22:00", "06:00"]]}
    assert list(hours["next"]) == ["true", "false"]
    assert list(doc["nodes"]["menu"]["next"]) == ["0", "1", "#", "*", "timeout"]
    flow = load_flow(doc)
    assert flow.nodes["menu"].type == "menu"


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip(fmt: str) -> None:
    flow = load_flow(load_document(HAND_WRITTEN))
    text = dump_document(flow, fmt)  # type: ignore[arg-type]
    again = load_flow(load_document(text, fmt))  # type: ignore[arg-type]
    assert again == flow
    # and the text of a dumped flow is stable
    assert dump_document(again, fmt) == text  # type: ignore[arg-type]


def test_dump_keeps_what_the_author_wrote_only() -> None:
    doc = menu_flow()
    dumped = json.loads(dump_document(load_flow(doc), "json"))
    assert dumped["nodes"]["menu"] == doc["nodes"]["menu"]
    assert dumped["nodes"]["end"] == {"type": "hangup"}
    assert "ring_timeout_s" not in dumped["nodes"]["alice"]["params"]  # default not spelt out


def test_dump_of_a_plain_document_and_yaml_quoting() -> None:
    doc = menu_flow()
    doc["nodes"]["menu"]["next"]["#"] = "bye"
    text = dump_document(doc, "yaml")
    assert "'#': bye" in text and "'1': alice" in text
    assert load_document(text) == json.loads(json.dumps(doc))
    assert yaml_load("t: [09:00, 23:59]") == {"t": ["09:00", "23:59"]}
    assert yaml_load("n: 42\nx: 0x10\nf: 1.5") == {"n": 42, "x": 16, "f": 1.5}


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("nodes: [1, 2", "yaml", "not valid YAML"),
        ("a: b: c", "yaml", "line 1"),
        ("- 1\n- 2", "yaml", "a mapping, not list"),
        ("", "yaml", "not NoneType"),
        ('{"name": ', "json", "not valid JSON"),
        ("[]", "json", "not list"),
        ("!!python/object:os.system {}", "yaml", "not valid YAML"),
    ],
)
def test_not_a_document(text: str, fmt: str, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        load_document(text, fmt)  # type: ignore[arg-type]


def test_load_does_not_touch_other_mappings() -> None:
    doc = copy.deepcopy(menu_flow())
    doc["layout"] = {"menu": {"x": 1, "y": 2}}
    assert load_document(json.dumps(doc), "json") == doc
