"""The call-flow document: pydantic models, element settings and outputs (SPEC §3).

A flow document is ``{name, entry, nodes: {id: {type, params, next: {output: node_id}},
layout}}``. Every element type has its own settings model (with the defaults of SPEC §3)
and a fixed set of outputs; only a menu's key outputs are chosen by the author. An output
may be absent from ``next`` or mapped to ``null``: either way it is *not connected* and a
call taking it is hung up politely.

`load_flow` turns a plain dict into a `Flow` or raises `FlowError` listing every
document problem (node + field + stable code). Graph rules that need the company's
directory (audio, extensions, ...) and reachability live in `validate.py`.

Exceptions:

    ValueError
     └── FlowError          the document is not a runnable flow; `.problems` lists why
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from flowpbx.flow.ui_hints import annotate

__all__ = [
    "ELEMENT_TYPES",
    "MENU_KEYS",
    "WAITING_TYPES",
    "AnyNode",
    "Flow",
    "FlowError",
    "Node",
    "Problem",
    "ScheduleSpec",
    "flow_json_schema",
    "load_flow",
    "node_outputs",
]


# ----------------------------------------------------------------------------- problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong (or worth a look) in a flow document.

    `code` is a stable id the UI and tests rely on; `field` is a dotted path inside the
    node (``params.audio``, ``next.2``, ``type``) or a top-level key (``entry``).
    """

    node: str | None
    field: str | None
    code: str
    message: str

    def to_dict(self) -> dict[str, str | None]:
        return {"node": self.node, "field": self.field, "code": self.code, "message": self.message}


class FlowError(ValueError):
    """A flow document that cannot be run; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0].message if problems else "invalid flow"
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)


# ----------------------------------------------------------------------------- settings

_STRICT = ConfigDict(extra="forbid", frozen=True)
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES: tuple[DayName, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Interval: TypeAlias = tuple[str, str]
MENU_KEYS = frozenset("0123456789*#")
MenuKey = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]
QueueStrategy = Literal[
    "ring_all", "fewest_calls", "least_recent", "round_robin", "linear", "random"
]
Seconds = Annotated[float, Field(gt=0, le=86400)]
EmailAddress = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


def _check_intervals(value: list[Interval]) -> list[Interval]:
    """HH:MM pairs; an end before the start is an overnight range (``22:00``-``06:00``
    opens at 22:00 and closes at 06:00 the next day)."""
    for start, end in value:
        if not _TIME_RE.match(start) or not _TIME_RE.match(end):
            raise ValueError(f"times must be HH:MM, got {start!r}-{end!r}")
        if end == start or start == "24:00":
            raise ValueError(f"interval {start}-{end} is empty")
    return value


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class Holiday(BaseModel):
    """A date with its own opening hours (none = closed all day)."""

    model_config = _STRICT
    date: dt.date
    hours: list[Interval] = Field(default_factory=list)

    _v_hours = field_validator("hours")(_check_intervals)


class ScheduleSpec(BaseModel):
    """Office hours: weekly hours in a time zone plus holidays (SPEC §2.1 ``schedules``)."""

    model_config = _STRICT
    timezone: str = "UTC"
    hours: dict[DayName, list[Interval]] = Field(default_factory=dict)
    holidays: list[dt.date | Holiday] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _check_zone(value)

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: dict[DayName, list[Interval]]) -> dict[DayName, list[Interval]]:
        for intervals in value.values():
            _check_intervals(intervals)
        return value


class NumbersParams(BaseModel):
    """`numbers` — the entry: which of My numbers lead into this flow."""

    model_config = _STRICT
    numbers: list[str] = Field(default_factory=list)


class CallPhoneParams(BaseModel):
    """`call_phone` — ring an external number through a trunk."""

    model_config = _STRICT
    number: str = Field(pattern=r"^\+?[0-9]{2,20}$")
    ring_timeout_s: Seconds = 30
    caller_id: str = "caller"  # "caller" / "did" / a number of My numbers
    confirm: bool = False


class CallSipParams(BaseModel):
    """`call_sip` — ring an extension's registered phones."""

    model_config = _STRICT
    extension: str = Field(pattern=r"^\d{2,6}$")
    ring_timeout_s: Seconds = 20


