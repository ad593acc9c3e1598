"""What changed between two revisions of a flow, for the editor's revision view. Pure.

`diff_flows(old, new)` compares two flow documents (plain dicts as stored, or loaded
`Flow`s; drafts that do not validate can be compared too) and returns a `FlowDiff`:

    nodes_added / nodes_removed     node ids
    nodes_changed                   per node id: its type, or which settings changed
                                    (``params.<name>``: old and new value)
    edges_added / edges_removed     (node, output, target) connections
    edges_changed                   same node and output, another target
    entry, name                     (old, new) when they changed
    moved                           node ids whose position on the canvas changed

An edge is a connected output: an output mapped to ``null`` is no edge. Layout moves are
listed apart, since they change nothing for calls (`FlowDiff.changes_calls`). Storing and
publishing revisions is the store's job; this module only compares documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowpbx.flow.io import as_document
from flowpbx.flow.model import Flow

__all__ = ["Edge", "FlowDiff", "NodeChange", "diff_flows"]


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Edge:
    node: str
    output: str
    target: str

    def to_dict(self) -> dict[str, str]:
        return {"node": self.node, "output": self.output, "target": self.target}


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeChange:
    """A node present in both revisions whose type or settings differ."""

    node: str
    fields: dict[str, tuple[Any, Any]]  # "type" / "params.timeout_s" -> (old, new)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "fields": {k: {"old": o, "new": n} for k, (o, n) in self.fields.items()},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowDiff:
    nodes_added: list[str] = field(default_factory=list)
    nodes_removed: list[str] = field(default_factory=list)
    nodes_changed: list[NodeChange] = field(default_factory=list)
    edges_added: list[Edge] = field(default_factory=list)
    edges_removed: list[Edge] = field(default_factory=list)
    edges_changed: list[tuple[Edge, Edge]] = field(default_factory=list)  # (old, new)
    entry: tuple[Any, Any] | None = None
    name: tuple[Any, Any] | None = None
    moved: list[str] = field(default_factory=list)

    @property
    def changes_calls(self) -> bool:
        """Whether calls could behave differently (anything but canvas moves)."""
        return bool(
            self.nodes_added
            or self.nodes_removed
            or self.nodes_changed
            or self.edges_added
            or self.edges_removed
            or self.edges_changed
            or self.entry
        )

    @property
    def empty(self) -> bool:
        return not (self.changes_calls or self.name or self.moved)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes_added": self.nodes_added,
            "nodes_removed": self.nodes_removed,
            "nodes_changed": [c.to_dict() for c in self.nodes_changed],
            "edges_added": [e.to_dict() for e in self.edges_added],
            "edges_removed": [e.to_dict() for e in self.edges_removed],
            "edges_changed": [
                {"old": o.to_dict(), "new": n.to_dict()} for o, n in self.edges_changed
            ],
            "entry": None if self.entry is None else {"old": self.entry[0], "new": self.entry[1]},
            "name": None if self.name is None else {"old": self.name[0], "new": self.name[1]},
            "moved": self.moved,
            "changes_calls": self.changes_calls,
        }


def _nodes(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    raw = doc.get("nodes")
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): v if isinstance(v, Mapping) else {} for k, v in raw.items()}


def _edges(node_id: str, node: Mapping[str, Any]) -> dict[str, str]:
    nxt = node.get("next")
    if not isinstance(nxt, Mapping):
        return {}
    return {str(out): str(t) for out, t in nxt.items() if t is not None}


def _params(node: Mapping[str, Any]) -> Mapping[str, Any]:
    params = node.get("params")
    return params if isinstance(params, Mapping) else {}


def _node_change(node_id: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> NodeChange | None:
    fields: dict[str, tuple[Any, Any]] = {}
    if old.get("type") != new.get("type"):
        fields["type"] = (old.get("type"), new.get("type"))
    old_p, new_p = _params(old), _params(new)
    for key in sorted(set(old_p) | set(new_p), key=str):
        before, after = old_p.get(key), new_p.get(key)
        if before != after:
            fields[f"params.{key}"] = (before, after)
    return NodeChange(node=node_id, fields=fields) if fields else None


def _position(layout: Any, node_id: str) -> Any:
    return layout.get(node_id) if isinstance(layout, Mapping) else None


def diff_flows(old: Flow | Mapping[str, Any], new: Flow | Mapping[str, Any]) -> FlowDiff:
    """What changed from `old` to `new` (two revisions or a revision and the draft)."""
    a = as_document(old) if isinstance(old, Flow) else old
    b = as_document(new) if isinstance(new, Flow) else new
    old_nodes, new_nodes = _nodes(a), _nodes(b)
    added = sorted(set(new_nodes) - set(old_nodes))
    removed = sorted(set(old_nodes) - set(new_nodes))
    changed = [
        change
        for nid in sorted(set(old_nodes) & set(new_nodes))
        if (change := _node_change(nid, old_nodes[nid], new_nodes[nid])) is not None
    ]
    old_edges = {(n, o): t for n, node in old_nodes.items() for o, t in _edges(n, node).items()}
    new_edges = {(n, o): t for n, node in new_nodes.items() for o, t in _edges(n, node).items()}
    edges_added = sorted(
        Edge(node=n, output=o, target=t)
        for (n, o), t in new_edges.items()
        if (n, o) not in old_edges
    )
    edges_removed = sorted(
        Edge(node=n, output=o, target=t)
        for (n, o), t in old_edges.items()
        if (n, o) not in new_edges
    )
    edges_changed = sorted(
        (Edge(node=n, output=o, target=t), Edge(node=n, output=o, target=new_edges[(n, o)]))
        for (n, o), t in old_edges.items()
        if (n, o) in new_edges and new_edges[(n, o)] != t
    )
    a_layout, b_layout = a.get("layout"), b.get("layout")
    moved = sorted(
        nid
        for nid in set(old_nodes) & set(new_nodes)
        if _position(a_layout, nid) != _position(b_layout, nid)
    )
    return FlowDiff(
        nodes_added=added,
        nodes_removed=removed,
        nodes_changed=changed,
        edges_added=edges_added,
        edges_removed=edges_removed,
        edges_changed=edges_changed,
        entry=(a.get("entry"), b.get("entry")) if a.get("entry") != b.get("entry") else None,
        name=(a.get("name"), b.get("name")) if a.get("name") != b.get("name") else None,
        moved=moved,
    )
