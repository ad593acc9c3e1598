"""Two parties talking, with `*2` attended transfer (SPEC §4).

`Conversation` runs a bridged call between two legs until it is over. Either internal party
(an extension) may press `*2` then an extension number, ended by `#` or a 3 s pause:

1. the other party (the transferee) hears hold audio, the transferer hears ringback while
   the target's phones ring (`TARGET_RING_S`);
2. the target answers: transferer and target talk, the transferee still on hold;
3. the transferer hangs up: transferee and target are connected — the transfer is done;
   the target hangs up, does not answer, is busy, or the transferer presses `*1`: the
   transferer gets the transferee back. An unknown number plays an error and returns.

The feature keys are taken out of the stream: RFC 4733 digits of internal legs are not
relayed to the other party while a conversation runs (in-band tones of a plain relayed call
cannot be filtered without decoding).

Feature-key states per party, in one table: idle -(*)-> star -(2)-> collecting -(#|pause)->
idle, star -(1)-> idle with an abort.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from flowpbx.media.audiofile import frames_of
from flowpbx.pbx.bridge import Bridge
from flowpbx.pbx.events import count
from flowpbx.pbx.legs import UacLeg, UasLeg
from flowpbx.pbx.media import NoRtpPort, RtpEndpoint, ringback_pcm

if TYPE_CHECKING:
    from flowpbx.pbx.calls import LiveCall

log = logging.getLogger("flowpbx.transfer")

Party = UasLeg | UacLeg

DIGIT_PAUSE_S = 3.0
TARGET_RING_S = 20.0
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


@dataclass(frozen=True, slots=True)
class _Request:
    kind: Literal["transfer", "abort", "blind"]
    party: str
    number: str = ""


def _cycle(pcm: np.ndarray) -> Any:
    return itertools.cycle(list(frames_of(pcm)))


class Conversation:
    """The talk phase of a call between party "caller" and party "callee"."""

    def __init__(
        self, call: LiveCall, bridge: Bridge, caller: Party, callee: Party, callee_label: str
    ) -> None:
        self.call = call
        self.rt = call.rt
        self.bridge = bridge
        self.parties: dict[str, Party] = {"caller": caller, "callee": callee}
        self.labels: dict[str, str] = {"callee": callee_label}
        if call.caller in self.rt.config.extensions:
            self.labels["caller"] = call.caller
        self._keys: dict[str, _Keys] = {}
        self._requests: asyncio.Queue[_Request] = asyncio.Queue()
        self.transfers: list[dict[str, Any]] = []
        self._saved: dict[str, tuple[Any, Any]] = {}
        for key in ("caller", "callee"):
            self._attach(key)

    # -- feature keys ----------------------------------------------------------------------

    def _internal(self, key: str) -> bool:
        return self.labels.get(key, "") in self.rt.config.extensions

    def _attach(self, key: str) -> None:
        leg = self.parties[key]
        # The phone's own transfer button (REFER, RFC 3515): blind transfer to an extension,
        # for internal parties only; others are declined (603).
        leg.on_refer = lambda _leg, refer_to, _req, key=key: self._on_refer(key, refer_to)
        if not self._internal(key):
            return
        self._saved[key] = (leg.on_digit, leg.rtp.on_digit)
        handler = lambda digit, key=key: self._on_key(key, digit)  # noqa: E731
        leg.on_digit = handler
        leg.rtp.on_digit = handler
        leg.rtp.dtmf_passthrough = False
        self._keys[key] = _Keys()

    def _on_refer(self, key: str, refer_to: Any) -> bool:
        if not self._internal(key) or refer_to.replaces is not None:
            return False  # attended REFER with Replaces is not wired to calls yet
        user = refer_to.uri.split(":", 1)[-1].split("@", 1)[0].split(";", 1)[0]
        if user not in self.rt.config.extensions:
            return False
        self._requests.put_nowait(_Request("blind", key, user))
        return True

    def _detach(self, key: str) -> None:
        leg_ = self.parties.get(key)
        if leg_ is not None:
            leg_.on_refer = None
        saved = self._saved.pop(key, None)
        keys = self._keys.pop(key, None)
        if keys is not None and keys.timer is not None:
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
        if number:
            self._requests.put_nowait(_Request("transfer", key, number))

    # -- the talk loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Until the conversation is over (every party but at most one has left)."""
        try:
            while True:
                getter = asyncio.ensure_future(self._requests.get())
                waiting: list[asyncio.Future[Any]] = [getter]
                waiting += [leg.ended for leg in self.parties.values()]
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                if any(leg.ended.done() for leg in self.parties.values()):
                    return
                request = getter.result()
                if request.kind == "transfer" and request.party in self.parties:
                    await self._transfer(request.party, request.number)
                elif request.kind == "blind" and request.party in self.parties:
                    await self._transfer(request.party, request.number, blind=True)
        finally:
            for key in list(self._saved):
                self._detach(key)
            # The caller's own leg stays with the flow (a callee hanging up takes the
            # element's `answered` output); everybody else leaves with the conversation.
            for leg in self.parties.values():
                if leg is not self.call.leg and not leg.ended.done():
                    leg.hangup("the other party hung up")

    async def _transfer(self, tkey: str, number: str, *, blind: bool = False) -> None:
        """`*2` (attended) or REFER (blind: the transferee is connected as soon as the
        target answers, the transferer learns the outcome by NOTIFY and leaves)."""
        rt = self.rt
        ekey = next(k for k in self.parties if k != tkey)
        transferer, transferee = self.parties[tkey], self.parties[ekey]
        record: dict[str, Any] = {
            "by": self.labels.get(tkey),
            "to": number,
            "result": "",
            "kind": "blind" if blind else "attended",
        }
        self.transfers.append(record)
        bindings = rt.registrar.bindings(number) if number in rt.config.extensions else []
        if not bindings:
            record["result"] = "unknown" if number not in rt.config.extensions else "offline"
            if blind:
                transferer.notify_refer(480 if record["result"] == "offline" else 404)
                return
            await self._play_to(tkey, "invalid-number")
            return
        bridge = self.bridge
        # Hold: the transferee hears hold audio, the two stop hearing each other.
        bridge.set_hears(ekey, tkey, False)
        bridge.set_hears(tkey, ekey, False)
        bridge.add_source("hold", _cycle(await rt.audio.pcm("hold-music")), heard_by=[ekey])
        bridge.add_source("ringback", _cycle(ringback_pcm()), heard_by=[] if blind else [tkey])
        legs: list[UacLeg] = []
        target: UacLeg | None = None
        try:
            for binding in bindings:
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
        bridge.add_endpoint("target", target.rtp, hears_all=False, heard_by_all=False)
        bridge.set_hears(tkey, "target")
        bridge.set_hears("target", tkey)
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
            self.labels.pop(tkey, None)
            self.parties["target"] = target
            self.labels["target"] = number
            bridge.set_hears(ekey, "target")
            bridge.set_hears("target", ekey)
            self._attach("target")
            self.call.transferred_to = number
            rt.events.emit("call.transferred", call_id=self.call.call_id, to=number)
            if blind and not transferer.is_ended:
                # The transferer normally hangs up after NOTIFY 200; make sure it leaves.
                asyncio.get_running_loop().call_later(
                    2.0, lambda: transferer.is_ended or transferer.hangup("transferred")
                )
            # The target is now in the conversation: its busy count ends with it.
            target.ended.add_done_callback(lambda _: _unbusy(busy, number))
            return
        _unbusy(busy, number)
        record["result"] = outcome
        bridge.remove("target")
        if not target.is_ended:
            target.hangup("transfer aborted")
        self._restore(tkey, ekey)

    async def _wait_answer(
        self, legs: list[UacLeg], transferer: Party, transferee: Party, tkey: str
    ) -> UacLeg | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TARGET_RING_S
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