class VoicemailParams(BaseModel):
    """`voicemail` — leave a message in, or listen to, a mailbox."""

    model_config = _STRICT
    mode: Literal["leave", "listen"] = "leave"
    mailbox: str = Field(min_length=1)
    greeting: str = "voicemail-greeting"
    max_length_s: Seconds = 180
    min_length_s: float = Field(default=1, ge=0)
    silence_stop_s: Seconds = 10
    beep: bool = True
    email_to: list[EmailAddress] = Field(default_factory=list)
    pin: str | None = None
    # `listen` without a PIN (this `pin` or the mailbox's) is a validation error unless
    # this is explicitly false: an open mailbox is a choice, not an oversight
    pin_required: bool = True


class PlayParams(BaseModel):
    """`play` — play library audio; ``answer=false`` sends it as early media."""

    model_config = _STRICT
    audio: str = Field(min_length=1)
    repeat: int = Field(default=1, ge=1, le=100)
    answer: bool = True


class MenuParams(BaseModel):
    """`menu` — prompt, wait for a key, retry on timeout/invalid key.

    `keys` lists the keys the caller may press; by default the keys connected in `next`.
    A key listed here but not connected hangs the call up when pressed.
    """

    model_config = _STRICT
    prompt: str = Field(min_length=1)
    timeout_s: Seconds = 5
    retries: int = Field(default=3, ge=0, le=20)
    invalid_prompt: str | None = None
    direct_dial: bool = False
    keys: list[MenuKey] | None = None


class TimeRoutingParams(BaseModel):
    """`time_routing` — a named schedule, or inline hours; `override` forces the answer."""

    model_config = _STRICT
    schedule: str | None = None
    timezone: str | None = None
    hours: dict[DayName, list[Interval]] | None = None
    holidays: list[dt.date | Holiday] = Field(default_factory=list)
    override: Literal["open", "closed"] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)

    @field_validator("hours")
    @classmethod
    def _valid_hours(
        cls, value: dict[DayName, list[Interval]] | None
    ) -> dict[DayName, list[Interval]] | None:
        for intervals in (value or {}).values():
            _check_intervals(intervals)
        return value

    def inline_spec(self) -> ScheduleSpec | None:
        """The inline schedule, when no named schedule is used."""
        if self.schedule is not None:
            return None
        return ScheduleSpec(
            timezone=self.timezone or "UTC", hours=self.hours or {}, holidays=self.holidays
        )


class QueueMember(BaseModel):
    model_config = _STRICT
    extension: str = Field(pattern=r"^\d{2,6}$")
    penalty: int = Field(default=0, ge=0)


class QueueParams(BaseModel):
    """`queue` — callers wait in line while free members are rung by `strategy`."""

    model_config = _STRICT
    name: str | None = None  # default: flow name + node id
    members: list[QueueMember | Annotated[str, Field(pattern=r"^\d{2,6}$")]] = Field(
        default_factory=list
    )
    strategy: QueueStrategy = "ring_all"
    member_timeout_s: Seconds = 15
    retry_s: float = Field(default=5, ge=0)
    wrapup_s: float = Field(default=0, ge=0)
    max_wait_s: Seconds = 300
    max_callers: int = Field(default=0, ge=0)
    join_empty: bool = False
    hold_audio: str = "hold-music"
    announce_position_s: float = Field(default=0, ge=0)
    exit_key: MenuKey | None = None

    def member_list(self) -> list[QueueMember]:
        return [m if isinstance(m, QueueMember) else QueueMember(extension=m) for m in self.members]


class HttpNotifyParams(BaseModel):
    """`http_notify` — a webhook; the reply body ``1``..``5`` picks the output."""

    model_config = _STRICT
    url: str = Field(pattern=r"^https?://")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None  # template; default: JSON of the call's facts
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 3


class CallerLookupParams(BaseModel):
    """`caller_lookup` — fetch the caller's name from a URL."""

    model_config = _STRICT
    url: str = Field(pattern=r"^https?://")
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 2
    json_field: str | None = None
    cache_s: float = Field(default=3600, ge=0)


