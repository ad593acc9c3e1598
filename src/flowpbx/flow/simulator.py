"""Dry runs of a flow: a `CallSession` in virtual time, driven by a script.

`simulate(...)` runs the *same* `run_flow` as live calls on a `SimulatedSession`:

- time is virtual: it starts at `at` and advances by what would take time on a call
  (a prompt's duration from `audio_duration(name)`, default 1 s; waiting for a key;
  ringing; an HTTP reply 0.1 s, a timeout its `timeout_s`). Nothing sleeps.
- `keys` is what the caller presses, one character per key, each "pressed" when the flow
  next waits for a digit, or during a prompt the caller may barge into. Besides
  ``0-9 * #``: ``_`` lets one wait for a digit time out, ``h`` hangs up at that point.
  When the keys run out the caller presses nothing more.
- `answers` maps an extension (or an external number, for `call_phone`) to what happens
  when it is rung: ``answered`` (the default), ``no_answer``, ``busy``, ``offline``
  (extensions), ``failed`` (numbers).
- `http_replies` maps a node id (or a request URL) to the reply body (``"1"``), an HTTP
  status (``500``) or ``None`` (timeout).
- queues ring their members by the real strategy; `answers` decides each member (``busy``
  = on a call, ``offline`` = not registered); ``_`` or ``#`` as the next key when a
  voicemail greeting ends: silence (no message) or a message ended by ``#``.
- `history` is the caller's earlier calls for `history_routing`: `PastCall`s or mappings
  ``{"answered_by": "102", "days_ago": 2, "talk_s": 60}`` (or ``"started_at"``, ISO 8601).

The simulated caller hangs up after `max_duration_s` of virtual time, so a flow that
waits forever still ends.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowpbx.flow.context import EmailMessage, FlowServices, HttpReply, HttpRequest, PastCall
from flowpbx.flow.interpreter import FlowRun, run_flow
from flowpbx.flow.model import Flow, QueueParams, VoicemailParams, load_flow
from flowpbx.flow.queue_policy import MemberStats, pick_members
from flowpbx.flow.schedule import Schedule
from flowpbx.flow.session import (
    CallEnded,
    DialOutcome,
    DialResult,
    QueueResult,
    VoicemailResult,
)

__all__ = [
    "SimulatedSession",
    "Simulation",
    "describe",
    "past_calls",
    "simulate",
    "simulate_call",
]

KEY_DELAY_S = 1.0  # a simulated caller presses a key 1 s into a wait or prompt
RING_BEFORE_ANSWER_S = 3.0
TALK_S = 60.0
HTTP_REPLY_S = 0.1
MESSAGE_S = 10.0  # a simulated voicemail message
DEFAULT_AUDIO_S = 1.0
_VALID_KEYS = frozenset("0123456789*#_h")
_OUTCOMES: frozenset[str] = frozenset({"answered", "no_answer", "busy", "offline", "failed"})
HttpScript = Mapping[str, str | int | None]


class SimulatedSession:
    """A call that exists only in virtual time. Records what the flow did in `events`."""

    def __init__(
        self,
        *,
        caller: str,
        did: str,
        at: dt.datetime,
        keys: str = "",
        answers: Mapping[str, str] | None = None,
        caller_name: str | None = None,
        call_id: str = "simulated-call",
        audio_duration: Callable[[str], float | None] | None = None,
        max_duration_s: float = 3600.0,
    ) -> None:
        bad = set(keys) - _VALID_KEYS
        if bad:
            raise ValueError(f"keys may only contain 0-9 * # _ h, not {''.join(sorted(bad))!r}")
        for ext, outcome in (answers or {}).items():
            if outcome not in _OUTCOMES:
                raise ValueError(f"answer for {ext!r} must be one of {sorted(_OUTCOMES)}")
        self._caller = caller
        self._caller_name = caller_name
        self._did = did
        self._call_id = call_id
        self._start = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
        self._t = 0.0
        self._keys = deque(keys)
        self._buffer: deque[str] = deque()
        self._answers = dict(answers or {})
        self._audio_duration = audio_duration
        self._max_duration_s = max_duration_s
        self._answered = False
        self._gone: str | None = None  # why the simulated caller is gone
        self.hung_up: str | None = None
        self.events: list[tuple[float, str, str]] = []  # (t, what, detail)

    # -- clock and script

    @property
    def elapsed(self) -> float:
        return self._t

    def _advance(self, seconds: float) -> None:
        self._t += seconds
        if self._t > self._max_duration_s:
            self._t = self._max_duration_s
            self._gone = f"simulated caller hung up after {self._max_duration_s:g} s"
            raise CallEnded(self._gone)

    def wait(self, seconds: float) -> None:
        """Let `seconds` of virtual time pass (the caller may hang up meanwhile)."""
        self._check_alive()
        self._advance(seconds)

    def _check_alive(self) -> None:
        if self._gone is not None:
            raise CallEnded(self._gone)
        if self.hung_up is not None:
            raise CallEnded("call already ended")

    def _take_key(self) -> str | None:
        """The next scripted key; ``h`` ends the call; None when the script is done."""
        if not self._keys:
            return None
        key = self._keys.popleft()
        if key == "h":
            self.events.append((self._t, "caller_hangup", ""))
            self._gone = "caller hung up"
            raise CallEnded(self._gone)
        return key

    # -- CallSession

    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def caller(self) -> str:
        return self._caller

    @property
    def caller_name(self) -> str | None:
        return self._caller_name

    @property
    def did(self) -> str:
        return self._did

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=self._t)

    @property
    def answered(self) -> bool:
        return self._answered

    async def answer(self) -> None:
        self._check_alive()
        if not self._answered:
            self._answered = True
            self.events.append((self._t, "answer", ""))

    async def play(
        self, audio: str, *, repeat: int = 1, barge_in: bool = False, early: bool = False
    ) -> None:
        self._check_alive()
        if not early:
            await self.answer()
        duration = None if self._audio_duration is None else self._audio_duration(audio)
        total = (DEFAULT_AUDIO_S if duration is None else duration) * repeat
        kind = "early_media" if early and not self._answered else "play"
        self.events.append((self._t, kind, audio))
        if barge_in and self._buffer:
            return
        if barge_in and self._keys and self._keys[0] != "_":
            self._advance(min(KEY_DELAY_S, total))
            key = self._take_key()
            if key is not None:
                self._buffer.append(key)
                self.events.append((self._t, "key", key))
            return
        self._advance(total)

    async def get_digit(self, timeout_s: float) -> str | None:
        self._check_alive()
        if self._buffer:
            return self._buffer.popleft()
        if self._keys and self._keys[0] == "_":
            self._keys.popleft()
            self._advance(timeout_s)
            return None
        if not self._keys:
            self._advance(timeout_s)
            return None
        self._advance(min(KEY_DELAY_S, timeout_s))
        key = self._take_key()
        if key is not None:
            self.events.append((self._t, "key", key))
        return key

    def flush_digits(self) -> None:
        self._buffer.clear()

    async def dial_extension(self, extension: str, *, ring_timeout_s: float) -> DialResult:
        self._check_alive()
        outcome: DialOutcome = self._answers.get(extension, "answered")  # type: ignore[assignment]
        self.events.append((self._t, "dial", extension))
        if outcome == "answered":
            self._advance(min(RING_BEFORE_ANSWER_S, ring_timeout_s))
            self._answered = True
            self._advance(TALK_S)
            return DialResult(outcome="answered", answered_by=extension, talk_s=TALK_S)
        if outcome == "no_answer":
            self._advance(ring_timeout_s)
            return DialResult(outcome="no_answer", detail="no answer (simulated)")
        if outcome == "busy":
            self._advance(0.5)
            return DialResult(outcome="busy", detail="486 Busy Here (simulated)")
        return DialResult(outcome=outcome, detail="not registered (simulated)")

    async def dial_number(
        self, number: str, *, ring_timeout_s: float, caller_id: str, confirm: bool
    ) -> DialResult:
        self._check_alive()
        outcome = self._answers.get(number, "answered")
        self.events.append((self._t, "dial_out", f"{number} as {caller_id}"))
        if outcome == "answered":
            self._advance(min(RING_BEFORE_ANSWER_S + (1.0 if confirm else 0.0), ring_timeout_s))
            self._answered = True
            self._advance(TALK_S)
            return DialResult(outcome="answered", answered_by=number, talk_s=TALK_S)
        if outcome == "no_answer":
            self._advance(ring_timeout_s)
            return DialResult(outcome="no_answer", detail="no answer (simulated)")
        if outcome == "busy":
            self._advance(0.5)
            return DialResult(outcome="busy", detail="486 Busy Here (simulated)")
        return DialResult(outcome="failed", detail="call failed (simulated)")

    async def run_queue(self, name: str, params: QueueParams) -> QueueResult:
        """Members are rung by the real strategy (`pick_members`); the script's `answers`
        decide: ``busy`` members are on a call, ``offline`` ones not registered, the
        others free; the first free member rung whose answer is ``answered`` takes the
        call. The exit key is honoured when it is the caller's next scripted key."""
        self._check_alive()
        members = params.member_list()
        state = {"busy": "on_call", "offline": "offline"}
        stats = [
            MemberStats(
                extension=m.extension,
                penalty=m.penalty,
                state=state.get(self._answers.get(m.extension, "answered"), "free"),  # type: ignore[arg-type]
            )
            for m in members
        ]
        self.events.append((self._t, "queue", name))
        if not params.join_empty and all(m.state == "offline" for m in stats):
            return QueueResult(outcome="empty")
        await self.answer()
        self.events.append((self._t, "play", params.hold_audio))
        start = self._t
        tried: set[str] = set()
        last: str | None = None
        rng = random.Random(name)
        while True:
            remaining = params.max_wait_s - (self._t - start)
            if remaining <= 0:
                return QueueResult(outcome="timeout", wait_s=self._t - start)
            if params.exit_key is not None and self._keys and self._keys[0] == params.exit_key:
                self._advance(min(KEY_DELAY_S, remaining))
                self._keys.popleft()
                self.events.append((self._t, "key", params.exit_key))
                return QueueResult(outcome="exit", wait_s=self._t - start)
            picks = pick_members(params.strategy, stats, tried=tried, last_rung=last, rng=rng)
            ring_s = min(params.member_timeout_s, remaining)
            if picks:
                self.events.append((self._t, "dial", ",".join(picks)))
                takers = [p for p in picks if self._answers.get(p, "answered") == "answered"]
                if takers:
                    self._advance(min(RING_BEFORE_ANSWER_S, ring_s))
                    wait = self._t - start
                    self._answered = True
                    self._advance(TALK_S)
                    return QueueResult(
                        outcome="answered", wait_s=wait, answered_by=takers[0], talk_s=TALK_S
                    )
                self._advance(ring_s)
                tried.update(picks)
                last = picks[-1]
            remaining = params.max_wait_s - (self._t - start)
            if remaining > 0:
                self._advance(min(params.retry_s or DEFAULT_AUDIO_S, remaining))

    async def leave_voicemail(self, params: VoicemailParams) -> VoicemailResult:
        """The greeting and beep, then the simulated caller speaks `MESSAGE_S` (``#`` as
        the next key ends the message, ``_`` means silence: nothing is kept)."""
        await self.play(params.greeting)
        if params.beep:
            await self.play("beep")
        if self._keys and self._keys[0] == "_":
            self._keys.popleft()
            self._advance(params.silence_stop_s)
            return VoicemailResult(recorded=False, reason="silence (simulated)")
        length = min(MESSAGE_S, params.max_length_s)
        self._advance(length)
        if self._keys and self._keys[0] == "#":
            self._keys.popleft()
        if length < params.min_length_s:
            return VoicemailResult(recorded=False, duration_s=length, reason="too short")
        self.events.append((self._t, "voicemail", params.mailbox))
        return VoicemailResult(recorded=True, duration_s=length, reason="simulated message")

    def set_caller(self, number: str, name: str | None) -> None:
        self._caller, self._caller_name = number, name
        self.events.append((self._t, "set_caller", f"{number} {name or ''}".strip()))

    async def hangup(self, reason: str = "") -> None:
        if self.hung_up is None:
            self.hung_up = reason or "hangup"
            self.events.append((self._t, "hangup", reason))


