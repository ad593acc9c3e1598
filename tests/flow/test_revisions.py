"""The pure diff of two flow revisions shown by the editor."""

from __future__ import annotations

import copy
from typing import Any

from flowpbx.flow.model import load_flow
from flowpbx.flow.revisions import Edge, diff_flows
from tests.flow.helpers import menu_flow


def test_identical_revisions_have_no_diff() -> None:
    doc = menu_flow()
    diff = diff_flows(doc, copy.deepcopy(doc))
    assert diff.empty and not diff.changes_calls
    assert diff_flows(load_flow(doc), doc).empty  # a loaded Flow against its document


def test_every_kind_of_change() -> None:
    old = menu_flow()
    new: dict[str, Any] = copy.deepcopy(old)
    new["nodes"]["menu"]["params"]["timeout_s"] = 8  # setting changed
    del new["nodes"]["menu"]["params"]["keys"]  # setting removed
    new["nodes"]["menu"]["next"]["2"] = "bob"  # edge added (to a new node)
    new["nodes"]["menu"]["next"]["timeout"] = "bob"  # edge re-targeted
    new["nodes"]["bob"] = {"type": "call_sip", "params": {"extension": "102"}}
    new["nodes"]["hello"]["type"] = "caller_id"  # type changed
    new["nodes"]["hello"]["params"] = {}
    del new["nodes"]["bye"]  # node removed, with its edge
    new["nodes"]["menu"]["next"]["invalid"] = "end"
    new["layout"] = {"menu": {"x": 10, "y": 0}}
    diff = diff_flows(old, new)
    assert diff.nodes_added == ["bob"]
    assert diff.nodes_removed == ["bye"]
    changes = {c.node: c.fields for c in diff.nodes_changed}
    assert changes["menu"] == {"params.keys": (["1", "2"], None), "params.timeout_s": (5, 8)}
    assert changes["hello"] == {"type": ("play", "caller_id"), "params.audio": ("greeting", None)}
    assert diff.edges_added == [Edge(node="menu", output="2", target="bob")]
    assert diff.edges_removed == [Edge(node="bye", output="next", target="end")]
    assert diff.edges_changed == [
        (
            Edge(node="menu", output="invalid", target="bye"),
            Edge(node="menu", output="invalid", target="end"),
        ),
        (
            Edge(node="menu", output="timeout", target="bye"),
            Edge(node="menu", output="timeout", target="bob"),
        ),
    ]
    assert diff.moved == ["menu"]
    assert diff.changes_calls
    data = diff.to_dict()
    assert data["nodes_changed"][0]["fields"]["type"] == {"old": "play", "new": "caller_id"}
    assert data["edges_changed"][0]["new"] == {"node": "menu", "output": "invalid", "target": "end"}


def test_null_output_is_no_edge_and_layout_only_is_no_call_change() -> None:
    old = menu_flow()
    new = copy.deepcopy(old)
    new["nodes"]["menu"]["next"]["2"] = None
    new["layout"] = {"start": {"x": 5, "y": 5}}
    diff = diff_flows(old, new)
    assert not diff.changes_calls and not diff.empty
    assert diff.moved == ["start"]


def test_entry_and_name_and_broken_drafts() -> None:
    old = menu_flow()
    broken: dict[str, Any] = {"name": "Renamed", "entry": "x", "nodes": {"x": "not a node", 1: {}}}
    diff = diff_flows(old, broken)
    assert diff.entry == ("start", "x") and diff.name == ("Main line", "Renamed")
    assert diff.nodes_added == ["1", "x"]
    assert len(diff.nodes_removed) == len(old["nodes"])
    assert diff_flows({}, {"nodes": []}).empty