class CallerIdParams(BaseModel):
    """`caller_id` — rewrite the caller's number and name."""

    model_config = _STRICT
    prefix: str = Field(default="", pattern=r"^\+?[0-9]*$")
    suffix: str = Field(default="", pattern=r"^[0-9]*$")
    strip: int = Field(default=0, ge=0, le=15)
    name_prefix: str = ""


class EmailParams(BaseModel):
    """`email` — send a templated email now, or when the call ends unanswered."""

    model_config = _STRICT
    to: list[EmailAddress] = Field(min_length=1)
    subject: str = "Call from {caller} to {did}"
    body: str = "Call from {caller} ({caller_name}) to {did} on {date} at {time}."
    when: Literal["now", "unanswered"] = "now"


class HistoryRoutingParams(BaseModel):
    """`history_routing` — ring whoever last talked to this caller."""

    model_config = _STRICT
    lookback_days: int = Field(default=30, ge=1, le=3650)
    ring_timeout_s: Seconds = 20
    min_talk_s: float = Field(default=0, ge=0)


class HangupParams(BaseModel):
    model_config = _STRICT


# ----------------------------------------------------------------------------- nodes

Next = dict[str, str | None]


class _NodeBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    next: Next = Field(default_factory=dict)


class NumbersNode(_NodeBase):
    type: Literal["numbers"]
    params: NumbersParams = Field(default_factory=NumbersParams)


class CallPhoneNode(_NodeBase):
    type: Literal["call_phone"]
    params: CallPhoneParams


class CallSipNode(_NodeBase):
    type: Literal["call_sip"]
    params: CallSipParams


class VoicemailNode(_NodeBase):
    type: Literal["voicemail"]
    params: VoicemailParams


class PlayNode(_NodeBase):
    type: Literal["play"]
    params: PlayParams


class MenuNode(_NodeBase):
    type: Literal["menu"]
    params: MenuParams

    def menu_keys(self) -> frozenset[str]:
        """Keys the caller may press: declared ones plus connected key outputs."""
        declared = self.params.keys or ()
        return frozenset(declared).union(k for k in self.next if k in MENU_KEYS)


class TimeRoutingNode(_NodeBase):
    type: Literal["time_routing"]
    params: TimeRoutingParams = Field(default_factory=TimeRoutingParams)


class QueueNode(_NodeBase):
    type: Literal["queue"]
    params: QueueParams = Field(default_factory=QueueParams)


class HttpNotifyNode(_NodeBase):
    type: Literal["http_notify"]
    params: HttpNotifyParams


class CallerLookupNode(_NodeBase):
    type: Literal["caller_lookup"]
    params: CallerLookupParams


class CallerIdNode(_NodeBase):
    type: Literal["caller_id"]
    params: CallerIdParams = Field(default_factory=CallerIdParams)


class EmailNode(_NodeBase):
    type: Literal["email"]
    params: EmailParams


class HistoryRoutingNode(_NodeBase):
    type: Literal["history_routing"]
    params: HistoryRoutingParams = Field(default_factory=HistoryRoutingParams)


class HangupNode(_NodeBase):
    type: Literal["hangup"]
    params: HangupParams = Field(default_factory=HangupParams)


Node: TypeAlias = (
    NumbersNode
    | CallPhoneNode
    | CallSipNode
    | VoicemailNode
    | PlayNode
    | MenuNode
    | TimeRoutingNode
    | QueueNode
    | HttpNotifyNode
    | CallerLookupNode
    | CallerIdNode
    | EmailNode
    | HistoryRoutingNode
    | HangupNode
)
AnyNode = Annotated[Node, Field(discriminator="type")]

NODE_CLASSES: dict[str, type[_NodeBase]] = {
    "numbers": NumbersNode,
    "call_phone": CallPhoneNode,
    "call_sip": CallSipNode,
    "voicemail": VoicemailNode,
    "play": PlayNode,
    "menu": MenuNode,
    "time_routing": TimeRoutingNode,
    "queue": QueueNode,
    "http_notify": HttpNotifyNode,
    "caller_lookup": CallerLookupNode,
    "caller_id": CallerIdNode,
    "email": EmailNode,
    "history_routing": HistoryRoutingNode,
    "hangup": HangupNode,
}
ELEMENT_TYPES = frozenset(NODE_CLASSES)

