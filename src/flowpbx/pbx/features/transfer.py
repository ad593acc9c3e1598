"""Transfers in a call's talk phase: `*2` attended transfer and the phone's transfer button
(REFER) (SPEC §4).

`TransferConversation` is the talk phase (pbx/call/talk.py `Conversation`) with transfers
plugged in: the runtime hands it to every call (`Runtime.talk_phase`). Either internal party
(an extension) may press `*2` then an extension number, ended by `#` or a 3 s pause:

1. the other party (the transferee) hears hold audio, the transferer hears ringback while
   the target's phones ring (`TARGET_RING_S`);
2. the target answers: transferer and target talk, the transferee still on hold;
3. the transferer hangs up: transferee and target are connected — the transfer is done;
   the target hangs up, does not answer, is busy, or the transferer presses `*1`: the
   transferer gets the transferee back. An unknown number plays an error and returns.

Internal parties and how feature keys are taken out of the stream: pbx/call/talk.py.

The phone's transfer button (REFER, RFC 3515) on an internal party's dialog:

- blind (`Refer-To: <sip:103@pbx>`): 202, NOTIFY 100; the target's phones ring and the
  transferee is connected when one answers (NOTIFY 200), else NOTIFY 404/480 and the call
  goes on; the transferer is released after the final NOTIFY.
- attended (`Refer-To: <sip:103@pbx?Replaces=call-id;to-tag=..;from-tag=..>`, RFC 3891 /
  RFC 5589 §7): the Replaces names the transferer's other dialog with flowpbx, talking in
  another conversation. Its far party (the target) moves into this conversation, the
  transferee and the target talk, both of the transferer's dialogs get BYE; NOTIFY 100 then
  200. A Replaces naming no dialog of ours: 202, then NOTIFY 481 (what the INVITE with
  Replaces would have got) and both calls go on.
- semi-attended (the Replaces names the transferer's own call to an extension that still
  rings): that call ends, the target stops ringing and is rung again for the transferee,
  as a blind transfer (NOTIFY 200 when it answers).
- refused: 403 when the REFER comes from a party that is not an extension (a trunk or
  provider leg, an outside caller) or when the Replaces names another extension's dialog;
  603 when the target is not an extension, or the named dialog cannot be joined (not in a
  two-party conversation, somebody else's ringing call, in the middle of another transfer).

The `*2` ring time is `TARGET_RING_S` (20 s), or FLOWPBX_TRANSFER_RING_S when set.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from typing import Any

import numpy as np

from flowpbx.media.audiofile import frames_of
from flowpbx.pbx.call.ringing import ring_registrations
from flowpbx.pbx.call.talk import Conversation, Party, PartyRequest, TalkCall
from flowpbx.pbx.call.uac_leg import UacLeg
from flowpbx.pbx.call.uas_leg import UasLeg
from flowpbx.pbx.events import count
from flowpbx.pbx.features.transfer_phases import TRANSFER_TRANSITIONS, TransferPhase
from flowpbx.pbx.rtp.bridge import Bridge
from flowpbx.pbx.rtp.player import ringback_pcm

log = logging.getLogger("flowpbx.transfer")

TARGET_RING_S = 20.0
BLIND_RELEASE_S = 2.0  # the transferer leaves after the final NOTIFY; else we BYE it then


def target_ring_s() -> float:
    """How long a transfer target rings: FLOWPBX_TRANSFER_RING_S, else `TARGET_RING_S`."""
    text = os.environ.get("FLOWPBX_TRANSFER_RING_S", "").strip()
    try:
        value = float(text) if text else TARGET_RING_S
    except ValueError:
        log.warning("FLOWPBX_TRANSFER_RING_S=%r is not a number: using %g s", text, TARGET_RING_S)
        return TARGET_RING_S
    return value if value > 0 else TARGET_RING_S


def _cycle(pcm: np.ndarray) -> Any:
    return itertools.cycle(list(frames_of(pcm)))


class TransferConversation(Conversation):
    """The talk phase with transfers: `*2`, `*1` and REFER (blind, attended, semi-attended)."""

    def __init__(
        self,
        call: TalkCall,
        bridge: Bridge,
        caller: Party,
        callee: Party,
        callee_label: str | None,
    ) -> None:
        self.phase = TransferPhase.IDLE  # moves along TRANSFER_TRANSITIONS only
        self._targets = 0
        super().__init__(call, bridge, caller, callee, callee_label)

    @property
    def _transferring(self) -> bool:
        return self.phase is not TransferPhase.IDLE

    def _phase_to(self, new: TransferPhase) -> bool:
        """Move the transfer to phase `new` if the table allows it; staying put is no move.
        An illegal move is a bug: logged and refused (False)."""
        if new not in TRANSFER_TRANSITIONS[self.phase]:
            if new is not self.phase:
                log.warning(
                    "call %s: illegal transfer phase %s -> %s refused",
                    self.call.call_id,
                    self.phase.value,
                    new.value,
                )
            return new is self.phase
        log.debug("call %s: transfer %s -> %s", self.call.call_id, self.phase.value, new.value)
        self.phase = new
        return True

    async def _handle(self, request: PartyRequest) -> None:
        if request.kind == "transfer":
            await self._transfer(request.party, request.number)
        elif request.kind == "blind":
            await self._transfer(request.party, request.number, blind=True)
        elif request.kind == "replace":
            self._replace(request.party, request.replaced)
        elif request.kind == "semi":
            await self._semi_attended(request.party, request.number, request.replaced)

    def _on_refer(self, key: str, refer_to: Any) -> int:
        """The REFER's answer (202 accepted, else 403/603), queueing the transfer."""
        if not self._internal(key):
            return 403  # only an extension's own dialog may transfer (not a trunk's)
        if refer_to.replaces is not None:
            found = self.rt.find_replaced(refer_to.replaces)
            replaced = found if isinstance(found, UasLeg | UacLeg) else None
            number = self._ringing_consultation(key, replaced)
            if number is not None:  # semi-attended: the consultation call still rings
                self._requests.put_nowait(PartyRequest("semi", key, number, replaced=replaced))
                return 202
            status = 202 if replaced is None else self._joinable(key, replaced)
            if status == 202:
                self._requests.put_nowait(PartyRequest("replace", key, replaced=replaced))
            return status
        user = refer_to.uri.split(":", 1)[-1].split("@", 1)[0].split(";", 1)[0]
        if user not in self.rt.config.extensions:
            return 603
        self._requests.put_nowait(PartyRequest("blind", key, user))
        return 202

    def _joinable(self, key: str, replaced: Any) -> int:
        """May party `key` hand us the far party of its dialog `replaced`? 202, 403 (not
        its own dialog) or 603 (nothing to join)."""
        other = replaced.conversation
        if not isinstance(other, TransferConversation) or other is self:
            return 603
        okey = other.key_of(replaced)
        if okey is None or other.labels.get(okey) != self.labels.get(key):
            return 403
        if other._transferring or self._transferring or len(other.parties) != 2:
            return 603
        return 202

    def _ringing_consultation(self, key: str, leg: Party | None) -> str | None:
        """The extension party `key` is calling on `leg`, when that call still rings (the
        transferer's own unanswered call to an extension, in no conversation yet)."""
        if not isinstance(leg, UasLeg) or leg.answered or leg.is_ended or leg.conversation:
            return None
        call = self.rt.calls.active.get(leg.invite.call_id)
        if call is None or call.leg is not leg or call.caller_ext != self.labels.get(key):
            return None
        return call.did if call.did in self.rt.config.extensions else None

    async def _transfer(
        self, tkey: str, number: str, *, blind: bool = False, kind: str | None = None
    ) -> None:
        """`*2` (attended) or REFER (blind: the transferee is connected as soon as the
        target answers, the transferer learns the outcome by NOTIFY and leaves)."""
        try:
            await self._transfer_to(tkey, number, blind=blind, kind=kind)
        finally:
            if self.phase in (TransferPhase.HOLD, TransferPhase.CONSULT):
                self._phase_to(TransferPhase.ABORT)  # cut short (the call is torn down)
            self._phase_to(TransferPhase.IDLE)

    async def _semi_attended(self, tkey: str, number: str, replaced: Party | None) -> None:
        """REFER with Replaces naming the transferer's consultation call while it still
        rings: that call ends (the target stops ringing) and the target is rung again for
        the transferee, as a blind transfer; answered meanwhile, it is an attended one."""
        if replaced is not None and isinstance(replaced.conversation, TransferConversation):
            self._replace(tkey, replaced)
            return
        if replaced is not None and not replaced.is_ended:
            call = self.rt.calls.active.get(replaced.invite.call_id)
            if call is not None:
                call.transfers.append(
                    {"by": self.labels.get(tkey), "to": number, "result": "replaced",
                     "kind": "semi-attended", "method": "refer"}
                )  # fmt: skip
            replaced.hangup("replaced by a transfer")
        await self._transfer(tkey, number, blind=True, kind="semi-attended")

    def _new_key(self) -> str:
        self._targets += 1
        return "target" if self._targets == 1 else f"target{self._targets}"

    async def _transfer_to(
        self, tkey: str, number: str, *, blind: bool, kind: str | None = None
    ) -> None:
        rt = self.rt
        ekey = next(k for k in self.parties if k != tkey)
        transferer, transferee = self.parties[tkey], self.parties[ekey]
        record: dict[str, Any] = {
            "by": self.labels.get(tkey),
            "to": number,
            "result": "",
            "kind": kind or ("blind" if blind else "attended"),
            "method": "refer" if blind else "*2",
        }
        self.transfers.append(record)
        bindings = rt.registrar.bindings(number) if number in rt.config.extensions else []
        if not bindings and blind:
            record["result"] = "unknown" if number not in rt.config.extensions else "offline"
            transferer.notify_refer(480 if record["result"] == "offline" else 404)
            return
        bridge = self.bridge
        # Hold: the transferee hears hold audio, the two stop hearing each other.
        self._phase_to(TransferPhase.HOLD)
        bridge.set_hears(ekey, tkey, False)
        bridge.set_hears(tkey, ekey, False)
        bridge.add_source("hold", _cycle(await rt.audio.pcm("hold-music")), heard_by=[ekey])
        if not bindings:
            # An unknown (or unregistered) number: the transferer hears the error alone,
            # then both get each other back.
            record["result"] = "unknown" if number not in rt.config.extensions else "offline"
            await self._play_to(tkey, "invalid-number")
            self._restore(tkey, ekey)
            return
        bridge.add_source("ringback", _cycle(ringback_pcm()), heard_by=[] if blind else [tkey])
        legs: list[UacLeg] = []
        target: UacLeg | None = None
        try:
            await ring_registrations(
                rt,
                number,
                bindings,
                legs,
                from_uri=f"sip:{self.labels.get(tkey, 'transfer')}@{rt.domain}",
                from_name=None,
            )
            target = await self._wait_answer(legs, transferer, transferee, tkey)
        finally:
            bridge.remove("ringback")
            for leg in legs:
                if leg is not target and not leg.is_ended:
                    leg.hangup("transfer: not needed")
        if target is None:
            record["result"] = "not answered"
            if blind:
                transferer.notify_refer(480)
            self._restore(tkey, ekey)
            if transferer.ended.done():  # gave up on the transfer by hanging up
                transferee.hangup("transferer hung up")
            return
        # Consultation: transferer and target talk, the transferee stays on hold.
        self._phase_to(TransferPhase.CONSULT)
        nkey = self._new_key()
        bridge.add_endpoint(nkey, target.rtp, hears_all=False, heard_by_all=False)
        bridge.set_hears(tkey, nkey)
        bridge.set_hears(nkey, tkey)
        busy = rt.busy
        count(busy, number, +1)
        if blind:
            transferer.notify_refer(200)
            outcome = "complete"
        else:
            outcome = await self._consult(tkey, transferer, transferee, target)
        if outcome == "complete":
            self._phase_to(TransferPhase.COMPLETE)
            record["result"] = "completed"
            bridge.remove("hold")
            bridge.remove(tkey)
            self._detach(tkey)
            del self.parties[tkey]
            self._forget_spy(self.labels.pop(tkey, None))
            self.parties[nkey] = target
            self.labels[nkey] = number
            bridge.set_hears(ekey, nkey)
            bridge.set_hears(nkey, ekey)
            self._attach(nkey)
            self._register_spy()
            self.call.transferred_to = number
            rt.events.emit("call.transferred", call_id=self.call.call_id, to=number)
            if blind and not transferer.is_ended:
                # The transferer normally hangs up after NOTIFY 200; make sure it leaves.
                _release_later(transferer)
            # The target is now in the conversation: its busy count ends with it.
            target.ended.add_done_callback(lambda _: _unbusy(busy, number))
            return
        _unbusy(busy, number)
        record["result"] = outcome
        bridge.remove(nkey)
        if not target.is_ended:
            target.hangup("transfer aborted")
        self._restore(tkey, ekey)

    def _replace(self, tkey: str, replaced: Party | None) -> None:
        """REFER with Replaces from party `tkey`: the far party of `replaced` (the
        transferer's dialog in another conversation) joins this one in the transferer's
        place; both of the transferer's legs get BYE. NOTIFY 481 when the dialog is gone."""
        transferer = self.parties[tkey]
        ekey = next(k for k in self.parties if k != tkey)
        by = self.labels.get(tkey)
        record: dict[str, Any] = {"by": by, "to": "", "result": "", "kind": "attended"}
        record["method"] = "refer"
        self.transfers.append(record)
        other = replaced.conversation if replaced is not None else None
        if replaced is None or replaced.is_ended or not isinstance(other, TransferConversation):
            record["result"] = "no such dialog"
            transferer.notify_refer(481)
            return
        status = self._joinable(tkey, replaced)  # again: things may have moved since the REFER
        if status != 202:
            record["result"] = f"refused {status}"
            transferer.notify_refer(status)
            return
        okey = other.key_of(replaced) or ""  # found: _joinable said so
        fkey = next(k for k in other.parties if k != okey)
        far_label = other.labels.get(fkey)
        far_name = far_label or other.call.caller
        record["to"] = far_name
        far = other._hand_over(fkey)
        other._forget_spy(other.labels.get(okey))
        other.transfers.append(
            {
                "by": by,
                "to": self.labels.get(ekey) or self.call.caller,
                "result": "completed",
                "kind": "attended",
                "method": "refer",
            }
        )
        # The far party takes the transferer's place.
        self.bridge.remove(tkey)
        self._detach(tkey)
        del self.parties[tkey]
        self._forget_spy(self.labels.pop(tkey, None))
        nkey = self._new_key()
        self.bridge.add_endpoint(nkey, far.rtp, hears_all=False, heard_by_all=False)
        self.bridge.set_hears(ekey, nkey)
        self.bridge.set_hears(nkey, ekey)
        self.parties[nkey] = far
        if far_label is not None:
            self.labels[nkey] = far_label
        self._attach(nkey)
        self._register_spy()
        record["result"] = "completed"
        self.call.transferred_to = far_name
        self.rt.events.emit("call.transferred", call_id=self.call.call_id, to=far_name)
        transferer.notify_refer(200)
        replaced.hangup("replaced")  # the consultation dialog (RFC 3891: BYE to the replaced)
        _release_later(transferer)

    async def _wait_answer(
        self, legs: list[UacLeg], transferer: Party, transferee: Party, tkey: str
    ) -> UacLeg | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + target_ring_s()
        pending = {leg.outcome: leg for leg in legs}
        while pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            getter = asyncio.ensure_future(self._requests.get())
            waiting: list[asyncio.Future[Any]] = [*pending, transferee.ended, getter]
            if not transferer.ended.done():
                waiting.append(transferer.ended)
            done, _ = await asyncio.wait(
                waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if not getter.done():
                getter.cancel()
            elif getter.result().kind == "abort" and getter.result().party == tkey:
                return None
            if transferee.ended.done():
                return None
            for fut in done:
                leg = pending.pop(fut, None)
                if leg is not None and 200 <= fut.result() < 300:
                    return leg
        return None

    async def _consult(
        self, tkey: str, transferer: Party, transferee: Party, target: UacLeg
    ) -> str:
        if transferer.ended.done():
            return "complete"  # hung up while the target was ringing: complete on answer
        while True:
            getter = asyncio.ensure_future(self._requests.get())
            waiting: list[asyncio.Future[Any]] = [
                transferer.ended,
                transferee.ended,
                target.ended,
                getter,
            ]
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
            if transferee.ended.done():
                return "transferee hung up"
            if transferer.ended.done():
                return "complete"
            if target.ended.done():
                return "target hung up"
            request = getter.result()
            if request.kind == "abort" and request.party == tkey:
                return "aborted"

    def _restore(self, tkey: str, ekey: str) -> None:
        self._phase_to(TransferPhase.ABORT)
        bridge = self.bridge
        bridge.remove("hold")
        if tkey in self.parties and not self.parties[tkey].ended.done():
            bridge.set_hears(ekey, tkey)
            bridge.set_hears(tkey, ekey)

    async def _play_to(self, key: str, audio: str) -> None:
        try:
            pcm = await self.rt.audio.pcm(audio)
        except KeyError:
            return
        frames = iter(list(frames_of(pcm)))
        self.bridge.add_source(f"prompt-{key}", frames, heard_by=[key])
        await asyncio.sleep(len(pcm) / 8000 + 0.1)
        self.bridge.remove(f"prompt-{key}")


def _unbusy(busy: dict[str, int], label: str) -> None:
    count(busy, label, -1)


def _release_later(transferer: Party) -> None:
    """The transferer normally hangs up after the final NOTIFY; make sure it leaves."""
    asyncio.get_running_loop().call_later(
        BLIND_RELEASE_S, lambda: transferer.is_ended or transferer.hangup("transferred")
    )
