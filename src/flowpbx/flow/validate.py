"""Flow validation: every problem of a flow document, each with its node and field.

`validate_flow(flow_or_dict, directory)` returns a `ValidationReport` of errors (the flow
cannot be published) and warnings (it can, but look). Problem codes are stable ids:

errors
    invalid_document, no_nodes, bad_node, bad_node_id  the document's shape is wrong
    unknown_type        a node's ``type`` is not an element type
    missing_setting     a required setting is absent
    bad_setting         a setting has a wrong value
    bad_output          ``next`` is malformed
    unknown_output      an output name the element does not have
    missing_target      an output points to a node that does not exist
    entry_missing       ``entry`` names no node
    entry_not_numbers   the entry is not a ``numbers`` element
    unreachable         no path from the entry leads to the node
    audio_missing, extension_missing, mailbox_missing, schedule_missing
                        the directory has no such audio / extension / mailbox / schedule
    pin_missing         a ``listen`` voicemail without a ``pin`` (its own or the mailbox's)
                        and without an explicit ``pin_required: false``: any caller could
                        hear the mailbox
    number_claimed      a number of this flow already leads into another flow
    loop_without_wait   a loop the call can go round without ever waiting for the caller:
                        through outputs taken at once (`model.quiet_outputs`: a time
                        routing's, ``offline`` of a call_sip, ``empty`` of a queue, ...)
warnings
    output_unconnected  an output leads nowhere (a call taking it is hung up)
    no_numbers          the entry lists no numbers: no call reaches this flow
    duplicate_number    a number listed twice in this flow
    unknown_placeholder a ``{name}`` in a template that is not a known placeholder
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flowpbx.flow.model import (
    HTTP_REPLY_OUTPUTS,
    CallerLookupNode,
    CallSipNode,
    EmailNode,
    Flow,
    HttpNotifyNode,
    MenuNode,
    Node,
    NumbersNode,
    PlayNode,
    Problem,
    QueueNode,
    TimeRoutingNode,
    VoicemailNode,
    check_document,
    node_outputs,
    quiet_outputs,
    structural_problems,
)
from flowpbx.flow.templates import PLACEHOLDERS

__all__ = ["Directory", "ValidationReport", "validate_flow"]

_BRACED_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KNOWN = frozenset(PLACEHOLDERS)


class Directory(Protocol):
    """What validation needs to know about the company (implemented over `store/`).

    A directory may also offer ``mailbox_has_pin(number) -> bool``; without it no mailbox
    counts as having a PIN of its own (a ``listen`` node then needs its own ``pin``)."""

    def audio_exists(self, name: str) -> bool: ...

    def extension_exists(self, number: str) -> bool: ...

    def mailbox_exists(self, number: str) -> bool: ...

    def schedule_exists(self, name: str) -> bool: ...

    def number_owner(self, did: str) -> str | None:
        """Name of the flow this number leads into, or None."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    errors: list[Problem]
    warnings: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": [p.to_dict() for p in self.errors],
            "warnings": [p.to_dict() for p in self.warnings],
        }