# Fixed outputs per type (SPEC §3). Menu keys and voicemail modes are handled in node_outputs.
_FIXED_OUTPUTS: dict[str, tuple[str, ...]] = {
    "numbers": ("next",),
    "call_phone": ("answered", "no_answer", "busy", "failed"),
    "call_sip": ("answered", "no_answer", "busy", "offline"),
    "play": ("next",),
    "menu": ("timeout", "invalid"),
    "time_routing": ("true", "false"),
    "queue": ("answered", "timeout", "full", "empty", "exit"),
    "http_notify": ("1", "2", "3", "4", "5", "default"),
    "caller_lookup": ("next",),
    "caller_id": ("next",),
    "email": ("next",),
    "history_routing": ("answered", "not_found", "no_answer"),
    "hangup": (),
}
_VOICEMAIL_OUTPUTS = {"leave": ("recorded", "no_message"), "listen": ("done",)}
HTTP_REPLY_OUTPUTS = frozenset("12345")

# Types that always wait for the caller (or for time) when they run; used by the
# "loop that never waits" rule. http_notify waits only when one of 1..5 is connected.
WAITING_TYPES = frozenset(
    {"play", "menu", "call_phone", "call_sip", "queue", "voicemail", "history_routing"}
)


def node_outputs(node: Node) -> tuple[str, ...]:
    """Every output name valid for this node (menu: its keys, then timeout/invalid)."""
    if isinstance(node, MenuNode):
        return (*sorted(node.menu_keys()), "timeout", "invalid")
    if isinstance(node, VoicemailNode):
        return _VOICEMAIL_OUTPUTS[node.params.mode]
    return _FIXED_OUTPUTS[node.type]


# Outputs some elements take at once, without waiting for the caller (nobody to ring,
# the queue is full, the call could not be placed, no earlier call found).
_QUIET_OUTPUTS: dict[str, frozenset[str]] = {
    "call_phone": frozenset({"failed"}),
    "call_sip": frozenset({"offline"}),
    "queue": frozenset({"full", "empty"}),
    "history_routing": frozenset({"not_found", "no_answer"}),
    "play": frozenset(),
    "menu": frozenset(),
    "voicemail": frozenset(),
}


def quiet_outputs(node: Node) -> frozenset[str]:
    """Outputs this node may take without having waited for the caller (or the network):
    a loop through quiet outputs only would spin until the 50-step guard."""
    fixed = _QUIET_OUTPUTS.get(node.type)
    if fixed is not None:
        return fixed
    if node_waits(node):  # http_notify waiting for its reply
        return frozenset()
    return frozenset(node_outputs(node))


def node_waits(node: Node) -> bool:
    """Whether running this node waits for the caller (or the network) — static view."""
    if node.type in WAITING_TYPES:
        return True
    if isinstance(node, HttpNotifyNode):
        return any(node.next.get(k) for k in HTTP_REPLY_OUTPUTS)
    return False


# ----------------------------------------------------------------------------- the flow


class Flow(BaseModel):
    """A whole call flow document."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=200)
    entry: str = Field(min_length=1)
    nodes: dict[Annotated[str, Field(min_length=1, max_length=100)], AnyNode]
    layout: dict[str, Any] = Field(default_factory=dict)


_NODE_ADAPTER: TypeAdapter[Node] = TypeAdapter(AnyNode)


def flow_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the flow document, for the web editor's forms."""
    schema = Flow.model_json_schema()
    annotate(schema)  # labels, help, order and pickers for the editor (flow/ui_hints.py)
    schema["x-outputs"] = {t: list(o) for t, o in _FIXED_OUTPUTS.items()}
    schema["x-outputs"]["voicemail"] = {m: list(o) for m, o in _VOICEMAIL_OUTPUTS.items()}
    schema["x-menu-keys"] = sorted(MENU_KEYS)
    return schema


def _loc_to_field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) if loc else ""


def _pydantic_problems(node_id: str | None, exc: ValidationError, *, skip: int) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])[skip:]
        code = "missing_setting" if err["type"] == "missing" else "bad_setting"
        if loc and loc[0] == "next":
            code = "bad_output"
        field = _loc_to_field(loc) or None
        msg = err["msg"]
        where = f"{node_id}.{field}" if node_id and field else (node_id or field or "flow")
        problems.append(Problem(node=node_id, field=field, code=code, message=f"{where}: {msg}"))
    return problems


