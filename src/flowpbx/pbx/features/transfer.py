"""Two parties talking, with `*2` attended transfer (SPEC §4).

`Conversation` runs a bridged call between two legs until it is over. Either internal party
(an extension) may press `*2` then an extension number, ended by `#` or a 3 s pause:

1. the other party (the transferee) hears hold audio, the transferer hears ringback while
   the target's phones ring (`TARGET_RING_S`);
2. the target answers: transferer and target talk, the transferee still on hold;
3. the transferer hangs up: transferee and target are connected — the transfer is done;
   the target hangs up, does not answer, is busy, or the transferer presses `*1`: the
   transferer gets the transferee back. An unknown number plays an error and returns.

Internal means the leg is an extension's: one flowpbx rang for it, or one that authenticated
as it. A trunk's leg is outside whatever number it shows (a provider's caller presenting 101
has no feature keys and may not REFER).

The feature keys are taken out of the stream: RFC 4733 digits of internal legs are not
relayed to the other party while a conversation runs. A phone that sends its keys in-band
(its SDP had no telephone-event: the tones are in its audio) is not heard by the others
from the moment its `*` is detected until its keys are done (submitted, `*1`, a key that
is not a feature key, or a 3 s pause after the `*`); only the start of the `*` tone, the
detector's reaction time of some 40-60 ms, still reaches them.

Feature-key states per party, in one table: idle -(*)-> star -(2)-> collecting -(#|pause)->
idle, star -(1)-> idle with an abort, star -(pause, in-band phones)-> idle.

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
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from flowpbx.media.audiofile import frames_of
from flowpbx.pbx.call.host import CallHost
from flowpbx.pbx.call.uac_leg import UacLeg
from flowpbx.pbx.call.uas_leg import UasLeg
from flowpbx.pbx.events import count
from flowpbx.pbx.rtp.bridge import Bridge, CallBridge
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.rtp.player import ringback_pcm
from flowpbx.pbx.rtp.ports import NoRtpPort
from flowpbx.pbx.srtp_policy import extension_crypto

log = logging.getLogger("flowpbx.transfer")

Party = UasLeg | UacLeg

DIGIT_PAUSE_S = 3.0
TARGET_RING_S = 20.0
MAX_DIGITS = 6
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


KeyState = Literal["idle", "star", "collecting"]
# (state, key class) -> next state; key classes: "*", "2", "1", "#", "digit", "other"
_KEY_TABLE: dict[tuple[KeyState, str], KeyState] = {
    ("idle", "*"): "star",
    ("star", "2"): "collecting",
    ("star", "1"): "idle",  # *1: abort (acted on only during a consultation)
    ("star", "*"): "star",
    ("collecting", "digit"): "collecting",
    ("collecting", "2"): "collecting",
    ("collecting", "1"): "collecting",
    ("collecting", "#"): "idle",  # submit
}


def _key_class(digit: str) -> str:
    if digit in ("*", "#", "1", "2"):
        return digit
    return "digit" if digit.isdigit() else "other"


@dataclass(slots=True)
class _Keys:
    state: KeyState = "idle"
    digits: str = ""
    timer: asyncio.TimerHandle | None = None
    quieted: list[Hashable] = field(default_factory=list)  # who stopped hearing it, keying


@dataclass(frozen=True, slots=True)
class _Request:
    kind: Literal["transfer", "abort", "blind", "replace", "semi"]
    party: str
    number: str = ""
    replaced: Party | None = None  # "replace": the transferer's other leg (None: not found)


def _cycle(pcm: np.ndarray) -> Any:
    return itertools.cycle(list(frames_of(pcm)))


class TransferCall(Protocol):
    """What the talk phase and its transfers do with the call (pbx/call/live.py `LiveCall`)."""

    transferred_to: str | None

    @property
    def rt(self) -> CallHost: ...
    @property
    def leg(self) -> UasLeg: ...
    @property
    def call_id(self) -> str: ...
    @property
    def caller(self) -> str: ...
    @property
    def caller_ext(self) -> str | None: ...
    @property
    def did(self) -> str: ...
    @property
    def callees(self) -> list[UacLeg]: ...
    @property
    def transfers(self) -> list[dict[str, Any]]: ...


class Conversation:
    """The talk phase of a call between party "caller" and party "callee"."""

    def __init__(
        self,
        call: TransferCall,
        bridge: Bridge,
        caller: Party,
        callee: Party,
        callee_label: str | None,
    ) -> None:
        """`callee_label`: the extension the callee leg rang (None: an outside party). A
        party is labelled by where its leg came from, never by the number it shows: the
        caller is internal only when its leg authenticated as an extension."""
        self.call = call
        self.rt = call.rt
        self.bridge = bridge
        self.parties: dict[str, Party] = {"caller": caller, "callee": callee}
        self.labels: dict[str, str] = {}
        if callee_label is not None:
            self.labels["callee"] = callee_label
        if call.caller_ext is not None:
            self.labels["caller"] = call.caller_ext
        self._keys: dict[str, _Keys] = {}
        self._requests: asyncio.Queue[_Request] = asyncio.Queue()
        self.transfers: list[dict[str, Any]] = []
        self._saved: dict[str, tuple[Any, Any]] = {}
        self._transferring = False
        self._keep: Party | None = None  # the call's own leg, handed to another conversation
        self._targets = 0
        for key in ("caller", "callee"):
            self._attach(key)

    # -- feature keys ----------------------------------------------------------------------

    def _internal(self, key: str) -> bool:
        return self.labels.get(key, "") in self.rt.config.extensions

    def _attach(self, key: str) -> None:
        leg = self.parties[key]
        leg.conversation = self
        # The phone's own transfer button (REFER, RFC 3515), for internal parties only.
        leg.on_refer = lambda _leg, refer_to, _req, key=key: self._on_refer(key, refer_to)
        if not self._internal(key):
            return
        self._saved[key] = (leg.on_digit, leg.rtp.on_digit)
        handler = lambda digit, key=key: self._on_key(key, digit)  # noqa: E731
        leg.on_digit = handler
        leg.rtp.on_digit = handler
        leg.rtp.dtmf_passthrough = False
        self._keys[key] = _Keys()

    def _on_refer(self, key: str, refer_to: Any) -> int:
        """The REFER's answer (202 accepted, else 403/603), queueing the transfer."""
        if not self._internal(key):
            return 403  # only an extension's own dialog may transfer (not a trunk's)
        if refer_to.replaces is not None:
            found = self.rt.find_replaced(refer_to.replaces)
            replaced = found if isinstance(found, UasLeg | UacLeg) else None
            number = self._ringing_consultation(key, replaced)
            if number is not None:  # semi-attended: the consultation call still rings
                self._requests.put_nowait(_Request("semi", key, number, replaced=replaced))
                return 202
            status = 202 if replaced is None else self._joinable(key, replaced)
            if status == 202:
                self._requests.put_nowait(_Request("replace", key, replaced=replaced))
            return status
        user = refer_to.uri.split(":", 1)[-1].split("@", 1)[0].split(";", 1)[0]
        if user not in self.rt.config.extensions:
            return 603
        self._requests.put_nowait(_Request("blind", key, user))
        return 202

    def _joinable(self, key: str, replaced: Any) -> int:
        """May party `key` hand us the far party of its dialog `replaced`? 202, 403 (not
        its own dialog) or 603 (nothing to join)."""
        other = replaced.conversation
        if not isinstance(other, Conversation) or other is self:
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

    def key_of(self, leg: object) -> str | None:
        return next((k for k, p in self.parties.items() if p is leg), None)

    def _detach(self, key: str) -> None:
        leg_ = self.parties.get(key)
        if leg_ is not None:
            leg_.on_refer = None
            if leg_.conversation is self:
                leg_.conversation = None
        saved = self._saved.pop(key, None)
        keys = self._keys.pop(key, None)
        if keys is not None:
            self._unquiet(key, keys)
            if keys.timer is not None:
                keys.timer.cancel()
        leg = self.parties.get(key)
        if leg is not None and saved is not None:
            leg.on_digit, leg.rtp.on_digit = saved
            leg.rtp.dtmf_passthrough = True

    def _on_key(self, key: str, digit: str) -> None:
        keys = self._keys.get(key)
        if keys is None:
            return
        before = keys.state
        after = _KEY_TABLE.get((before, _key_class(digit)), "idle")
        if keys.timer is not None:
            keys.timer.cancel()
            keys.timer = None
        if after == "idle":
            self._unquiet(key, keys)  # before any request: the transfer code sets its own
        if before == "star" and digit == "1":
            self._requests.put_nowait(_Request("abort", key))
        if after == "collecting":
            if before == "collecting":
                keys.digits += digit
            if len(keys.digits) >= MAX_DIGITS:
                self._submit(key)
                return
            keys.timer = asyncio.get_running_loop().call_later(DIGIT_PAUSE_S, self._submit, key)
        elif before == "collecting" and digit == "#":
            self._submit(key)
            return
        elif after == "star" and self.parties[key].rtp.inband is not None:
            if before == "idle":
                self._quiet(key, keys)
            # A `*` alone must not keep the phone unheard: back to idle after a pause.
            keys.timer = asyncio.get_running_loop().call_later(
                DIGIT_PAUSE_S, self._star_timeout, key
            )
        keys.state = after
        if after == "idle":
            keys.digits = ""

    def _submit(self, key: str) -> None:
        keys = self._keys.get(key)
        if keys is None:
            return
        number, keys.digits, keys.state = keys.digits, "", "idle"
        if keys.timer is not None:
            keys.timer.cancel()
            keys.timer = None
        self._unquiet(key, keys)
        if number:
            self._requests.put_nowait(_Request("transfer", key, number))

    def _star_timeout(self, key: str) -> None:
        keys = self._keys.get(key)
        if keys is not None and keys.state == "star":
            keys.state, keys.timer = "idle", None
            self._unquiet(key, keys)

    def _quiet(self, key: str, keys: _Keys) -> None:
        """An in-band phone starts keying: whoever hears party `key` (the other party, a
        transfer target, a supervisor; not a recorder) stops hearing it, remembered in
        `keys.quieted`."""
        bridge = self.bridge
        if bridge.closed or key not in bridge:
            return
        for other in bridge.mixer.keys:
            if (
                other != key
                and bridge.endpoint(other) is not None
                and bridge.mixer.hears(other, key)
            ):
                bridge.set_hears(other, key, False)
                keys.quieted.append(other)

    def _unquiet(self, key: str, keys: _Keys) -> None:
        """The keys are done: those `_quiet` turned off hear party `key` again (only them:
        hold, consultation and spy modes set the rest of the matrix)."""
        if not keys.quieted:
            return
        quieted, keys.quieted = keys.quieted, []
        bridge = self.bridge
        if bridge.closed or key not in bridge:
            return
        for other in quieted:
            if other in bridge:
                bridge.set_hears(other, key)

    # -- the talk loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Until the conversation is over (every party but at most one has left). When the
        call's own leg was handed to another conversation (REFER with Replaces), until that
        leg is over: the flow goes on only once its caller has left."""
        try:
            while True:
                getter = asyncio.ensure_future(self._requests.get())
                waiting: list[asyncio.Future[Any]] = [getter]
                waiting += [leg.ended for leg in self.parties.values()]
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                if any(leg.ended.done() for leg in self.parties.values()):
                    break
                if getter.cancelled():
                    continue  # a leg handed to another conversation ended there
                request = getter.result()
                if request.party not in self.parties:
                    continue
                if request.kind == "transfer":
                    await self._transfer(request.party, request.number)
                elif request.kind == "blind":
                    await self._transfer(request.party, request.number, blind=True)
                elif request.kind == "replace":
                    self._replace(request.party, request.replaced)
                elif request.kind == "semi":
                    await self._semi_attended(request.party, request.number, request.replaced)
            if self._keep is not None:
                self._hang_up_others()
                await self._keep.ended
        finally:
            for key in list(self._saved):
                self._detach(key)
            self._hang_up_others()

    def _hang_up_others(self) -> None:
        # The caller's own leg stays with the flow (a callee hanging up takes the element's
        # `answered` output); everybody else leaves with the conversation.
        for leg in self.parties.values():
            if leg is not self.call.leg and not leg.ended.done():
                leg.hangup("the other party hung up")

    async def _transfer(
        self, tkey: str, number: str, *, blind: bool = False, kind: str | None = None
    ) -> None:
        """`*2` (attended) or REFER (blind: the transferee is connected as soon as the
        target answers, the transferer learns the outcome by NOTIFY and leaves)."""
        self._transferring = True
        try:
            await self._transfer_to(tkey, number, blind=blind, kind=kind)
        finally:
            self._transferring = False

    async def _semi_attended(self, tkey: str, number: str, replaced: Party | None) -> None:
        """REFER with Replaces naming the transferer's consultation call while it still
        rings: that call ends (the target stops ringing) and the target is rung again for
        the transferee, as a blind transfer; answered meanwhile, it is an attended one."""
        if replaced is not None and isinstance(replaced.conversation, Conversation):
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
            for binding in bindings:
                crypto = extension_crypto(
                    rt.settings, rt.config.extensions.get(number), binding.transport
                )
                if not crypto.can_call():
                    continue  # SRTP required, keys may not go over this signalling
                try:
                    rtp = await RtpEndpoint.open(rt.rtp_pool, rt.media_ip)
                except NoRtpPort:
                    break
                leg = UacLeg(
                    rt,
                    rtp,
                    target_uri=binding.contact,
                    addr=binding.source,
                    from_uri=f"sip:{self.labels.get(tkey, 'transfer')}@{rt.domain}",
                    from_name=None,
                    to_uri=f"sip:{number}@{rt.domain}",
                    label=number,
                    transport="tls" if binding.transport == "tls" else None,
                    crypto=crypto,
                )
                legs.append(leg)
                leg.start()
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
        if replaced is None or replaced.is_ended or not isinstance(other, Conversation):
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

    def _register_spy(self) -> None:
        """After a transfer: the extensions now talking here can be spied on here."""
        keys = list(self.parties)
        if len(keys) != 2:
            return
        for agent, client in (keys, keys[::-1]):
            label = self.labels.get(agent)
            if label is not None and label in self.rt.config.extensions:
                entry = CallBridge(bridge=self.bridge, agent=agent, client=client, extension=label)
                self.rt.calls.bridges.register(label, entry)

    def _forget_spy(self, label: str | None) -> None:
        if label is not None:
            self.rt.calls.bridges.unregister(label, self.bridge)

    def _hand_over(self, key: str) -> Party:
        """Party `key` leaves this conversation for another one, without being hung up."""
        leg = self.parties[key]
        self._detach(key)
        self.bridge.remove(key)
        del self.parties[key]
        self.labels.pop(key, None)
        if leg is self.call.leg:
            self._keep = leg  # the flow's own leg: this conversation lasts as long as it
        elif leg in self.call.callees:
            self.call.callees.remove(leg)  # no longer this call's to hang up
        return leg

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
