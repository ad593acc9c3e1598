"""The talk phase: two parties talking until one of them leaves (pbx/call/live.py
`LiveCall.bridge` runs it).

`Conversation` keeps the parties of a bridged call (labelled by where their legs came from:
"caller", "callee", later "target"), their extensions, and who is in the bridge. It runs
until every party but at most one has left; the caller's own leg stays with the flow.

Internal means the leg is an extension's: one flowpbx rang for it, or one that authenticated
as it. A trunk's leg is outside whatever number it shows (a provider's caller presenting 101
has no feature keys and may not REFER).

Feature keys are taken out of the stream: RFC 4733 digits of internal legs are not relayed to
the other party while a conversation runs. A phone that sends its keys in-band (its SDP had
no telephone-event: the tones are in its audio) is not heard by the others from the moment
its `*` is detected until its keys are done (submitted, `*1`, a key that is not a feature
key, or a 3 s pause after the `*`); only the start of the `*` tone, the detector's reaction
time of some 40-60 ms, still reaches them.

Feature-key states per party, in one table: idle -(*)-> star -(2)-> collecting -(#|pause)->
idle, star -(1)-> idle with an abort, star -(pause, in-band phones)-> idle.

What the keys and the phone's transfer button (REFER) ask for becomes a `PartyRequest`; the
transfer feature (pbx/features/transfer.py `TransferConversation`) plugs in by answering
REFERs (`_on_refer`) and acting on the requests (`_handle`). The runtime hands the call the
talk phase to use (`LiveCallHost.talk_phase`); without the feature, REFER is declined (603)
and `*2` does nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from flowpbx.pbx.call.host import CallHost
from flowpbx.pbx.call.uac_leg import UacLeg
from flowpbx.pbx.call.uas_leg import UasLeg
from flowpbx.pbx.rtp.bridge import Bridge, CallBridge
from flowpbx.sip.refer import ReferTo

Party = UasLeg | UacLeg

DIGIT_PAUSE_S = 3.0
MAX_DIGITS = 6


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
class PartyRequest:
    kind: Literal["transfer", "abort", "blind", "replace", "semi"]
    party: str
    number: str = ""
    replaced: Party | None = None  # "replace": the transferer's other leg (None: not found)


class TalkCall(Protocol):
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
        call: TalkCall,
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
        self._requests: asyncio.Queue[PartyRequest] = asyncio.Queue()
        self.transfers: list[dict[str, Any]] = []
        self._saved: dict[str, tuple[Any, Any]] = {}
        self._keep: Party | None = None  # the call's own leg, handed to another conversation
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
            self._requests.put_nowait(PartyRequest("abort", key))
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
            self._requests.put_nowait(PartyRequest("transfer", key, number))

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
                await self._handle(request)
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

    # -- where the transfer feature plugs in (pbx/features/transfer.py) ---------------------

    def _on_refer(self, key: str, refer_to: ReferTo) -> int:
        """The answer to a REFER from party `key` (202 accepted, else 403/603): a talk phase
        without transfers declines it."""
        return 603

    async def _handle(self, request: PartyRequest) -> None:
        """Act on what a party asked for by its keys or a REFER: without transfers, nothing."""

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


class TalkPhase(Protocol):
    """Builds the talk phase of a call (`Conversation` or a subclass that plugs a feature in);
    the runtime picks it, the call runs it."""

    def __call__(
        self,
        call: TalkCall,
        bridge: Bridge,
        caller: Party,
        callee: Party,
        callee_label: str | None,
    ) -> Conversation: ...


__all__ = ["Conversation", "Party", "PartyRequest", "TalkCall", "TalkPhase"]