def parse_nodes(data: Mapping[str, Any]) -> tuple[dict[str, Node], list[Problem]]:
    """Parse each node on its own so one bad node does not hide the others' problems."""
    problems: list[Problem] = []
    nodes: dict[str, Node] = {}
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, Mapping) or not raw_nodes:
        problems.append(
            Problem(node=None, field="nodes", code="no_nodes", message="the flow has no nodes")
        )
        return nodes, problems
    for node_id, raw in raw_nodes.items():
        if not isinstance(node_id, str) or not node_id:
            problems.append(
                Problem(node=None, field="nodes", code="bad_node_id", message="bad node id")
            )
            continue
        if not isinstance(raw, Mapping):
            problems.append(
                Problem(
                    node=node_id, field=None, code="bad_node", message=f"{node_id}: not an object"
                )
            )
            continue
        type_ = raw.get("type")
        if not isinstance(type_, str) or type_ not in ELEMENT_TYPES:
            problems.append(
                Problem(
                    node=node_id,
                    field="type",
                    code="unknown_type",
                    message=f"{node_id}: unknown element type {type_!r}",
                )
            )
            continue
        try:
            node = NODE_CLASSES[type_].model_validate(dict(raw))
        except ValidationError as exc:
            problems.extend(_pydantic_problems(node_id, exc, skip=0))
            continue
        nodes[node_id] = node  # type: ignore[assignment]
    return nodes, problems


def structural_problems(
    entry: str, nodes: Mapping[str, Node], all_ids: frozenset[str] | None = None
) -> list[Problem]:
    """Problems of outputs and entry that make a parsed flow unrunnable.

    `all_ids` are every node id of the document, including nodes that failed to parse
    (their own problems are reported already; do not call them missing too).
    """
    ids = all_ids if all_ids is not None else frozenset(nodes)
    problems: list[Problem] = []
    for node_id, node in nodes.items():
        valid = node_outputs(node)
        for output, target in node.next.items():
            if output not in valid:
                allowed = ", ".join(valid) or "none"
                problems.append(
                    Problem(
                        node=node_id,
                        field=f"next.{output}",
                        code="unknown_output",
                        message=f"{node_id}: {node.type} has no output {output!r} "
                        f"(outputs: {allowed})",
                    )
                )
            elif target is not None and target not in ids:
                problems.append(
                    Problem(
                        node=node_id,
                        field=f"next.{output}",
                        code="missing_target",
                        message=f"{node_id}: output {output!r} points to missing node {target!r}",
                    )
                )
    if entry not in ids:
        problems.append(
            Problem(
                node=None,
                field="entry",
                code="entry_missing",
                message=f"entry node {entry!r} does not exist",
            )
        )
    elif entry in nodes and nodes[entry].type != "numbers":
        problems.append(
            Problem(
                node=entry,
                field="entry",
                code="entry_not_numbers",
                message=f"entry node {entry!r} must be a 'numbers' element",
            )
        )
    return problems


def check_document(data: Mapping[str, Any]) -> tuple[Flow | None, list[Problem]]:
    """Parse a flow document; return the flow (None when unusable) and its problems."""
    problems: list[Problem] = []
    top = {k: v for k, v in data.items() if k != "nodes"}
    top["nodes"] = {}
    try:
        shell = Flow.model_validate(top)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(None, exc, skip=0))
        shell = None
    nodes, node_problems = parse_nodes(data)
    problems.extend(node_problems)
    if shell is None:
        return None, problems
    raw = data.get("nodes")
    all_ids = frozenset(k for k in raw if isinstance(k, str)) if isinstance(raw, Mapping) else None
    problems.extend(structural_problems(shell.entry, nodes, all_ids))
    flow = Flow.model_construct(
        name=shell.name, entry=shell.entry, nodes=nodes, layout=shell.layout
    )
    return flow, problems


def load_flow(data: Mapping[str, Any]) -> Flow:
    """Parse and check a flow document; raise `FlowError` with every problem found."""
    flow, problems = check_document(data)
    if problems or flow is None:
        raise FlowError(problems)
    return flow
