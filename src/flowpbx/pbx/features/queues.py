"""Call queues on live calls (SPEC §3 `queue`).

Callers wait in line hearing hold audio; the caller at the head of the line has free members
rung by the queue's strategy (the pure policy in `flow/queue_policy.py`) for
`member_timeout_s`, then `retry_s` later again, until someone answers, `max_wait_s` runs out,
or the caller presses the exit key. Queue elements with the same name share one line and its
statistics.

Callers behind the head of the line ring members too while every caller ahead of them
already has members ringing (so free members are not left idle while someone waits).

Callers hear the hold audio; with `announce_position_s` they hear "you are caller number N"
(system prompts `queue-position`, `number-0`..`number-9`) when they join and then every
`announce_position_s` of hold audio.

Member state, judged live: `offline` (no registered phone), `on_call` (bridged), `ringing`
(rung by anyone right now), `wrapup` (within `wrapup_s` after a queue call), else `free`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from flowpbx.flow.queue_policy import MemberState, MemberStats, Strategy, pick_members
from flowpbx.flow.session import CallEnded
from flowpbx.pbx.call.host import CallHost
from flowpbx.pbx.events import count
from flowpbx.pbx.rtp.player import Player

if TYPE_CHECKING:
    from flowpbx.flow.session import DialResult
    from flowpbx.pbx.call.targets import RingTarget
    from flowpbx.pbx.call.uac_leg import UacLeg
    from flowpbx.pbx.call.uas_leg import UasLeg

log = logging.getLogger("flowpbx.queues")

QueueOutcome = Literal["answered", "timeout", "full", "empty", "exit"]


class QueueCall(Protocol):
    """What a queue does with a waiting caller's call (pbx/call/live.py `LiveCall`)."""

    queue_joined_at: float

    @property
    def call_id(self) -> str: ...
    @property
    def caller(self) -> str: ...
    @property
    def leg(self) -> UasLeg: ...
    async def answer(self) -> None: ...
    async def wait(self, seconds: float, *, stop_digits: str = "") -> None: ...
    def take_digit(self, keys: str) -> bool: ...
    def extension_targets(self, extension: str) -> list[RingTarget]: ...
    async def ring(
        self,
        targets: list[RingTarget],
        ring_timeout_s: float,
        *,
        ringback: bool = True,
        stop_digits: str = "",
    ) -> tuple[UacLeg | None, list[int]]: ...
    async def bridge(
        self, callee: UacLeg, extension: str, *, internal: bool = True
    ) -> DialResult: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSpec:
    name: str
    members: tuple[tuple[str, int], ...]  # (extension, penalty)
    strategy: Strategy = "ring_all"
    member_timeout_s: float = 15.0
    retry_s: float = 5.0
    wrapup_s: float = 0.0
    max_wait_s: float = 300.0
    max_callers: int = 0
    join_empty: bool = False
    hold_audio: str = "hold-music"
    announce_position_s: float = 0.0
    exit_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueResult:
    outcome: QueueOutcome
    wait_s: float
    answered_by: str | None = None
    talk_s: float = 0.0


@dataclass(slots=True)
class MemberRecord:
    calls_today: int = 0
    day: dt.date | None = None
    last_call_end: float | None = None  # wall-clock seconds
    wrapup_until: float = 0.0  # loop time


@dataclass(slots=True)
class LiveQueue:
    name: str
    waiting: list[QueueCall] = field(default_factory=list)
    ringing_for: set[QueueCall] = field(default_factory=set)  # callers whose members ring now
    last_rung: str | None = None
    members: dict[str, MemberRecord] = field(default_factory=dict)
    answered: int = 0
    abandoned: int = 0
    loaded: bool = False  # today's member statistics read back from the store


