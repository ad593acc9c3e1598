"""Flow documents in and out as YAML or JSON (SPEC §2.1, §3).

`load_document(text, fmt)` parses text into a plain flow document (a dict, not yet
validated: hand it to `validate.validate_flow` for every problem, or to
`model.load_flow` for a runnable `Flow`). `dump_document(flow, fmt)` writes a `Flow` or
a document back; ``load_document(dump_document(flow, fmt), fmt)`` gives the same flow.

YAML as people write it, read the way they mean it:

- ``next: {1: sales, 2: support}`` — YAML reads ``1`` as a number and ``true``/``false``
  (time routing's outputs) as booleans; output names are text, so they are turned back
  into ``"1"``, ``"true"``, ``"false"``;
- ``[09:00, 18:00]`` — YAML 1.1 reads ``09:00`` as the base-60 number 540; this loader
  keeps such values as the text ``"09:00"``.

Exceptions:

    ValueError
     └── DocumentError     the text is not a YAML/JSON mapping; message says where
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

import yaml

from flowpbx.flow.model import Flow, Node

__all__ = [
    "DocumentError",
    "Format",
    "dump_document",
    "load_document",
    "normalise_document",
    "yaml_load",
]

Format = Literal["yaml", "json"]


class DocumentError(ValueError):
    """Text that is not a flow document at all (syntax error, not a mapping)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's base-60 numbers (``09:00`` stays text)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int",)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0[0-7_]+
        |[-+]?(?:0|[1-9][0-9_]*)
        |[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
    ),
    list("-+0123456789"),
)
# floats: drop the base-60 form too (the stock resolver has it as one alternative)
_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        if tag != "tag:yaml.org,2002:float"
        else (
            tag,
            re.compile(
                r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""",
                re.X,
            ),
        )
        for tag, rx in resolvers
    ]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}


def _output_name(key: object) -> object:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    return key


def normalise_document(doc: dict[Any, Any]) -> dict[Any, Any]:
    """Output names written as YAML numbers or booleans (``1:``, ``true:``) back to text."""
    nodes = doc.get("nodes")
    if isinstance(nodes, dict):
        for node in nodes.values():
            if isinstance(node, dict) and isinstance(node.get("next"), dict):
                node["next"] = {_output_name(k): v for k, v in node["next"].items()}
    return doc


def yaml_load(text: str) -> Any:
    """Parse YAML with this module's reading of times (usable for whole config files)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass


def load_document(text: str, fmt: Format = "yaml") -> dict[str, Any]:
    """Parse a flow document; raise `DocumentError` when the text is not one."""
    try:
        data = json.loads(text) if fmt == "json" else yaml_load(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise DocumentError(f"not valid YAML: {problem}{where}") from exc
    if not isinstance(data, dict):
        raise DocumentError(f"a flow document is a mapping, not {type(data).__name__}")
    return normalise_document(data)


def _node_document(node: Node) -> dict[str, Any]:
    dumped = node.model_dump(mode="json", exclude_unset=True)
    doc: dict[str, Any] = {"type": node.type}
    if dumped.get("params"):
        doc["params"] = dumped["params"]
    if dumped.get("next"):
        doc["next"] = dumped["next"]
    return doc


def as_document(flow: Flow | Mapping[str, Any]) -> dict[str, Any]:
    """A plain document: a `Flow` as its author wrote it (settings left at their default
    are not spelt out), a mapping copied as is."""
    if isinstance(flow, Flow):
        return {
            "name": flow.name,
            "entry": flow.entry,
            "nodes": {nid: _node_document(node) for nid, node in flow.nodes.items()},
            "layout": dict(flow.layout),
        }
    return json.loads(json.dumps(flow, default=str))  # type: ignore[no-any-return]


def dump_document(flow: Flow | Mapping[str, Any], fmt: Format = "yaml") -> str:
    """A flow (or a document) as YAML or JSON text."""
    doc = as_document(flow)
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