class _ScriptedHttp:
    """HTTP replies from the simulation script; remembers the requests. A reply takes
    `HTTP_REPLY_S` of virtual time, a timeout the request's whole `timeout_s`."""

    def __init__(self, replies: HttpScript, session: SimulatedSession) -> None:
        self.replies = replies
        self.session = session
        self.requests: list[HttpRequest] = []

    async def __call__(self, request: HttpRequest, /) -> HttpReply:
        self.requests.append(request)
        if request.tag in self.replies:
            reply = self.replies[request.tag]
        else:
            reply = self.replies.get(request.url, "")
        self.session.wait(request.timeout_s if reply is None else HTTP_REPLY_S)
        if reply is None:
            raise TimeoutError(f"no reply within {request.timeout_s:g} s (simulated)")
        if isinstance(reply, int):
            return HttpReply(status=reply, body="")
        return HttpReply(status=200, body=reply)


def past_calls(items: Sequence[PastCall | Mapping[str, Any]], at: dt.datetime) -> list[PastCall]:
    """Earlier calls from a script; ``days_ago`` counts back from the simulated `at`."""
    calls: list[PastCall] = []
    for i, item in enumerate(items):
        if isinstance(item, PastCall):
            calls.append(item)
            continue
        try:
            answered_by = item.get("answered_by")
            if "started_at" in item:
                started = dt.datetime.fromisoformat(str(item["started_at"]))
                if started.tzinfo is None:
                    started = started.replace(tzinfo=dt.UTC)
            else:
                started = at - dt.timedelta(days=float(item.get("days_ago", 1)))
            calls.append(
                PastCall(
                    started_at=started,
                    answered_by=None if answered_by is None else str(answered_by),
                    talk_s=float(item.get("talk_s", TALK_S)),
                )
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"history item {i}: {exc}") from exc
    return calls


