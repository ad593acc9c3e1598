"""The contract between the flow interpreter and a call.

`pbx/` implements `CallSession` for real calls (SIP legs, RTP media); the simulator in
`flow/simulator.py` implements it for dry runs. Elements only ever talk to this protocol,
so one interpreter serves both worlds (ARCHITECTURE.md).

Exceptions raised by a session:

    CallEnded            the caller hung up (or the call was torn down); the interpreter
                         records it in the trace and stops.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from flowpbx.flow.model import QueueParams, VoicemailParams

DialOutcome = Literal["answered", "no_answer", "busy", "offline", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DialResult:
    """What happened when the session rang someone on behalf of the flow."""

    outcome: DialOutcome
    answered_by: str | None = None  # extension/number that answered
    talk_s: float = 0.0  # seconds bridged (0 when not answered)
    detail: str = ""  # e.g. "486 Busy Here", "not registered"


class CallEnded(Exception):
    """The caller's leg is gone; no more media or signalling can happen on this call.

    `result` is set when the caller hung up while bridged to someone the session rang: the
    element that rang them did reach its `answered` output.
    """

    def __init__(self, reason: str = "caller hung up", *, result: DialResult | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.result = result


class CallSession(Protocol):
    """One inbound call as the flow sees it.

    Digits: every DTMF key the caller presses (RFC 4733, INFO, in-band) is appended to a
    per-call buffer as soon as it arrives, whatever the flow is doing. `play(...,
    barge_in=True)` stops as soon as the buffer is non-empty; `get_digit` pops from it.
    """

    @property
    def call_id(self) -> str: ...

    @property
    def caller(self) -> str:
        """Caller number as presented (E.164 where the trunk gives it)."""
        ...

    @property
    def caller_name(self) -> str | None: ...

    @property
    def did(self) -> str:
        """The number that was called (E.164)."""
        ...

    def now(self) -> dt.datetime:
        """Wall-clock time, timezone-aware (UTC). Office hours are judged against it."""
        ...

    @property
    def answered(self) -> bool:
        """True once the caller's leg has been answered (200 OK sent)."""
        ...

    async def answer(self) -> None:
        """Answer the caller's leg (idempotent)."""
        ...

    async def play(
        self, audio: str, *, repeat: int = 1, barge_in: bool = False, early: bool = False
    ) -> None:
        """Play library audio `audio` `repeat` times. With barge_in, return early as soon as
        a digit is in the buffer. With early=True and the call not answered, send it as
        early media (183 Session Progress) instead of answering."""
        ...

    async def get_digit(self, timeout_s: float) -> str | None:
        """Pop the next digit from the buffer, waiting up to timeout_s; None on timeout."""
        ...

    def flush_digits(self) -> None:
        """Forget digits pressed so far."""
        ...

    async def dial_extension(self, extension: str, *, ring_timeout_s: float) -> DialResult:
        """Ring every registered contact of `extension` (the caller hears ringback), bridge
        the first to answer, and return when the bridged call ends because the callee hung
        up (outcome "answered"). Returns "busy", "no_answer" or "offline" without bridging.
        Raises CallEnded if the caller hangs up meanwhile."""
        ...

    def set_caller(self, number: str, name: str | None) -> None:
        """Change the caller's number and display name as presented from now on (to the
        phones rung, in templates and in call history). Added for the `caller_id` and
        `caller_lookup` elements."""
        ...

    async def hangup(self, reason: str = "") -> None:
        """End the call politely (BYE when answered, a final response otherwise)."""
        ...


@runtime_checkable
class OutboundCalls(Protocol):
    """What a session offers when it can call external numbers through a trunk (the
    `call_phone` element). Optional: a session without it makes `call_phone` fail politely.
    """

    async def dial_number(
        self, number: str, *, ring_timeout_s: float, caller_id: str, confirm: bool
    ) -> DialResult:
        """Call `number` out through the trunk presenting `caller_id`, bridge it when
        answered (with `confirm`, only once the callee pressed 1) and return when the
        bridged call ends ("answered"); otherwise "no_answer", "busy" or "failed" without
        bridging. Raises CallEnded if the caller hangs up meanwhile."""
        ...


QueueOutcome = Literal["answered", "timeout", "full", "empty", "exit"]


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueResult:
    """How a caller left a queue (SPEC §3 `queue` outputs)."""

    outcome: QueueOutcome
    wait_s: float = 0.0  # time in the waiting line
    answered_by: str | None = None
    talk_s: float = 0.0


@runtime_checkable
class QueueCalls(Protocol):
    """What a session offers when it can put the caller in a queue (the `queue` element).
    Optional: without it the element plays the hold audio once and takes ``timeout``."""

    async def run_queue(self, name: str, params: QueueParams) -> QueueResult:
        """Put the caller in the waiting line `name` (shared by queue elements of that
        name) with `params` (members, strategy, timers, hold audio, exit key) until a member
        answers and the bridged call ends ("answered"), `max_wait_s` passes ("timeout"),
        the line is full ("full", at once), nobody can take calls and `join_empty` is off
        ("empty", at once) or the caller presses the exit key ("exit"). Raises CallEnded
        if the caller hangs up meanwhile (with `result` when bridged to a member)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailResult:
    """What came of the caller's chance to leave a message."""

    recorded: bool  # a message was kept (at least `min_length_s` long)
    duration_s: float = 0.0
    message_id: int | None = None
    reason: str = ""  # why nothing was kept, or how the recording ended


@runtime_checkable
class VoicemailCalls(Protocol):
    """What a session offers when it can record voicemail (the `voicemail` element, mode
    ``leave``). Optional: without it the element plays the greeting and takes
    ``no_message``."""

    async def leave_voicemail(self, params: VoicemailParams) -> VoicemailResult:
        """Greeting, beep, record until ``#``, silence, max length or hang-up; keep the
        message in `params.mailbox` (and email it) when long enough. Returns normally even
        when the caller hung up to end the message — the next call operation raises
        CallEnded — so the flow knows a message was left."""
        ...


@runtime_checkable
class VoicemailListening(Protocol):
    """What a session offers when a caller can listen to a mailbox (the `voicemail`
    element, mode ``listen``, and `*97`). Optional: without it the element plays the
    greeting and takes ``done``."""

    async def listen_voicemail(self, params: VoicemailParams) -> str:
        """The mailbox menu for `params.mailbox` with `params.pin` (when set): counts, then
        keys 1 play, 5 repeat, 4 previous, 6 next, 7 delete, 9 save, * help, # done.
        Returns how it ended ("done", "empty", "wrong_pin")."""
        ...
