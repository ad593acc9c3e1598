"""Calls: an inbound INVITE becomes a `LiveCall` that runs a flow (or rings an extension
straight away for internal calls), and ends as one call-history row.

`LiveCall` is the real-world implementation of `flowpbx.flow.session.CallSession`: the flow
interpreter asks it to answer, play, collect digits and ring extensions; it does so with SIP
legs and RTP.

Who may call what (SPEC §2, §7):
- from a trunk's address (recognised by the source address, never by headers): a DID of My
  numbers runs that number's published flow; any other number gets 404;
- from anywhere else: only an extension that authenticates (407 challenge) may call; it may
  ring another extension or run the flow of one of My numbers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowpbx.flow.dialstring import DialStringError, parse_dialstring
from flowpbx.flow.interpreter import run_flow
from flowpbx.flow.model import QueueParams, VoicemailParams, load_flow
from flowpbx.flow.session import (
    CallEnded,
    DialOutcome,
    DialResult,
    QueueResult,
    VoicemailResult,
)
from flowpbx.media.audiofile import load_audio
from flowpbx.pbx.bridge import BridgeRegistry
from flowpbx.pbx.early_media import EarlyMedia
from flowpbx.pbx.events import count as _count
from flowpbx.pbx.legs import UacLeg, UasLeg, make_uas_answer
from flowpbx.pbx.media import NoRtpPort, Player, RtpEndpoint, encode_frames, ringback_frames
from flowpbx.pbx.queues import QueueSpec
from flowpbx.pbx.spy import parse_spy_code, run_spy
from flowpbx.pbx.transfer import Conversation
from flowpbx.pbx.trunks import (
    TrunkLimits,
    caller_identity,
    inbound_numbers,
    outbound_allowed,
)
from flowpbx.pbx.trunks import normalize_number as normalize_number
from flowpbx.pbx.voicemail import PinLockout, leave_message, listen_messages, own_mailbox
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import Request, make_response
from flowpbx.sip.sdp import SdpError
from flowpbx.store.records import CallRecord

if TYPE_CHECKING:
    from flowpbx.pbx.runtime import Runtime
    from flowpbx.sip.transaction import ServerTransaction

log = logging.getLogger("flowpbx.calls")

Addr = tuple[str, int]
BUSY_STATUSES = frozenset({486, 600, 603})
NO_ANSWER_STATUSES = frozenset({408, 480, 487})
DIAL_BLOCKED = "blocked by outbound dial restrictions"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RingTarget:
    """One phone to ring: where the INVITE goes and how it is addressed."""

    uri: str  # Request-URI
    addr: Addr  # where to send it (the registration's source, or the trunk)
    to_uri: str
    label: str  # extension or number, for busy/ringing state and history
    from_uri: str | None = None  # default: the caller's number at our domain
    auth: tuple[str, str] | None = None  # credentials for a trunk's 401/407 challenge
    from_name: str | None = None  # default: the caller's name
    headers: tuple[tuple[str, str], ...] = ()  # P-Asserted-Identity, Privacy (trunks)
    transport: str | None = None


def _failure_outcome(statuses: list[int]) -> DialOutcome:
    if statuses and all(s in BUSY_STATUSES for s in statuses):
        return "busy"
    return "no_answer"


def _statuses(statuses: list[int]) -> str:
    return ",".join(map(str, statuses))


class LiveCall:
    """One caller leg and everything the flow does with it."""

    def __init__(
        self,
        rt: Runtime,
        leg: UasLeg,
        *,
        caller: str,
        caller_name: str | None,
        did: str,
        caller_ext: str | None = None,
    ) -> None:
        self.rt = rt
        self.leg = leg
        self._caller = caller
        self._caller_name = caller_name
        self._did = did
        # The extension the caller's leg authenticated as; None for a trunk's leg, whatever
        # number it shows (only this makes the caller an internal party: *2, REFER, spy).
        self.caller_ext = caller_ext
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
        # sent in the Request-URI (national, 00/011 forms: pbx/trunks.py).
        guard = self.rt.guard.config
        if not outbound_allowed(
            trunk, number, guard.dial_allowed_prefixes, guard.dial_blocked_prefixes
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
            uri=f"sip:{number}@{trunk.host}:{trunk.port}"
            + (";transport=tls" if trunk.transport == "tls" else ""),
            addr=addr,
            to_uri=f"sip:{number}@{domain}",
            label=number,
            from_uri=identity.from_uri,
            from_name=identity.from_name,
            headers=identity.headers,
            auth=(trunk.username, trunk.password) if trunk.username and trunk.password else None,
            transport=trunk.transport if trunk.transport != "udp" else None,
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
        """The `queue` element on a live call (pbx/queues.py does the work)."""
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
        """The `voicemail` element (mode leave) on a live call (pbx/voicemail.py)."""
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
        """The `voicemail` element (mode listen) on a live call (pbx/voicemail.py)."""
        self._check()
        box = self.rt.config.raw.mailboxes.get(params.mailbox)
        pin = params.pin or (box.pin if box is not None else None)
        return await listen_messages(self, mailbox=params.mailbox, pin=pin)

    def extension_targets(self, extension: str) -> list[RingTarget]:
        rt = self.rt
        return [
            RingTarget(
                uri=b.contact,
                addr=b.source,
                to_uri=f"sip:{extension}@{rt.domain}",
                label=extension,
                # a phone registered over TLS is never sent a request in clear (pbx/tls.py)
                transport="tls" if b.transport == "tls" else None,
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
        self.rt.events.emit("call.answered", call_id=self.call_id, answered_by=extension)
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
        conversation = Conversation(self, media, self.leg, callee, extension if internal else None)
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


class CallManager:
    """Turns new INVITEs into calls and keeps the set of active ones."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.active: dict[str, LiveCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._flows: dict[tuple[str, int], Any] = {}
        self.bridges = BridgeRegistry()  # extension -> its current bridged call (spy codes)
        settings = rt.settings
        self.pin_lockout = PinLockout(  # wrong voicemail PINs across calls (voicemail.py)
            max_failures=settings.voicemail_pin_max_failures,
            window_s=settings.voicemail_pin_window_s,
            lockout_s=settings.voicemail_pin_lockout_s,
        )
        self.trunk_limits = TrunkLimits.from_settings(rt.settings)

    def on_invite(self, txn: ServerTransaction, request: Request, addr: Addr) -> None:
        rt = self.rt
        sip = rt.sip
        try:
            ruri_user = request.ruri.user or ""
            from_ = request.from_
            to_uri = request.to.uri
        except SipParseError:
            sip.send_response(txn, make_response(request, 400))
            return
        trunk = rt.config.trunk_for(addr, txn.transport)
        if trunk is not None:
            # Per-trunk INVITE rate (pbx/trunks.py TrunkLimits): a trunk's address is easily
            # spoofed; 503 + Retry-After asks a real provider to slow down.
            wait_s = (
                None
                if rt.guard.trusted(addr[0])
                else self.trunk_limits.admit_invite(trunk, rt.loop.time())
            )
            if wait_s is not None:
                sip.send_response(
                    txn, make_response(request, 503, headers=[("Retry-After", str(wait_s))])
                )
                return
            did, caller = inbound_numbers(trunk, request.ruri, to_uri, from_.uri)
            published = rt.config.flows_by_did.get(did)
            if published is None:
                sip.send_response(txn, make_response(request, 404))
                skipped = self.trunk_limits.record_rejected(trunk.name, rt.loop.time())
                if skipped is not None:  # a bounded number of history rows, with a count
                    self._record_rejected(
                        request, caller, did or ruri_user, "unknown number", skipped
                    )
                return
            cap = self.trunk_limits.call_cap(trunk)  # the trunk's own or the default
            if not rt.guard.calls.acquire(f"trunk:{trunk.name}", cap):  # security.py counts
                # The trunk's channels are all in use: busy for this call (no Retry-After,
                # which would make the provider avoid us for every call meanwhile).
                sip.send_response(txn, make_response(request, 486))
                return
            release = functools.partial(rt.guard.release_call, trunk=trunk.name)
            self._spawn(
                self._inbound(txn, request, addr, caller, from_.display, did, published), release
            )
            return
        # Not a trunk: only an authenticated extension may place calls.
        user, status, headers = rt.auth.check(
            request, proxy=True, now=rt.loop.time(), source=addr[0]
        )
        if user is None:
            sip.send_response(txn, make_response(request, status, headers=headers))
            return
        if not rt.guard.acquire_call(extension=user):  # pbx/security.py call caps
            sip.send_response(txn, make_response(request, 503, "Too Many Calls"))
            return
        release = functools.partial(rt.guard.release_call, extension=user)
        ext = rt.config.extensions.get(user)
        caller_name = ext.name if ext is not None else None
        target = ruri_user.strip()
        spy = parse_spy_code(target)  # 4#NNN / 5#NNN / 6#NNN (pbx/spy.py)
        if spy is not None:
            self._spawn(run_spy(self, txn, request, addr, user, *spy), release)
            return
        if target in rt.config.extensions:
            self._spawn(self._internal(txn, request, addr, user, caller_name, target), release)
            return
        numbers = rt.config.raw.caller_id_list
        try:
            dial = parse_dialstring(
                target,
                is_extension=lambda n: n in rt.config.extensions,
                is_did=lambda n: n in rt.config.flows_by_did,
                caller_id_count=len(numbers),
            )
        except DialStringError as exc:
            release()
            reason = "Caller ID Not In List" if "caller-ID list" in str(exc) else None
            sip.send_response(txn, make_response(request, exc.status, reason))
            return
        if dial.kind == "voicemail":  # *97: the caller's own mailbox
            self._spawn(self._own_voicemail(txn, request, addr, user, caller_name), release)
            return
        if dial.kind == "did":
            published = rt.config.flows_by_did[dial.number]
            self._spawn(
                self._inbound(txn, request, addr, user, caller_name, dial.number, published, user),
                release,
            )
            return
        if dial.kind == "external":
            if ext is None or not ext.outbound:
                release()
                sip.send_response(txn, make_response(request, 403, "Outbound Calls Not Allowed"))
                return
            if dial.caller_id_index is not None:
                presented = numbers[dial.caller_id_index - 1]
            else:
                presented = ext.caller_id or (numbers[0] if numbers else user)
            self._spawn(
                self._outbound(
                    txn, request, addr, user, caller_name, dial.number, presented, dial.anonymous
                ),
                release,
            )
            return
        release()
        sip.send_response(txn, make_response(request, 404))

    def _spawn(self, coro: Any, on_done: Callable[[], None] | None = None) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if on_done is not None:
            task.add_done_callback(lambda _: on_done())

    async def _open_leg(
        self, txn: ServerTransaction, request: Request, addr: Addr
    ) -> UasLeg | None:
        rt = self.rt
        if not request.contacts or request.from_.tag is None:
            # a dialog needs the caller's tag and a remote target (RFC 3261 §8.1.1.3, §8.1.1.8)
            rt.sip.send_response(txn, make_response(request, 400, "Missing Contact or From Tag"))
            return None
        try:
            rtp = await RtpEndpoint.open(rt.rtp_pool, rt.media_ip)
        except NoRtpPort:
            rt.sip.send_response(txn, make_response(request, 503, "Out of media ports"))
            return None
        # The port goes back to the pool on every way out but a leg that owns it.
        leg: UasLeg | None = None
        status = 500
        try:
            answer_sdp, params = make_uas_answer(rt, request, rtp)
            rtp.set_remote(params)
            leg = UasLeg(rt, rtp, txn, request, addr, answer_sdp)
            return leg
        except SdpError as exc:
            status = exc.status_hint or 488
        except Exception as exc:  # a bug: answered 500 below, logged without a flood
            rt.sip.failures.report(f"INVITE {request.call_id[:60]!r} setup", exc, rt.loop.time())
        finally:
            if leg is None:
                rtp.close()
        try:
            rt.sip.send_response(txn, make_response(request, status))
        except Exception as exc:  # the transaction is gone; its guard timer ends it
            log.debug("could not answer a failed INVITE: %s", exc)
        return None

    async def _inbound(
        self,
        txn: ServerTransaction,
        request: Request,
        addr: Addr,
        caller: str,
        caller_name: str | None,
        did: str,
        published: Any,
        caller_ext: str | None = None,
    ) -> None:
        leg = await self._open_leg(txn, request, addr)
        if leg is None:
            return
        call = LiveCall(
            self.rt, leg, caller=caller, caller_name=caller_name, did=did, caller_ext=caller_ext
        )
        call.flow_name = published.flow_name
        call.revision = published.revision
        self.active[call.call_id] = call
        await self._record(call, "in_progress", [], started=True)  # closed at end or restart
        self.rt.events.emit(
            "call.started", call_id=call.call_id, caller=caller, did=did, flow=call.flow_name
        )
        trace: list[dict[str, Any]] = []
        outcome = "error"
        try:
            flow = self._flow(published)
            run = await run_flow(flow, call, services=self.rt.flow_services)
            trace = [_trace_dict(entry) for entry in run.trace]
            outcome = run.outcome
            call.answered_by = call.answered_by or run.answered_by
            trace += _transfer_entries(call, trace)
        except Exception:
            log.exception("flow %s failed on call %s", published.flow_name, call.call_id)
        finally:
            await call.hangup("flow ended")
            self.active.pop(call.call_id, None)
            await self._record(call, outcome, trace)

    async def _direct(
        self,
        txn: ServerTransaction,
        request: Request,
        addr: Addr,
        *,
        caller_ext: str,
        caller: str,
        caller_name: str | None,
        did: str,
        kind: str,
        facts: dict[str, Any],
        action: Callable[[LiveCall], Awaitable[tuple[str, str | None]]],
    ) -> None:
        """A call an extension places without a flow (another extension, an external
        number, its mailbox): one trace entry of `kind`; `action` returns (outcome, output)
        and adds its facts. The extension counts as busy meanwhile."""
        leg = await self._open_leg(txn, request, addr)
        if leg is None:
            return
        call = LiveCall(
            self.rt, leg, caller=caller, caller_name=caller_name, did=did, caller_ext=caller_ext
        )
        self.active[call.call_id] = call
        await self._record(call, "in_progress", [], started=True)  # closed at end or restart
        self.rt.events.emit(
            "call.started", call_id=call.call_id, caller=caller_ext, did=did, flow=None
        )
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        outcome, output = "error", None
        _count(self.rt.busy, caller_ext, +1)
        try:
            outcome, output = await action(call)
        except CallEnded as ended:
            bridged = ended.result is not None
            outcome, output = ("answered", "answered") if bridged else ("caller_hangup", None)
            facts["ended"] = ended.reason
        except Exception:
            log.exception("call %s from %s failed", call.call_id, caller_ext)
        finally:
            _count(self.rt.busy, caller_ext, -1)
            await call.hangup("call ended")
            self.active.pop(call.call_id, None)
            trace = [
                {
                    "t": round(loop.time() - t0, 3),
                    "node": kind,
                    "type": kind,
                    "output": output,
                    "facts": facts,
                }
            ]
            trace += _transfer_entries(call, trace)
            await self._record(call, outcome, trace)

    async def _internal(
        self,
        txn: ServerTransaction,
        request: Request,
        addr: Addr,
        caller_ext: str,
        caller_name: str | None,
        target: str,
    ) -> None:
        """An extension calling another extension."""
        facts: dict[str, Any] = {"extension": target}

        async def ring(call: LiveCall) -> tuple[str, str | None]:
            result = await call.dial_extension(
                target, ring_timeout_s=self.rt.internal_ring_timeout_s
            )
            facts["detail"] = result.detail
            if result.outcome != "answered" and not call.leg.answered:
                call.leg.reject({"busy": 486}.get(result.outcome, 480))
            return result.outcome, result.outcome

        await self._direct(
            txn, request, addr, caller_ext=caller_ext, caller=caller_ext,
            caller_name=caller_name, did=target, kind="call_sip", facts=facts, action=ring,
        )  # fmt: skip

    async def _own_voicemail(
        self,
        txn: ServerTransaction,
        request: Request,
        addr: Addr,
        caller_ext: str,
        caller_name: str | None,
    ) -> None:
        """`*97`: an extension listens to its own mailbox (its PIN is asked when it has one)."""
        mailbox = own_mailbox(self.rt, caller_ext)
        facts: dict[str, Any] = {"mailbox": mailbox}

        async def listen(call: LiveCall) -> tuple[str, str | None]:
            box = self.rt.config.raw.mailboxes.get(mailbox)
            facts["ended"] = await listen_messages(
                call, mailbox=mailbox, pin=box.pin if box is not None else None
            )
            return "hangup", "done"

        await self._direct(
            txn, request, addr, caller_ext=caller_ext, caller=caller_ext,
            caller_name=caller_name, did="*97", kind="voicemail", facts=facts, action=listen,
        )  # fmt: skip

    async def _outbound(
        self,
        txn: ServerTransaction,
        request: Request,
        addr: Addr,
        caller_ext: str,
        caller_name: str | None,
        number: str,
        presented: str,
        anonymous: bool,
    ) -> None:
        """An extension calling an external number through the trunk of the number it
        presents (SPEC §4: as its caller ID, `cN`, or anonymous with `h`)."""
        facts: dict[str, Any] = {
            "extension": caller_ext,
            "number": number,
            "caller_id": "anonymous" if anonymous else presented,
        }

        async def dial(call: LiveCall) -> tuple[str, str | None]:
            result = await call.dial_number(
                number, ring_timeout_s=60.0, caller_id=presented, anonymous=anonymous
            )
            facts["detail"] = result.detail
            if result.outcome == "answered":
                call.answered_by = number
            elif not call.leg.answered:
                status = {"busy": 486, "no_answer": 480}.get(result.outcome, 503)
                call.leg.reject(403 if result.detail == DIAL_BLOCKED else status)
            return result.outcome, result.outcome

        await self._direct(
            txn, request, addr, caller_ext=caller_ext, caller=presented,
            caller_name=caller_name, did=presented, kind="call_phone", facts=facts, action=dial,
        )  # fmt: skip

    def _flow(self, published: Any) -> Any:
        key = (published.flow_name, published.revision)
        flow = self._flows.get(key)
        if flow is None:
            flow = self._flows[key] = load_flow(published.document)
        return flow

    @staticmethod
    def _media_entry(call: LiveCall, trace: list[dict[str, Any]]) -> dict[str, Any]:
        """RTP/RTCP figures of the call's legs (loss, jitter, round trip), for history."""
        legs: dict[str, Any] = {"caller": call.leg.rtp.media_stats()}
        for i, leg in enumerate(call.callees):
            if leg.answered_at is not None:
                legs[f"{leg.label}#{i}"] = leg.rtp.media_stats()
        return {
            "t": trace[-1]["t"] if trace else 0.0,
            "node": None,
            "type": "media",
            "output": None,
            "facts": legs,
        }

    async def _record(
        self, call: LiveCall, outcome: str, trace: list[dict[str, Any]], *, started: bool = False
    ) -> None:
        if not started:
            self.rt.events.emit(
                "call.ended", call_id=call.call_id, outcome=outcome, answered_by=call.answered_by
            )
            trace = [*trace, self._media_entry(call, trace)]
        answered_at = call.answered_at
        if answered_at is None and call.leg.answered_at is not None:
            answered_at = call.started_at
        rec = CallRecord(
            call_id=call.call_id,
            started_at=call.started_at,
            answered_at=answered_at,
            ended_at=None if started else dt.datetime.now(dt.UTC),
            caller=call.caller,
            caller_name=call.caller_name,
            did=call.did,
            flow=call.flow_name,
            revision=call.revision,
            answered_by=call.answered_by,
            outcome=outcome,
            trace=trace,
        )
        await self.rt.history.add(rec)

    def _record_rejected(
        self, request: Request, caller: str, did: str, why: str, skipped: int = 0
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        facts: dict[str, Any] = {"reason": why}
        if skipped:
            facts["not_recorded_before"] = skipped  # rows skipped over the rate (TrunkLimits)
        rec = CallRecord(
            call_id=request.call_id,
            started_at=now,
            answered_at=None,
            ended_at=now,
            caller=caller,
            caller_name=None,
            did=did,
            flow=None,
            revision=None,
            answered_by=None,
            outcome="rejected",
            trace=[{"t": 0.0, "node": None, "type": None, "output": None, "facts": facts}],
        )
        self._spawn(self.rt.history.add(rec))

    async def close(self) -> None:
        for call in list(self.active.values()):
            await call.hangup("shutdown")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _transfer_entries(call: LiveCall, trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transfers made while bridged (pbx/transfer.py), as call-history trace entries."""
    t = trace[-1]["t"] if trace else 0.0
    return [
        {"t": t, "node": None, "type": "transfer", "output": x.get("result"), "facts": x}
        for x in call.transfers
    ]


def _trace_dict(entry: Any) -> dict[str, Any]:
    if isinstance(entry, dict):
        return entry
    if dataclasses.is_dataclass(entry) and not isinstance(entry, type):
        return dataclasses.asdict(entry)
    if hasattr(entry, "model_dump"):
        return dict(entry.model_dump())
    return {"entry": repr(entry)}