class _History:
    def __init__(self, calls: list[PastCall]) -> None:
        self.calls = calls

    async def __call__(self, caller: str, since: dt.datetime) -> Sequence[PastCall]:
        return [c for c in self.calls if c.started_at >= since]


class _Outbox:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def __call__(self, message: EmailMessage) -> None:
        self.sent.append(message)


async def simulate_call(
    flow: Flow | Mapping[str, Any],
    *,
    caller: str,
    did: str,
    at: dt.datetime,
    keys: str = "",
    http_replies: HttpScript | None = None,
    answers: Mapping[str, str] | None = None,
    history: Sequence[PastCall | Mapping[str, Any]] | None = None,
    caller_name: str | None = None,
    schedules: Mapping[str, Schedule] | None = None,
    extensions: Collection[str] | None = None,
    audio_duration: Callable[[str], float | None] | None = None,
    timezone: str = "UTC",
    max_duration_s: float = 3600.0,
    max_steps: int = 50,
) -> Simulation:
    """Dry-run `flow` for one scripted call: its run (trace, outcome), what the caller
    heard, the emails and HTTP requests the flow made.

    Raises `FlowError` when `flow` is a document that does not load, `ValueError` on a
    bad script. Emails are not sent: they appear in the trace and in `emails`.
    """
    loaded = flow if isinstance(flow, Flow) else load_flow(flow)
    session = SimulatedSession(
        caller=caller,
        did=did,
        at=at,
        keys=keys,
        answers=answers,
        caller_name=caller_name,
        audio_duration=audio_duration,
        max_duration_s=max_duration_s,
    )
    start = session.now()
    calls = past_calls(history or (), start)
    schedule_map = dict(schedules or {})
    # Extensions (menu direct dial, history routing): as given, else those the script names.
    if extensions is None:
        named = {c.answered_by for c in calls if c.answered_by is not None}
        extensions = named.union(answers or ())
    ext_set = frozenset(extensions)
    http = _ScriptedHttp(http_replies or {}, session)
    outbox = _Outbox()
    services = FlowServices(
        schedule=schedule_map.get,
        extensions=lambda: ext_set,
        http=http,
        send_email=outbox,
        call_history=_History(calls),
        timezone=timezone,
        live=False,
    )
    run = await run_flow(loaded, session, services=services, max_steps=max_steps)
    return Simulation(
        run=run, events=list(session.events), emails=outbox.sent, requests=http.requests
    )


