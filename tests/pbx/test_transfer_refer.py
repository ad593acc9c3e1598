"""Who may transfer by REFER, and with which answer (pbx/features/transfer.py
`TransferConversation`, the talk phase of pbx/call/talk.py with transfers): the decision table
in isolation, on stand-in legs (the e2e tests in tests/e2e/test_transfer*.py run the same code
with real phones)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from flowpbx.pbx.call.leg_states import LegState
from flowpbx.pbx.call.uac_leg import UacLeg
from flowpbx.pbx.call.uas_leg import UasLeg
from flowpbx.pbx.features.transfer import TARGET_RING_S, TransferConversation, target_ring_s
from flowpbx.pbx.rtp.bridge import BridgeRegistry
from flowpbx.sip.refer import Replaces, parse_refer_to

EXTENSIONS = {"101": object(), "102": object(), "103": object()}


def _leg(kind: type[Any]) -> Any:
    """A leg object without a dialog or RTP socket: only what Conversation touches."""
    leg = object.__new__(kind)
    leg.on_digit = None
    leg.on_refer = None
    leg.conversation = None
    leg.rtp = SimpleNamespace(on_digit=None, dtmf_passthrough=True)
    leg.notified = []
    leg.notify_refer = leg.notified.append
    leg.hung_up = False
    leg.hangup = lambda reason="": setattr(leg, "hung_up", True)
    leg.ended = asyncio.get_running_loop().create_future()
    leg.state = LegState.CONFIRMED
    leg.answered_at = 1.0
    return leg


class _Bridge:
    """Who is in the bridge and who hears whom, nothing else."""

    def __init__(self, *keys: str) -> None:
        self.members = set(keys)
        self.hears = {(a, b) for a in keys for b in keys if a != b}
        self.closed = False
        self.on_close: list[Any] = []

    def remove(self, key: str) -> None:
        self.members.discard(key)
        self.hears = {pair for pair in self.hears if key not in pair}

    def add_endpoint(self, key: str, endpoint: Any, **_: Any) -> None:
        self.members.add(key)

    def set_hears(self, listener: str, speaker: str, on: bool = True) -> None:
        (self.hears.add if on else self.hears.discard)((listener, speaker))


class _Runtime:
    def __init__(self) -> None:
        self.config = SimpleNamespace(extensions=EXTENSIONS)
        self.dialogs: dict[str, Any] = {}
        self.calls = SimpleNamespace(bridges=BridgeRegistry(), active={})
        self.events = SimpleNamespace(emit=lambda *a, **kw: None)

    def find_replaced(self, replaces: Replaces) -> Any:
        return self.dialogs.get(replaces.call_id)


def _conversation(
    rt: _Runtime, caller: str, callee: str, *, from_trunk: bool | None = None
) -> tuple[TransferConversation, Any, Any]:
    """A conversation between `caller` (the call's own leg) and `callee`. The caller's leg
    authenticated as extension `caller` unless it came `from_trunk` (by default: when
    `caller` is not an extension)."""
    caller_leg, callee_leg = _leg(UasLeg), _leg(UacLeg)
    if from_trunk is None:
        from_trunk = caller not in EXTENSIONS
    call = SimpleNamespace(
        rt=rt,
        caller=caller,
        caller_ext=None if from_trunk else caller,
        leg=caller_leg,
        callees=[callee_leg],
        call_id=f"{caller}-{callee}",
    )
    bridge = _Bridge("caller", "callee")
    conv = TransferConversation(call, bridge, caller_leg, callee_leg, callee)  # type: ignore[arg-type]
    return conv, caller_leg, callee_leg


def _refer(leg: Any, value: str) -> Any:
    return leg.on_refer(leg, parse_refer_to(value), None)


def _replaces(call_id: str) -> str:
    return f"<sip:103@pbx?Require=replaces&Replaces={call_id}%3Bto-tag%3Da%3Bfrom-tag%3Db>"


@pytest.fixture
def rt() -> _Runtime:
    return _Runtime()


async def test_blind_refer_needs_an_extension_on_both_ends(rt: _Runtime) -> None:
    conv, provider, agent = _conversation(rt, "+37129000001", "101")
    assert _refer(provider, "<sip:103@pbx>") == 403  # the trunk's side may not transfer
    assert _refer(agent, "<sip:+37129999999@pbx>") == 603  # not an extension
    assert _refer(agent, "<sip:103@pbx>") == 202
    request = conv._requests.get_nowait()
    assert (request.kind, request.party, request.number) == ("blind", "callee", "103")


async def test_a_trunk_caller_showing_an_extension_number_is_still_outside(rt: _Runtime) -> None:
    """From 101 on a trunk's leg: labelled by where the leg came from, not by the number."""
    conv, provider, agent = _conversation(rt, "101", "102", from_trunk=True)
    assert "caller" not in conv.labels
    assert _refer(provider, "<sip:103@pbx>") == 403
    assert "caller" not in conv._keys  # its keys are not feature keys (*2)
    assert _refer(agent, "<sip:103@pbx>") == 202


async def test_refer_with_replaces_of_the_transferers_other_call(rt: _Runtime) -> None:
    original, _provider, agent = _conversation(rt, "+37129000001", "101")
    _consult, agent_out, _target = _conversation(rt, "101", "103")
    rt.dialogs["consult"] = agent_out
    assert _refer(agent, _replaces("consult")) == 202
    request = original._requests.get_nowait()
    assert request.kind == "replace" and request.replaced is agent_out


async def test_replace_moves_the_far_party_and_releases_the_transferer(rt: _Runtime) -> None:
    """REFER on the original call (provider - 101) naming the consultation (101 - 103):
    103 joins the original conversation in 101's place, both of 101's legs get BYE, the
    NOTIFY says 200, and a supervisor finds 103 in its new call."""
    original, provider, agent = _conversation(rt, "+37129000001", "101")
    consult, agent_out, target = _conversation(rt, "101", "103")
    original._replace("callee", agent_out)
    assert original.parties == {"caller": provider, "target": target}
    assert original.bridge.hears == {("caller", "target"), ("target", "caller")}  # type: ignore[attr-defined]
    assert target.conversation is original and agent.conversation is None
    assert agent.notified == [200] and agent_out.hung_up
    assert target not in consult.call.callees  # the consultation's call will not hang it up
    assert list(consult.parties.values()) == [agent_out]
    spied = rt.calls.bridges.find("103")
    assert spied is not None and spied.bridge is original.bridge and spied.agent == "target"
    assert rt.calls.bridges.find("101") is None  # 101 left both calls
    (record,) = original.transfers
    assert (record["by"], record["to"], record["result"]) == ("101", "103", "completed")
    assert consult.transfers[0]["result"] == "completed"


async def test_replace_of_a_calls_own_leg_keeps_that_call_waiting(rt: _Runtime) -> None:
    """REFER on the consultation naming the original call: the provider (the original
    call's own leg) moves; the original conversation lasts until the provider leaves."""
    original, provider, agent = _conversation(rt, "+37129000001", "101")
    consult, agent_out, target = _conversation(rt, "101", "103")
    consult._replace("caller", agent)
    assert consult.parties == {"callee": target, "target": provider}
    assert agent.hung_up and agent_out.notified == [200]
    run = asyncio.ensure_future(original.run())
    agent.ended.set_result("replaced")  # the BYE to 101's original leg completes
    await asyncio.sleep(0.01)
    assert not run.done()  # the flow must not go on while its caller talks elsewhere
    provider.ended.set_result("remote hangup")
    await asyncio.wait_for(run, 1.0)
    assert not provider.hung_up  # the flow's own leg is the flow's to end


async def test_refer_with_replaces_refusals(rt: _Runtime) -> None:
    original, provider, agent = _conversation(rt, "+37129000001", "101")
    _other, other_out, _target = _conversation(rt, "102", "103")
    rt.dialogs["someone-else"] = other_out  # 102's call: not 101's to hand over
    rt.dialogs["same"] = provider  # the very call the REFER came on
    rt.dialogs["ringing"] = _leg(UacLeg)  # a dialog in no conversation (still ringing)
    assert _refer(agent, _replaces("someone-else")) == 403
    assert _refer(agent, _replaces("same")) == 603
    assert _refer(agent, _replaces("ringing")) == 603
    assert _refer(provider, _replaces("someone-else")) == 403
    assert original._requests.empty()


async def test_refer_with_replaces_of_an_unknown_dialog_is_accepted_then_fails(
    rt: _Runtime,
) -> None:
    """202 now; the NOTIFY that follows says 481 (RFC 5589 §7)."""
    original, _provider, agent = _conversation(rt, "+37129000001", "101")
    notified: list[int] = []
    agent.notify_refer = notified.append
    assert _refer(agent, _replaces("gone")) == 202
    request = original._requests.get_nowait()
    assert request.kind == "replace" and request.replaced is None
    original._replace(request.party, request.replaced)
    assert notified == [481]
    assert original.transfers[-1]["result"] == "no such dialog"


def test_transfer_ring_time_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWPBX_TRANSFER_RING_S", raising=False)
    assert target_ring_s() == TARGET_RING_S == 20.0
    for text, expected in (("4", 4.0), ("2.5", 2.5), ("zero", 20.0), ("0", 20.0), ("-3", 20.0)):
        monkeypatch.setenv("FLOWPBX_TRANSFER_RING_S", text)
        assert target_ring_s() == expected, text


async def test_refer_with_replaces_of_a_consultation_still_ringing(rt: _Runtime) -> None:
    """Semi-attended: 101's own call to 103 still rings -> 202, a blind transfer to 103;
    somebody else's ringing call -> 603."""
    original, _provider, agent = _conversation(rt, "+37129000001", "101")
    for caller, call_id in (("101", "mine"), ("102", "theirs")):
        ringing = _leg(UasLeg)
        ringing.state, ringing.answered_at = LegState.EARLY, None
        ringing.invite = SimpleNamespace(call_id=call_id)
        rt.calls.active[call_id] = SimpleNamespace(
            leg=ringing, caller=caller, caller_ext=caller, did="103"
        )
        rt.dialogs[call_id] = ringing
    assert _refer(agent, _replaces("theirs")) == 603
    assert _refer(agent, _replaces("mine")) == 202
    request = original._requests.get_nowait()
    assert (request.kind, request.number) == ("semi", "103")
    assert request.replaced is rt.dialogs["mine"]
