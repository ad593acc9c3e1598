"""What an element sees while it runs: the call, the services, and the step's facts.

`FlowContext` wraps the `CallSession` for the elements: its `play`, `get_digit` and
`dial_extension` helpers record that the element *waited for the caller* (which resets
the interpreter's 50-step counter) and keep the call's facts (digits, who answered).
`FlowServices` bundles the outside world a flow may use — named schedules, the list of
extensions (menu direct dial), an HTTP client, an email sender — each optional: an
element whose service is missing records that in the trace and takes a fallback output.
`pbx/` fills it with real services; the simulator with recorded fakes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from flowpbx.flow.model import Flow
from flowpbx.flow.schedule import Schedule
from flowpbx.flow.session import CallEnded, CallSession, DialResult, OutboundCalls

__all__ = [
    "END",
    "EmailMessage",
    "FlowContext",
    "FlowServices",
    "HttpClient",
    "HttpReply",
    "HttpRequest",
    "PastCall",
]

END = "\x00end"
"""Output an element returns when it has finished the call itself (hangup, bridged)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """A request an element wants sent (webhook, caller-name lookup)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: str | None
    timeout_s: float
    tag: str = ""  # the node id that sends it (logs, simulator replies)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpReply:
    status: int
    body: str


class HttpClient(Protocol):
    """Sends a request; raises (any exception) on network error or timeout."""

    async def __call__(self, request: HttpRequest, /) -> HttpReply: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailMessage:
    to: tuple[str, ...]
    subject: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PastCall:
    """One earlier call of a caller, from call history (for `history_routing`)."""

    started_at: dt.datetime  # timezone-aware
    answered_by: str | None  # the extension that talked with the caller, if any
    talk_s: float = 0.0


CallHistory = Callable[[str, dt.datetime], Awaitable[Sequence[PastCall]]]
"""``(caller number, since) -> that caller's calls started since then`` (any order)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowServices:
    """The outside world available to a flow; every piece is optional."""

    schedule: Callable[[str], Schedule | None] | None = None
    extensions: Callable[[], Collection[str]] | None = None
    http: HttpClient | None = None
    send_email: Callable[[EmailMessage], Awaitable[None]] | None = None
    call_history: CallHistory | None = None
    timezone: str = "UTC"  # for {date} and {time}
    live: bool = True  # False in the simulator (trace wording only)


_NO_SERVICES = FlowServices()


class FlowContext:
    """Per-call state shared by the elements of one run."""

    __slots__ = (
        "_zone",
        "answered_by",
        "caller",
        "digits",
        "facts",
        "flow",
        "node_id",
        "pending_emails",
        "services",
        "session",
        "started",
        "variables",
        "voicemail_left",
        "waited",
    )

    def __init__(
        self, flow: Flow, session: CallSession, services: FlowServices | None = None
    ) -> None:
        self.flow = flow
        self.session = session
        self.services = services or _NO_SERVICES
        self.node_id = ""
        self.facts: dict[str, object] = {}
        self.waited = False
        self.digits = ""
        self.answered_by: str | None = None
        self.voicemail_left = False
        self.variables: dict[str, object] = {}
        self.pending_emails: list[EmailMessage] = []
        self.started = session.now()
        self.caller = session.caller  # as the call arrived, before any caller_id rewrite
        self._zone: ZoneInfo | None = None

    # -- waiting helpers (each marks the step as having waited for the caller)

    async def play(
        self, audio: str, *, repeat: int = 1, barge_in: bool = False, early: bool = False
    ) -> None:
        self.waited = True
        await self.session.play(audio, repeat=repeat, barge_in=barge_in, early=early)

    async def get_digit(self, timeout_s: float) -> str | None:
        self.waited = True
        digit = await self.session.get_digit(timeout_s)
        if digit is not None:
            self.digits += digit
        return digit

    async def dial_extension(self, extension: str, *, ring_timeout_s: float) -> DialResult:
        try:
            result = await self.session.dial_extension(extension, ring_timeout_s=ring_timeout_s)
        except CallEnded as ended:
            self.note_bridged_hangup(ended, extension)
            raise
        if result.outcome != "offline":  # offline returns at once: nothing was waited for
            self.waited = True
        if result.outcome == "answered":
            self.answered_by = result.answered_by or extension
        return result

    async def dial_number(
        self, number: str, *, ring_timeout_s: float, caller_id: str, confirm: bool
    ) -> DialResult | None:
        """Call an external number; None when the session cannot call out."""
        session = self.session
        if not isinstance(session, OutboundCalls):
            return None
        try:
            result = await session.dial_number(
                number, ring_timeout_s=ring_timeout_s, caller_id=caller_id, confirm=confirm
            )
        except CallEnded as ended:
            self.note_bridged_hangup(ended, number)
            raise
        if result.outcome != "failed":  # failed returns at once: nothing was waited for
            self.waited = True
        if result.outcome == "answered":
            self.answered_by = result.answered_by or number
        return result

    def note_bridged_hangup(self, ended: CallEnded, target: str) -> None:
        if ended.result is not None and ended.result.outcome == "answered":
            self.answered_by = ended.result.answered_by or target
            self.facts["answered_by"] = self.answered_by
            self.facts["talk_s"] = round(ended.result.talk_s, 1)

    # -- facts and templates

    def not_available(self, what: str) -> None:
        where = "on live calls" if self.services.live else "in the simulator"
        self.facts["note"] = f"{what} is not yet available {where}"

    def template_values(self) -> dict[str, object]:
        if self._zone is None:
            self._zone = ZoneInfo(self.services.timezone)
        local = self.session.now().astimezone(self._zone)
        values: dict[str, object] = {
            "caller": self.session.caller,
            "caller_name": self.session.caller_name or "",
            "did": self.session.did,
            "call_id": self.session.call_id,
            "digits": self.digits,
            "date": local.date().isoformat(),
            "time": local.strftime("%H:%M:%S"),
            "flow": self.flow.name,
            "queue_wait_s": self.variables.get("queue_wait_s", ""),
            "mailbox": self.variables.get("mailbox", ""),
        }
        return values

    def elapsed(self, now: dt.datetime | None = None) -> float:
        return ((now or self.session.now()) - self.started).total_seconds()