class QueueManager:
    def __init__(self, rt: CallHost) -> None:
        self.rt = rt
        self.queues: dict[str, LiveQueue] = {}

    def queue(self, name: str) -> LiveQueue:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = LiveQueue(name)
        return q

    def member_state(self, q: LiveQueue, extension: str) -> MemberState:
        rt = self.rt
        if not rt.registrar.bindings(extension):
            return "offline"
        if rt.busy.get(extension):
            return "on_call"
        if rt.ringing.get(extension):
            return "ringing"
        rec = q.members.get(extension)
        if rec is not None and rec.wrapup_until > rt.loop.time():
            return "wrapup"
        return "free"

    def member_stats(self, q: LiveQueue, spec: QueueSpec) -> list[MemberStats]:
        today = dt.date.today()
        out = []
        for extension, penalty in spec.members:
            rec = q.members.get(extension) or MemberRecord()
            out.append(
                MemberStats(
                    extension=extension,
                    state=self.member_state(q, extension),
                    penalty=penalty,
                    calls_today=rec.calls_today if rec.day == today else 0,
                    last_call_end=rec.last_call_end,
                )
            )
        return out

    def snapshot(self) -> list[dict[str, object]]:
        """Live state for the API: callers waiting, members and their state."""
        loop_now = self.rt.loop.time()
        out: list[dict[str, object]] = []
        for q in self.queues.values():
            out.append(
                {
                    "name": q.name,
                    "waiting": [
                        {
                            "call_id": c.call_id,
                            "caller": c.caller,
                            "wait_s": round(loop_now - c.queue_joined_at, 1),
                        }
                        for c in q.waiting
                    ],
                    "members": {ext: self.member_state(q, ext) for ext in q.members},
                    "answered": q.answered,
                    "abandoned": q.abandoned,
                }
            )
        return out

    @staticmethod
    def _may_ring(q: LiveQueue, call: QueueCall) -> bool:
        """The caller at the head of the line rings members; the next one too once every
        caller ahead already has members ringing (free members left over are not kept
        idle), so callers are served in order and several at once."""
        for ahead in q.waiting:
            if ahead is call:
                return True
            if ahead not in q.ringing_for:
                return False
        return False

    async def _load_stats(self, q: LiveQueue) -> None:
        """Today's answered calls and last call of each member, from the queue log in the
        store, so `fewest_calls` and `least_recent` survive a restart."""
        q.loaded = True
        now = dt.datetime.now(dt.UTC)
        midnight = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        try:
            stats = await self.rt.store.queue_member_stats(q.name, midnight.astimezone(dt.UTC))
        except Exception:
            log.exception("could not read the statistics of queue %s", q.name)
            return
        today = dt.date.today()
        for extension, row in stats.items():
            rec = q.members.setdefault(extension, MemberRecord())
            answered = row.get("answered")
            if isinstance(answered, int) and rec.day != today:
                rec.day, rec.calls_today = today, answered
            last = row.get("last_call_end") or row.get("last_call_at")
            if isinstance(last, dt.datetime) and rec.last_call_end is None:
                rec.last_call_end = last.timestamp()

    async def run(self, call: QueueCall, spec: QueueSpec) -> QueueResult:
        rt = self.rt
        loop = rt.loop
        q = self.queue(spec.name)
        if not q.loaded:
            await self._load_stats(q)
        for extension, _ in spec.members:
            q.members.setdefault(extension, MemberRecord())
        joined = loop.time()
        if spec.max_callers and len(q.waiting) >= spec.max_callers:
            return QueueResult(outcome="full", wait_s=0.0)
        stats = self.member_stats(q, spec)
        if not spec.join_empty and all(m.state == "offline" for m in stats):
            return QueueResult(outcome="empty", wait_s=0.0)
        await call.answer()
        # before joining the line: a failure here must not leave the caller in it
        frames = await rt.audio.frames(spec.hold_audio, call.leg.rtp.codec.name)
        call.queue_joined_at = joined
        q.waiting.append(call)
        rt.events.emit("queue.joined", queue=q.name, call_id=call.call_id, waiting=len(q.waiting))
        hold: HoldAudio | None = None
        exit_key = spec.exit_key or ""
        tried: set[str] = set()
        deadline = joined + spec.max_wait_s
        try:
            # inside the try: whatever goes wrong from here on, the caller leaves the line
            hold = HoldAudio(self, call, q, frames, spec.announce_position_s)
            while True:
                now = loop.time()
                if now >= deadline:
                    q.abandoned += 1
                    return QueueResult(outcome="timeout", wait_s=now - joined)
                if exit_key and call.take_digit(exit_key):
                    q.abandoned += 1
                    return QueueResult(outcome="exit", wait_s=now - joined)
                if not spec.join_empty and all(
                    m.state == "offline" for m in self.member_stats(q, spec)
                ):
                    q.abandoned += 1
                    return QueueResult(outcome="empty", wait_s=now - joined)
                pick: list[str] = []
                if self._may_ring(q, call):
                    pick = pick_members(
                        spec.strategy,
                        self.member_stats(q, spec),
                        tried=tried,
                        last_rung=q.last_rung,
                    )
                if not pick:
                    await call.wait(min(1.0, deadline - now), stop_digits=exit_key)
                    continue
                q.last_rung = pick[-1]
                tried.update(pick)
                targets = [t for ext in pick for t in call.extension_targets(ext)]
                # The picked members count as ringing from now on: `call.ring` opens media
                # (awaits) before it counts each phone, and a caller behind in this line or
                # in another queue must not pick the same member meanwhile.
                for ext in pick:
                    count(rt.ringing, ext, +1)
                q.ringing_for.add(call)
                try:
                    winner, _ = await call.ring(
                        targets,
                        min(spec.member_timeout_s, max(0.1, deadline - now)),
                        ringback=False,
                        stop_digits=exit_key,
                    )
                finally:
                    q.ringing_for.discard(call)
                    for ext in pick:
                        count(rt.ringing, ext, -1)
                if winner is None:
                    await call.wait(
                        min(spec.retry_s, max(0.0, deadline - loop.time())), stop_digits=exit_key
                    )
                    continue
                wait_s = loop.time() - joined
                if hold is not None:
                    hold.stop()
                    hold = None
                q.waiting.remove(call)
                q.answered += 1
                member = winner.label
                rec = q.members.setdefault(member, MemberRecord())
                today = dt.date.today()
                if rec.day != today:
                    rec.day, rec.calls_today = today, 0
                rec.calls_today += 1
                try:
                    result = await call.bridge(winner, member)
                finally:
                    rec.last_call_end = dt.datetime.now(dt.UTC).timestamp()
                    rec.wrapup_until = loop.time() + spec.wrapup_s
                return QueueResult(
                    outcome="answered", wait_s=wait_s, answered_by=member, talk_s=result.talk_s
                )
        except CallEnded:
            if call in q.waiting:
                q.abandoned += 1
            raise
        finally:
            if hold is not None:
                hold.stop()
            if call in q.waiting:
                q.waiting.remove(call)
            rt.events.emit("queue.left", queue=q.name, call_id=call.call_id, waiting=len(q.waiting))