def _edges(nodes: Mapping[str, Node], raw_next: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for node_id, node in nodes.items():
        edges[node_id] = {t for t in node.next.values() if t is not None}
    for node_id, targets in raw_next.items():
        edges.setdefault(node_id, set()).update(targets)
    return edges


def _reachable(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for target in edges.get(stack.pop(), ()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _loops_without_wait(nodes: Mapping[str, Node]) -> list[list[str]]:
    """Groups of nodes that can reach each other through outputs taken without waiting
    for the caller (strongly connected over `quiet_outputs`)."""
    edges: dict[str, set[str]] = {}
    for nid, node in nodes.items():
        quiet_out = quiet_outputs(node)
        edges[nid] = {
            t for out, t in node.next.items() if out in quiet_out and t is not None and t in nodes
        }
    quiet = set(edges)
    # reach[n]: nodes reachable from n in one step or more
    reach: dict[str, set[str]] = {}
    for nid in quiet:
        found: set[str] = set()
        for succ in edges[nid]:
            found |= _reachable(succ, edges)
        reach[nid] = found
    loops: list[list[str]] = []
    done: set[str] = set()
    for nid in sorted(quiet):
        if nid in done or nid not in reach[nid]:
            continue
        group = sorted({nid} | {o for o in reach[nid] if nid in reach[o]})
        done.update(group)
        loops.append(group)
    return loops


def _template_fields(node: Node) -> Iterable[tuple[str, str]]:
    if isinstance(node, HttpNotifyNode):
        yield "params.url", node.params.url
        if node.params.body is not None:
            yield "params.body", node.params.body
    elif isinstance(node, CallerLookupNode):
        yield "params.url", node.params.url
    elif isinstance(node, EmailNode):
        yield "params.subject", node.params.subject
        yield "params.body", node.params.body


def _directory_problems(
    flow_name: str, node_id: str, node: Node, directory: Directory
) -> Iterable[Problem]:
    def audio(field: str, name: str | None) -> Iterable[Problem]:
        if name is not None and not directory.audio_exists(name):
            yield Problem(
                node=node_id,
                field=field,
                code="audio_missing",
                message=f"{node_id}: audio {name!r} is not in the library",
            )

    def extension(field: str, number: str) -> Iterable[Problem]:
        if not directory.extension_exists(number):
            yield Problem(
                node=node_id,
                field=field,
                code="extension_missing",
                message=f"{node_id}: extension {number!r} does not exist",
            )

    if isinstance(node, PlayNode):
        yield from audio("params.audio", node.params.audio)
    elif isinstance(node, MenuNode):
        yield from audio("params.prompt", node.params.prompt)
        yield from audio("params.invalid_prompt", node.params.invalid_prompt)
    elif isinstance(node, VoicemailNode):
        yield from audio("params.greeting", node.params.greeting)
        if not directory.mailbox_exists(node.params.mailbox):
            yield Problem(
                node=node_id,
                field="params.mailbox",
                code="mailbox_missing",
                message=f"{node_id}: mailbox {node.params.mailbox!r} does not exist",
            )
        vm = node.params
        has_pin = getattr(directory, "mailbox_has_pin", None)  # optional in a Directory
        box_pin = bool(has_pin(vm.mailbox)) if callable(has_pin) else False
        if vm.mode == "listen" and not vm.pin and not box_pin and vm.pin_required:
            yield Problem(
                node=node_id,
                field="params.pin",
                code="pin_missing",
                message=f"{node_id}: listening without a PIN lets any caller hear mailbox "
                f"{vm.mailbox!r}; set a pin (or pin_required: false)",
            )
    elif isinstance(node, CallSipNode):
        yield from extension("params.extension", node.params.extension)
    elif isinstance(node, QueueNode):
        yield from audio("params.hold_audio", node.params.hold_audio)
        for i, member in enumerate(node.params.member_list()):
            yield from extension(f"params.members.{i}", member.extension)
        if not node.params.members and node.params.name is None:
            yield Problem(
                node=node_id,
                field="params.members",
                code="missing_setting",
                message=f"{node_id}: a queue needs members (or the name of a queue that has them)",
            )
    elif isinstance(node, TimeRoutingNode):
        p = node.params
        if p.schedule is not None:
            if not directory.schedule_exists(p.schedule):
                yield Problem(
                    node=node_id,
                    field="params.schedule",
                    code="schedule_missing",
                    message=f"{node_id}: schedule {p.schedule!r} does not exist",
                )
        elif p.hours is None and p.override is None:
            yield Problem(
                node=node_id,
                field="params.schedule",
                code="missing_setting",
                message=f"{node_id}: choose a schedule or set opening hours",
            )
    elif isinstance(node, NumbersNode):
        seen: set[str] = set()
        for i, did in enumerate(node.params.numbers):
            field = f"params.numbers.{i}"
            if did in seen:
                continue
            seen.add(did)
            owner = directory.number_owner(did)
            if owner is not None and owner != flow_name:
                yield Problem(
                    node=node_id,
                    field=field,
                    code="number_claimed",
                    message=f"{node_id}: number {did} already leads into flow {owner!r}",
                )


def _warnings(flow: Flow) -> list[Problem]:
    warnings: list[Problem] = []
    seen_numbers: set[str] = set()
    for node_id, node in flow.nodes.items():
        for output in node_outputs(node):
            if isinstance(node, HttpNotifyNode) and output in HTTP_REPLY_OUTPUTS:
                continue  # reply values are optional by design
            if node.next.get(output) is None:
                warnings.append(
                    Problem(
                        node=node_id,
                        field=f"next.{output}",
                        code="output_unconnected",
                        message=f"{node_id}: output {output!r} is not connected (calls hang up)",
                    )
                )
        if isinstance(node, NumbersNode):
            if not node.params.numbers:
                warnings.append(
                    Problem(
                        node=node_id,
                        field="params.numbers",
                        code="no_numbers",
                        message=f"{node_id}: no numbers lead into this flow",
                    )
                )
            for i, did in enumerate(node.params.numbers):
                if did in seen_numbers:
                    warnings.append(
                        Problem(
                            node=node_id,
                            field=f"params.numbers.{i}",
                            code="duplicate_number",
                            message=f"{node_id}: number {did} is listed twice",
                        )
                    )
                seen_numbers.add(did)
        for field, text in _template_fields(node):
            for name in _BRACED_RE.findall(text):
                if name not in _KNOWN:
                    warnings.append(
                        Problem(
                            node=node_id,
                            field=field,
                            code="unknown_placeholder",
                            message=f"{node_id}: {{{name}}} is not a known placeholder "
                            f"(known: {', '.join(PLACEHOLDERS)})",
                        )
                    )
    return warnings


def validate_flow(flow_or_dict: Flow | Mapping[str, Any], directory: Directory) -> ValidationReport:
    """Every problem of a flow document (a dict as stored, or a loaded `Flow`)."""
    raw_next: dict[str, list[str]] = {}
    if not isinstance(flow_or_dict, Flow | Mapping):
        kind = type(flow_or_dict).__name__
        problem = Problem(
            node=None,
            field=None,
            code="invalid_document",
            message=f"a flow document is an object with name, entry and nodes, not {kind}",
        )
        return ValidationReport(errors=[problem], warnings=[])
    if isinstance(flow_or_dict, Flow):
        flow: Flow | None = flow_or_dict
        errors = structural_problems(flow_or_dict.entry, flow_or_dict.nodes)
    else:
        flow, errors = check_document(flow_or_dict)
        raw_nodes = flow_or_dict.get("nodes")
        if flow is not None and isinstance(raw_nodes, Mapping):
            for node_id, raw in raw_nodes.items():  # follow nodes that failed to parse
                if node_id not in flow.nodes and isinstance(raw, Mapping):
                    nxt = raw.get("next")
                    if isinstance(nxt, Mapping):
                        raw_next[node_id] = [t for t in nxt.values() if isinstance(t, str)]
    if flow is None:
        return ValidationReport(errors=errors, warnings=[])

    edges = _edges(flow.nodes, raw_next)
    if flow.entry in edges:
        reached = _reachable(flow.entry, edges)
        for node_id in flow.nodes:
            if node_id not in reached:
                errors.append(
                    Problem(
                        node=node_id,
                        field=None,
                        code="unreachable",
                        message=f"{node_id}: no path from the entry leads here",
                    )
                )
    for node_id, node in flow.nodes.items():
        errors.extend(_directory_problems(flow.name, node_id, node, directory))
    for loop in _loops_without_wait(flow.nodes):
        errors.append(
            Problem(
                node=loop[0],
                field=None,
                code="loop_without_wait",
                message=f"loop {' → '.join(loop)} never waits for the caller; a call would go "
                "round it until the 50-step limit hangs it up",
            )
        )
    return ValidationReport(errors=errors, warnings=_warnings(flow))