async def simulate(flow: Flow | Mapping[str, Any], **script: Any) -> FlowRun:
    """`simulate_call` returning only the run (trace, outcome); same arguments."""
    return (await simulate_call(flow, **script)).run


@dataclass(frozen=True, slots=True, kw_only=True)
class Simulation:
    """A simulated call: the run, and what happened on the call as the caller saw it."""

    run: FlowRun
    events: list[tuple[float, str, str]]  # (t, what, detail): answer, play, key, dial, ...
    emails: list[EmailMessage]
    requests: list[HttpRequest]

    @property
    def heard(self) -> list[tuple[float, str]]:
        """(t, audio) of every prompt played to the caller, early media included."""
        return [(t, d) for t, what, d in self.events if what in ("play", "early_media")]

    def to_dict(self) -> dict[str, Any]:
        data = self.run.to_dict()
        data["heard"] = [{"t": round(t, 3), "audio": a} for t, a in self.heard]
        data["events"] = [{"t": round(t, 3), "what": w, "detail": d} for t, w, d in self.events]
        data["emails"] = [
            {"to": list(m.to), "subject": m.subject, "body": m.body} for m in self.emails
        ]
        data["requests"] = [
            {"node": r.tag, "method": r.method, "url": r.url, "body": r.body} for r in self.requests
        ]
        return data


def describe(sim: Simulation) -> list[str]:
    """The simulation as text lines (the CLI prints them): one line per step with the
    output taken and its facts, then what the caller heard and how the call ended."""
    lines: list[str] = []
    for entry in sim.run.trace:
        facts = " ".join(f"{k}={_fact(v)}" for k, v in entry.facts.items())
        if entry.type == "end":
            continue
        output = "—" if entry.output is None else entry.output
        node = entry.node or "(after the call)"
        lines.append(
            f"{entry.t:8.1f}s  {node:<16} {entry.type:<16} → {output:<10} {facts}".rstrip()
        )
    heard = ", ".join(a for _, a in sim.heard) or "nothing"
    lines.append(f"heard: {heard}")
    run = sim.run
    who = f" by {run.answered_by}" if run.answered_by else ""
    lines.append(f"outcome: {run.outcome}{who} — {run.reason}")
    return lines


def _fact(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    text = str(value)
    return repr(text) if " " in text else text
