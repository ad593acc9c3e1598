"""The call manager: an inbound INVITE becomes a `LiveCall` that runs a flow (or rings an extension
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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from flowpbx.flow.interpreter import run_flow
from flowpbx.flow.model import load_flow
from flowpbx.flow.session import (
    CallEnded,
)
from flowpbx.pbx.call.live import DIAL_BLOCKED, LiveCall, LiveCallHost
from flowpbx.pbx.call.routing import (
    Inbound,
    Internal,
    Outbound,
    OwnVoicemail,
    Reject,
    Spy,
    UnknownNumber,
    route_from_extension,
    route_from_trunk,
)
from flowpbx.pbx.call.sdp_answer import make_uas_answer
from flowpbx.pbx.call.uas_leg import UasLeg
from flowpbx.pbx.events import count as _count
from flowpbx.pbx.features.spy import run_spy
from flowpbx.pbx.features.trunks import (
    TrunkLimits,
    trunk_e164,
)
from flowpbx.pbx.features.voicemail import listen_messages, own_mailbox
from flowpbx.pbx.rtp.bridge import BridgeRegistry
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.rtp.ports import NoRtpPort
from flowpbx.pbx.security import PinLockout
from flowpbx.pbx.srtp_policy import MediaCrypto, leg_crypto
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import Request, make_response
from flowpbx.sip.sdp import SdpError
from flowpbx.store.records import CallRecord

if TYPE_CHECKING:
    from flowpbx.sip.transaction import ServerTransaction

log = logging.getLogger("flowpbx.calls")

Addr = tuple[str, int]


class CallManager:
    """Turns new INVITEs into calls and keeps the set of active ones."""

    def __init__(self, rt: LiveCallHost) -> None:
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
        """Carry out the routing decision (routing.py) for a new INVITE, with the checks
        that keep state: a trunk's INVITE rate and channels, an extension's digest and call
        caps."""
        rt = self.rt
        sip = rt.sip
        try:
            _ = (request.ruri, request.from_, request.to)  # parsed lazily: broken is 400
        except SipParseError:
            sip.send_response(txn, make_response(request, 400))
            return
        trunk = rt.config.trunk_for(addr, txn.transport)
        if trunk is not None:
            # Per-trunk INVITE rate (features/trunks.py TrunkLimits): a trunk's address is
            # easily spoofed; 503 + Retry-After asks a real provider to slow down.
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
            route = route_from_trunk(request, trunk, rt.config)
            if isinstance(route, UnknownNumber):
                sip.send_response(txn, make_response(request, 404))
                skipped = self.trunk_limits.record_rejected(trunk.name, rt.loop.time())
                if skipped is not None:  # a bounded number of history rows, with a count
                    self._record_rejected(
                        request, route.caller, route.number, "unknown number", skipped
                    )
                return
            cap = self.trunk_limits.call_cap(trunk)  # the trunk's own or the default
            if not rt.guard.calls.acquire(f"trunk:{trunk.name}", cap):  # security.py counts
                # The trunk's channels are all in use: busy for this call (no Retry-After,
                # which would make the provider avoid us for every call meanwhile).
                sip.send_response(txn, make_response(request, 486))
                return
            release = functools.partial(rt.guard.release_call, trunk=trunk.name)
            self.spawn(
                self._inbound(
                    txn, request, addr, route.caller, route.caller_name, route.did, route.published
                ),
                release,
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
        decision = route_from_extension(request, user, rt.config)
        if isinstance(decision, Spy):
            self.spawn(
                run_spy(self, txn, request, addr, user, decision.mode, decision.target), release
            )
        elif isinstance(decision, Internal):
            self.spawn(
                self._internal(txn, request, addr, user, caller_name, decision.target), release
            )
        elif isinstance(decision, OwnVoicemail):
            self.spawn(self._own_voicemail(txn, request, addr, user, caller_name), release)
        elif isinstance(decision, Inbound):
            self.spawn(
                self._inbound(
                    txn, request, addr, decision.caller, decision.caller_name, decision.did,
                    decision.published, decision.caller_ext,
                ),
                release,
            )  # fmt: skip
        elif isinstance(decision, Outbound):
            self.spawn(
                self._outbound(
                    txn, request, addr, user, caller_name, decision.number, decision.presented,
                    decision.anonymous,
                ),
                release,
            )  # fmt: skip
        else:
            release()
            reason = decision.reason if isinstance(decision, Reject) else None
            status = decision.status if isinstance(decision, Reject) else 404
            sip.send_response(txn, make_response(request, status, reason))

    def spawn(self, coro: Awaitable[None], on_done: Callable[[], None] | None = None) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if on_done is not None:
            task.add_done_callback(lambda _: on_done())

    async def open_leg(
        self,
        txn: ServerTransaction,
        request: Request,
        addr: Addr,
        *,
        caller_ext: str | None = None,
    ) -> UasLeg | None:
        """The caller's leg, its offer answered (SRTP per the setting of `caller_ext`, the
        extension that authenticated, or of the trunk the INVITE came from)."""
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
            crypto = self._caller_crypto(txn, addr, caller_ext)
            answer_sdp, params = make_uas_answer(rt, request, rtp, crypto)
            rtp.set_remote(params)
            leg = UasLeg(rt, rtp, txn, request, addr, answer_sdp)
            leg.crypto = crypto
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

    def _caller_crypto(
        self, txn: ServerTransaction, addr: Addr, caller_ext: str | None
    ) -> MediaCrypto:
        """The caller's SRTP setting: the authenticated extension's, else its trunk's."""
        rt = self.rt
        ext = rt.config.extensions.get(caller_ext) if caller_ext else None
        trunk = rt.config.trunk_for(addr, txn.transport) if ext is None else None
        if ext is not None:
            mode = ext.media_encryption
        elif trunk is not None:
            mode = trunk.media_encryption
        else:
            mode = "none"
        return leg_crypto(rt.settings, mode, txn.transport)

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
        leg = await self.open_leg(txn, request, addr, caller_ext=caller_ext)
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
        dialled: str | None = None,
    ) -> None:
        """A call an extension places without a flow (another extension, an external
        number, its mailbox): one trace entry of `kind`; `action` returns (outcome, output)
        and adds its facts. The extension counts as busy meanwhile."""
        leg = await self.open_leg(txn, request, addr, caller_ext=caller_ext)
        if leg is None:
            return
        call = LiveCall(
            self.rt, leg, caller=caller, caller_name=caller_name, did=did, caller_ext=caller_ext,
            direction="outbound" if dialled is not None else "internal",
        )  # fmt: skip
        call.dialled = dialled
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
            if result.outcome != "answered" and not call.leg.answered:
                status = {"busy": 486, "no_answer": 480}.get(result.outcome, 503)
                call.leg.reject(403 if result.detail == DIAL_BLOCKED else status)
            return result.outcome, result.outcome

        # The number dialled as the trunk reads it (E.164, the form its callers arrive in),
        # so the client calling back is known (history routing); the trace keeps it as dialled.
        trunk = self.rt.config.outbound_trunk(presented)
        dialled = (trunk_e164(trunk, number) if trunk is not None else None) or number
        await self._direct(
            txn, request, addr, caller_ext=caller_ext, caller=presented,
            caller_name=caller_name, did=presented, kind="call_phone", facts=facts, action=dial,
            dialled=dialled,
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
        parties = call.parties()
        if not started:
            self.rt.events.emit(
                "call.ended", call_id=call.call_id, outcome=outcome, answered_by=parties.agent
            )
            trace = [*trace, self._media_entry(call, trace)]
        answered_at = call.answered_at
        if answered_at is None and call.leg.answered_at is not None:
            answered_at = call.started_at
        # The row by parties (pbx/call/parties.py): an outgoing call shows the number
        # presented as caller, the number dialled as did and the dialling extension; the
        # extension that last talked to the client (after transfers) as answered_by.
        rec = CallRecord(
            call_id=call.call_id,
            started_at=call.started_at,
            answered_at=answered_at,
            ended_at=None if started else dt.datetime.now(dt.UTC),
            caller=parties.presented,
            caller_name=call.caller_name,
            did=parties.dialled,
            flow=call.flow_name,
            revision=call.revision,
            answered_by=parties.agent,
            outcome=outcome,
            trace=trace,
            direction=parties.direction,
            extension=parties.extension,
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
            direction="inbound",
            trace=[{"t": 0.0, "node": None, "type": None, "output": None, "facts": facts}],
        )
        self.spawn(self.rt.history.add(rec))

    async def close(self) -> None:
        for call in list(self.active.values()):
            await call.hangup("shutdown")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _transfer_entries(call: LiveCall, trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transfers made while bridged (pbx/features/transfer.py), as call-history trace entries."""
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