class HoldAudio:
    """What a waiting caller hears until `stop()`: the hold audio, and with `announce_s`
    "you are caller number N" at once and then after every `announce_s` of hold audio."""

    def __init__(
        self,
        manager: QueueManager,
        call: QueueCall,
        q: LiveQueue,
        frames: list[bytes],
        announce_s: float,
    ) -> None:
        self.rt = manager.rt
        self.call = call
        self.q = q
        self.frames = frames
        self.announce_s = announce_s
        self.player: Player | None = None
        self.task: asyncio.Task[None] | None = None
        if announce_s > 0:
            self.task = asyncio.create_task(self._announce())
        else:
            self._play(frames, 0)

    def _play(self, frames: list[bytes], loops: int) -> Player:
        if self.player is not None:
            self.rt.clock.stop_player(self.player)
        self.player = self.rt.clock.start_player(Player(self.call.leg.rtp, frames, loops))
        return self.player

    def stop(self) -> None:
        """Silence at once (before the caller is bridged), synchronously."""
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if self.player is not None:
            self.rt.clock.stop_player(self.player)
            self.player = None

    async def _announce(self) -> None:
        call, q, rt = self.call, self.q, self.rt
        while call in q.waiting:
            position = q.waiting.index(call) + 1
            prompt = await self._position_frames(position)
            if prompt:
                rt.events.emit(
                    "queue.position", queue=q.name, call_id=call.call_id, position=position
                )
                # asyncio.wait: cancelling this task must not cancel the player's future
                await asyncio.wait([self._play(prompt, 1).done])
            self._play(self.frames, 0)
            await asyncio.sleep(self.announce_s)

    async def _position_frames(self, position: int) -> list[bytes]:
        """The prompt `queue-position` and the position's digits as one frame list, or []
        when the prompts are missing (the caller then hears hold audio only)."""
        codec = self.call.leg.rtp.codec.name
        names = ["queue-position", *(f"number-{d}" for d in str(position))]
        try:
            parts = [await self.rt.audio.frames(name, codec) for name in names]
        except (KeyError, OSError, ValueError):  # ValueError: undecodable audio
            log.warning("queue position prompts missing: %s", names)
            return []
        return [frame for part in parts for frame in part]
