"""The live call: one caller leg and everything the flow does with it.

`LiveCall` is the real-world implementation of `flowpbx.flow.session.CallSession`: the flow
interpreter asks it to answer, play, collect digits and ring extensions; it does so with SIP
legs and RTP. New INVITEs become live calls in `manager.py`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from flowpbx.flow.model import QueueParams, VoicemailParams
from flowpbx.flow.session import (
    CallEnded,
    DialOutcome,
    DialResult,
    QueueResult,
    VoicemailResult,
)
from flowpbx.media.audiofile import load_audio
from flowpbx.pbx.call.early_media import EarlyMedia
from flowpbx.pbx.call.host import CallHost
from flowpbx.pbx.call.parties import Direction, Parties, parties_of
from flowpbx.pbx.call.talk import TalkPhase
from flowpbx.pbx.call.targets import RingTarget
from flowpbx.pbx.call.uac_leg import UacLeg
from flowpbx.pbx.call.uas_leg import UasLeg
from flowpbx.pbx.events import count as _count
from flowpbx.pbx.features.queues import QueueManager, QueueSpec
from flowpbx.pbx.features.trunks import (
    caller_identity,
    dial_string,
    outbound_allowed,
)
from flowpbx.pbx.features.voicemail import leave_message, listen_messages
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.rtp.player import Player, encode_frames, ringback_frames
from flowpbx.pbx.rtp.ports import NoRtpPort
from flowpbx.pbx.srtp_policy import leg_crypto

if TYPE_CHECKING:
    pass

log = logging.getLogger("flowpbx.calls")

Addr = tuple[str, int]
BUSY_STATUSES = frozenset({486, 600, 603})
NO_ANSWER_STATUSES = frozenset({408, 480, 487})
DIAL_BLOCKED = "blocked by outbound dial restrictions"


def _failure_outcome(statuses: list[int]) -> DialOutcome:
    if statuses and all(s in BUSY_STATUSES for s in statuses):
        return "busy"
    return "no_answer"


def _statuses(statuses: list[int]) -> str:
    return ",".join(map(str, statuses))


class LiveCallHost(CallHost, Protocol):
    """The runtime as a live call sees it: a `CallHost` with the queues it may join and the
    talk phase its bridged calls run (pbx/call/talk.py; with transfers plugged in)."""

    @property
    def queues(self) -> QueueManager: ...
    @property
    def talk_phase(self) -> TalkPhase: ...


class LiveCall:
    """One caller leg and everything the flow does with it."""

    def __init__(
        self,
        rt: LiveCallHost,
        leg: UasLeg,
        *,
        caller: str,
        caller_name: str | None,
        did: str,
        caller_ext: str | None = None,
        direction: Direction | None = None,
    ) -> None:
        self.rt = rt
        self.leg = leg
        self._caller = caller
        self._caller_name = caller_name
        self._did = did
        # The extension the caller's leg authenticated as; None for a trunk's leg, whatever
        # number it shows (only this makes the caller an internal party: *2, REFER, spy).
        self.caller_ext = caller_ext
        # inbound (a trunk's caller), outbound (an extension calling a number through the
        # trunk), internal (an extension calling anything else): pbx/call/parties.py
        self.direction: Direction = direction or ("internal" if caller_ext else "inbound")
        self.dialled: str | None = None  # the outside number an outgoing call dialled
        # Keys pressed and not yet read: only the last ones are kept (a DTMF flood).
        self._digits: deque[str] = deque(maxlen=rt.settings.dtmf_buffer)
        self._digit_waiter: asyncio.Future[None] | None = None
        leg.on_digit = self._on_digit
        leg.rtp.on_digit = self._on_digit
        self.started_at = dt.datetime.now(dt.UTC)
        self.answered_at: dt.datetime | None = None
        self.answered_by: str | None = None
        self.callees: list[UacLeg] = []
        self.bridged_to: UacLeg | None = None
        self.queue_joined_at = 0.0
        self.voicemail_left = False
        self.transfers: list[dict[str, Any]] = []
        self.transferred_to: str | None = None
        self.flow_name: str | None = None
        self.revision: int | None = None
        # What the call is doing now, for the active-calls page: (kind, target), kind one
        # of flow, ringing, talking, voicemail, queue.
        self.activity: tuple[str, str | None] = ("flow", None)

    # -- CallSession ---------------------------------------------------------------------

    @property
    def call_id(self) -> str:
        return self.leg.invite.call_id

    @property
    def caller(self) -> str:
        return self._caller

    @property
    def caller_name(self) -> str | None:
        return self._caller_name

    @property
    def did(self) -> str:
        return self._did

    def parties(self) -> Parties:
        """Who is who on this call now (pbx/call/parties.py)."""
        return parties_of(self)

    def set_caller(self, number: str, name: str | None) -> None:
        self._caller = number
        self._caller_name = name

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    @property
    def answered(self) -> bool:
        return self.leg.answered

    async def answer(self) -> None:
        self._check()
        if not self.leg.answered:
            self.leg.answer()
            self.answered_at = self.answered_at or dt.datetime.now(dt.UTC)

    async def play(
        self, audio: str, *, repeat: int = 1, barge_in: bool = False, early: bool = False
    ) -> None:
        self._check()
        self._back_in_flow()
        if not self.leg.answered:
            if early:
                self.leg.early_media()
            else:
                await self.answer()
        frames = await self.rt.audio.frames(audio, self.leg.rtp.codec.name)
        if barge_in and self._digits:
            return
        player = self.rt.clock.start_player(Player(self.leg.rtp, frames, max(1, repeat)))
        try:
            await self._race(player.done, digits=barge_in)
        finally:
            self.rt.clock.stop_player(player)

    def _back_in_flow(self) -> None:
        """A prompt or key wait after ringing someone: the call is back in its flow."""
        if self.activity[0] in ("ringing", "talking"):
            self.activity = ("flow", None)

    async def play_file(self, path: Path, *, barge_in: bool = True) -> None:
        """Play a WAV that is not library audio (a voicemail message)."""
        self._check()
        await self.answer()
        pcm = await asyncio.to_thread(load_audio, path)
        frames = encode_frames(pcm, self.leg.rtp.codec.name)
        if barge_in and self._digits:
            return
        player = self.rt.clock.start_player(Player(self.leg.rtp, frames, 1))
        try:
            await self._race(player.done, digits=barge_in)
        finally:
            self.rt.clock.stop_player(player)

    async def get_digit(self, timeout_s: float) -> str | None:
        self._check()
        self._back_in_flow()
        if not self._digits:
            loop = asyncio.get_running_loop()
            sleeper = loop.create_future()
            handle = loop.call_later(max(0.0, timeout_s), _resolve, sleeper)
            try:
                await self._race(sleeper, digits=True)
            finally:
                handle.cancel()
        return self._digits.popleft() if self._digits else None

    def flush_digits(self) -> None:
        self._digits.clear()

    def take_digit(self, keys: str) -> bool:
        """Remove the first buffered digit that is one of `keys`; True if there was one."""
        for digit in self._digits:
            if digit in keys:
                self._digits.remove(digit)
                return True
        return False

    async def wait(self, seconds: float, *, stop_digits: str = "") -> None:
        """Sleep, but wake early for a digit of `stop_digits`; CallEnded on hang-up."""
        if stop_digits and any(d in stop_digits for d in self._digits):
            return
        loop = asyncio.get_running_loop()
        sleeper = loop.create_future()
        handle = loop.call_later(max(0.0, seconds), _resolve, sleeper)
        try:
            await self._race(sleeper, digits=bool(stop_digits))
        finally:
            handle.cancel()

    async def dial_extension(self, extension: str, *, ring_timeout_s: float) -> DialResult:
        self._check()
        self.activity = ("ringing", extension)
        rt = self.rt
        ext = rt.config.extensions.get(extension)
        if ext is None:
            return DialResult(outcome="failed", detail="no such extension")
        if not ext.call_waiting and rt.busy.get(extension, 0) > 0:
            return DialResult(outcome="busy", detail="on a call (call waiting off)")
        targets = self.extension_targets(extension)
        if not targets:
            return DialResult(outcome="offline", detail="not registered")
        winner, statuses = await self.ring(targets, ring_timeout_s)
        if winner is None:
            return DialResult(outcome=_failure_outcome(statuses), detail=_statuses(statuses))
        return await self.bridge(winner, extension)

    async def dial_number(
        self,
        number: str,
        *,
        ring_timeout_s: float,
        caller_id: str | None = None,
        confirm: bool = False,
        anonymous: bool = False,
    ) -> DialResult:
        """Call an external number through the trunk (`call_phone`, and extensions calling
        out). `caller_id` is the number presented; `anonymous` hides it (SPEC §4 `h`)."""
        self._check()
        self.activity = ("ringing", number)
        trunk = self.rt.config.outbound_trunk(self._did)
        if trunk is None:
            return DialResult(outcome="failed", detail="no trunk to call out on")
        # Outbound dial restrictions on every way the provider may read the exact string
        # sent in the Request-URI (national, 00/011 forms: pbx/features/trunks.py).
        guard = self.rt.guard.config
        sent = dial_string(trunk, number)  # the trunk's dial_format
        if not outbound_allowed(
            trunk, sent, guard.dial_allowed_prefixes, guard.dial_blocked_prefixes
        ):
            return DialResult(outcome="failed", detail=DIAL_BLOCKED)
        ips = await self.rt.resolver.resolve(trunk.host)  # off the loop, cached
        if not ips:
            return DialResult(outcome="failed", detail=f"trunk {trunk.name} does not resolve")
        addr = (ips[0], trunk.port)
        presented = caller_id or self._caller or "anonymous"
        domain = trunk.from_domain or trunk.host
        identity = caller_identity(
            trunk, number=presented, name=self._caller_name, anonymous=anonymous
        )
        target = RingTarget(
            uri=f"sip:{sent}@{trunk.host}:{trunk.port}"
            + (";transport=tls" if trunk.transport == "tls" else ""),
            addr=addr,
            to_uri=f"sip:{sent}@{domain}",
            label=number,
            from_uri=identity.from_uri,
            from_name=identity.from_name,
            headers=identity.headers,
            auth=(trunk.username, trunk.password) if trunk.username and trunk.password else None,
            transport=trunk.transport if trunk.transport != "udp" else None,
            media_encryption=trunk.media_encryption,
        )
        winner, statuses = await self.ring([target], ring_timeout_s)
        if winner is None:
            statuses_text = _statuses(statuses)
            if statuses and all(s in BUSY_STATUSES for s in statuses):
                return DialResult(outcome="busy", detail=statuses_text)
            if not statuses or all(s in NO_ANSWER_STATUSES for s in statuses):
                return DialResult(outcome="no_answer", detail=statuses_text)
            return DialResult(outcome="failed", detail=statuses_text)
        if confirm and not await self._confirm(winner):
            winner.hangup("not confirmed")
            return DialResult(outcome="no_answer", detail="callee did not press 1")
        return await self.bridge(winner, number, internal=False)

    async def run_queue(self, name: str, params: QueueParams) -> QueueResult:
        """The `queue` element on a live call (pbx/features/queues.py does the work)."""
        self._check()
        self.activity = ("queue", name)
        spec = QueueSpec(
            name=name,
            members=tuple((m.extension, m.penalty) for m in params.member_list()),
            strategy=params.strategy,
            member_timeout_s=float(params.member_timeout_s),
            retry_s=float(params.retry_s),
            wrapup_s=float(params.wrapup_s),
            max_wait_s=float(params.max_wait_s),
            max_callers=params.max_callers,
            join_empty=params.join_empty,
            hold_audio=params.hold_audio,
            announce_position_s=float(params.announce_position_s),
            exit_key=params.exit_key,
        )
        joined = dt.datetime.now(dt.UTC)
        try:
            got = await self.rt.queues.run(self, spec)
        except CallEnded as ended:
            bridged = ended.result
            waited = (dt.datetime.now(dt.UTC) - joined).total_seconds()
            await self._record_queue_call(
                name,
                joined,
                bridged.outcome if bridged else "hangup",
                waited,
                bridged.answered_by if bridged else None,
                bridged.talk_s if bridged else 0.0,
            )
            raise
        await self._record_queue_call(
            name, joined, got.outcome, got.wait_s, got.answered_by, got.talk_s
        )
        return QueueResult(
            outcome=got.outcome, wait_s=got.wait_s, answered_by=got.answered_by, talk_s=got.talk_s
        )

    async def _record_queue_call(
        self,
        name: str,
        joined: dt.datetime,
        outcome: str,
        wait_s: float,
        member: str | None,
        talk_s: float,
    ) -> None:
        try:
            await self.rt.store.record_queue_call(
                queue=name,
                call_id=self.call_id,
                caller=self._caller,
                joined_at=joined,
                wait_s=wait_s,
                result=outcome,
                member=member,
                talk_s=talk_s,
            )
        except Exception:
            log.exception("could not record the queue call of %s", self.call_id)

    async def leave_voicemail(self, params: VoicemailParams) -> VoicemailResult:
        """The `voicemail` element (mode leave) on a live call (pbx/features/voicemail.py)."""
        self._check()
        left = await leave_message(
            self,
            mailbox=params.mailbox,
            greeting=params.greeting,
            max_length_s=float(params.max_length_s),
            min_length_s=float(params.min_length_s),
            silence_stop_s=float(params.silence_stop_s),
            beep=params.beep,
            email_to=tuple(params.email_to),
        )
        return VoicemailResult(
            recorded=left.recorded,
            duration_s=left.duration_s,
            message_id=left.message_id,
            reason=left.reason,
        )

    async def listen_voicemail(self, params: VoicemailParams) -> str:
        """The `voicemail` element (mode listen) on a live call (pbx/features/voicemail.py)."""
        self._check()
        box = self.rt.config.raw.mailboxes.get(params.mailbox)
        pin = params.pin or (box.pin if box is not None else None)
        return await listen_messages(self, mailbox=params.mailbox, pin=pin)

    def extension_targets(self, extension: str) -> list[RingTarget]:
        rt = self.rt
        ext = rt.config.extensions.get(extension)
        return [
            RingTarget(
                uri=b.contact,
                addr=b.source,
                to_uri=f"sip:{extension}@{rt.domain}",
                label=extension,
                # a phone registered over TLS is never sent a request in clear (pbx/tls.py)
                transport="tls" if b.transport == "tls" else None,
                media_encryption=ext.media_encryption if ext is not None else "none",
            )
            for b in rt.registrar.bindings(extension)
        ]

    async def ring(
        self,
        targets: list[RingTarget],
        ring_timeout_s: float,
        *,
        ringback: bool = True,
        stop_digits: str = "",
    ) -> tuple[UacLeg | None, list[int]]:
        """Ring every target at once; the first to answer wins and the others are
        cancelled. The caller hears ringback meanwhile (or 180 Ringing before answer; with
        ringback=False whatever it already hears goes on). Returns (answered leg or None,
        final statuses of the others). A digit of `stop_digits` from the caller stops it."""
        rt = self.rt
        legs: list[UacLeg] = []
        try:
            for target in targets:
                crypto = leg_crypto(rt.settings, target.media_encryption, target.transport)
                if not crypto.can_call():
                    log.info("not calling %s: SRTP required, signalling not TLS", target.label)
                    continue
                try:
                    rtp = await RtpEndpoint.open(rt.rtp_pool, rt.media_ip)
                except NoRtpPort:
                    break
                # The port goes back to the pool on every way out but a leg that rings.
                leg: UacLeg | None = None
                started = False
                try:
                    leg = UacLeg(
                        rt,
                        rtp,
                        target_uri=target.uri,
                        addr=target.addr,
                        from_uri=target.from_uri
                        or f"sip:{self._caller or 'anonymous'}@{rt.domain}",
                        from_name=target.from_name if target.from_uri else self._caller_name,
                        to_uri=target.to_uri,
                        label=target.label,
                        auth=target.auth,
                        headers=target.headers,
                        transport=target.transport,
                        crypto=crypto,
                    )
                    leg.start()
                    started = True
                except Exception as exc:  # this target cannot ring; the others still do
                    rt.sip.failures.report(
                        f"ringing {target.label[:60]!r}", exc, asyncio.get_running_loop().time()
                    )
                finally:
                    if not started:
                        if leg is not None:
                            leg.hangup("setup failed")  # ends it and closes its RTP
                        else:
                            rtp.close()
                if leg is None or not started:
                    continue
                legs.append(leg)
                self.callees.append(leg)
                _count(rt.ringing, target.label, +1)
        except BaseException:  # cancelled while opening a port: stop those already ringing
            for leg in legs:
                _count(rt.ringing, leg.label, -1)
                leg.hangup("ring stopped")
            raise
        if not legs:
            return None, [503]
        player: Player | None = None
        if not ringback:
            pass
        elif self.leg.answered:
            player = rt.clock.start_player(
                Player(self.leg.rtp, ringback_frames(self.leg.rtp.codec.name), 0)
            )
        else:
            self.leg.ringing()
        # a callee's 183 with SDP reaches the caller instead of our ringback (early_media.py)
        early = EarlyMedia(self.leg, rt.clock, player)
        if ringback:
            early.watch(legs)
        winner: UacLeg | None = None
        statuses: list[int] = []
        try:
            winner, statuses = await self._first_answer(legs, ring_timeout_s, stop_digits)
        finally:
            early.stop(legs)
            if player is not None:
                rt.clock.stop_player(player)
            for leg in legs:
                _count(rt.ringing, leg.label, -1)
                if leg is not winner:
                    leg.hangup("another phone answered" if winner else "ring timeout")
        return winner, statuses

    async def _confirm(self, callee: UacLeg) -> bool:
        """`confirm`: the callee hears "press 1 to accept"; only a 1 bridges the call (so a
        mobile's voicemail answering does not count as answered); another key or none
        within 15 s refuses it."""
        rt = self.rt
        digits: asyncio.Queue[str] = asyncio.Queue()
        callee.on_digit = digits.put_nowait
        callee.rtp.on_digit = digits.put_nowait
        name = "confirm-call"
        frames = await rt.audio.frames(name, callee.rtp.codec.name)
        player = rt.clock.start_player(Player(callee.rtp, frames, 3))
        try:
            getter = asyncio.ensure_future(digits.get())
            done, _ = await asyncio.wait(
                [getter, callee.ended, self.leg.ended],
                timeout=15.0,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if getter not in done:
                getter.cancel()
            if self.leg.ended.done():
                callee.hangup("caller hung up")
                raise CallEnded(self.leg.ended.result())
            if callee.ended.done() or getter not in done:
                return False
            return getter.result() == "1"  # any other key refuses the call
        finally:
            rt.clock.stop_player(player)
            callee.on_digit = None
            callee.rtp.on_digit = None

    async def hangup(self, reason: str = "") -> None:
        for leg in self.callees:
            if not leg.is_ended:
                leg.hangup(reason)
        if not self.leg.is_ended:
            self.leg.hangup(reason or "flow ended")

    # -- internals -------------------------------------------------------------------------

    def _check(self) -> None:
        if self.leg.ended.done():
            raise CallEnded(self.leg.ended.result())

    def _on_digit(self, digit: str) -> None:
        self._digits.append(digit)
        waiter = self._digit_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _race(self, fut: asyncio.Future[Any], *, digits: bool) -> None:
        """Wait for `fut`, a digit (when asked), or the caller hanging up (CallEnded)."""
        waiters: list[asyncio.Future[Any]] = [fut, self.leg.ended]
        if digits:
            if self._digits:
                return
            self._digit_waiter = asyncio.get_running_loop().create_future()
            waiters.append(self._digit_waiter)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._digit_waiter = None
        if self.leg.ended.done() and not fut.done():
            raise CallEnded(self.leg.ended.result())

    async def _first_answer(
        self, legs: list[UacLeg], timeout_s: float, stop_digits: str = ""
    ) -> tuple[UacLeg | None, list[int]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        pending: dict[asyncio.Future[Any], UacLeg] = {leg.outcome: leg for leg in legs}
        statuses: list[int] = []
        while pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None, statuses
            waiting: list[asyncio.Future[Any]] = [*pending, self.leg.ended]
            digit_waiter: asyncio.Future[None] | None = None
            if stop_digits:
                if any(d in stop_digits for d in self._digits):
                    return None, statuses
                digit_waiter = self._digit_waiter = loop.create_future()
                waiting.append(digit_waiter)
            done, _ = await asyncio.wait(
                waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if digit_waiter is not None:
                self._digit_waiter = None
                if digit_waiter in done and any(d in stop_digits for d in self._digits):
                    return None, statuses
                done.discard(digit_waiter)
            if self.leg.ended in done:
                raise CallEnded(self.leg.ended.result())
            for fut in done:
                leg = pending.pop(fut)
                status = fut.result()
                if 200 <= status < 300:
                    return leg, statuses
                statuses.append(status)
        return None, statuses

    async def bridge(self, callee: UacLeg, extension: str, *, internal: bool = True) -> DialResult:
        """Talk until the call is over. `internal`: the callee is the extension `extension`
        (False: a number called through a trunk, an outside party whatever its number)."""
        loop = asyncio.get_running_loop()
        if not self.leg.answered:
            await self.answer()
        self.answered_by = self.answered_by or extension
        self.activity = ("talking", extension)
        # the console names the agent (pbx/call/parties.py): on an outgoing call the extension
        # that dialled, not the number that answered
        agent = self.caller_ext if self.direction == "outbound" else extension
        self.rt.events.emit("call.answered", call_id=self.call_id, answered_by=agent)
        media = self.rt.calls.bridges.open_call(  # relay fast path; mixes when a spy joins
            self.rt.clock,
            self.leg.rtp,
            callee.rtp,
            callee_ext=extension if internal else None,
            caller_ext=self.caller_ext,
        )
        media.hang_up_on_rtp_timeout(self.leg, callee, timeout_s=self.rt.settings.rtp_timeout_s)
        callee.on_digit = None  # the callee's keys are not the flow's
        _count(self.rt.busy, extension, +1)
        self.bridged_to = callee
        started = loop.time()
        conversation = self.rt.talk_phase(
            self, media, self.leg, callee, extension if internal else None
        )
        try:
            await conversation.run()  # *2 transfers happen in here
        finally:
            self.transfers.extend(conversation.transfers)
            self.bridged_to = None
            media.close("call ended")
            _count(self.rt.busy, extension, -1)
        talk_s = loop.time() - started
        detail = ""
        if self.transferred_to:
            detail = f"transferred to {self.transferred_to}"
        elif any(
            leg.ended.done() and leg.ended.result() == "rtp timeout" for leg in (self.leg, callee)
        ):
            detail = "rtp timeout"  # a phone vanished mid-call (no BYE, no media)
        result = DialResult(outcome="answered", answered_by=extension, talk_s=talk_s, detail=detail)
        if self.leg.ended.done():
            # (a callee handed to another call by a REFER with Replaces left `callees`)
            if not callee.is_ended and callee in self.callees:
                callee.hangup("caller hung up")
            raise CallEnded(self.leg.ended.result(), result=result)
        return result


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
