"""The talk phase alone (pbx/call/talk.py `Conversation`, no feature plugged in): REFER is
declined, feature keys are taken out of the stream and lead nowhere, and the conversation
ends when a party leaves, the caller's own leg staying with the flow. The transfer feature on
top of it is tested in test_transfer_refer.py and the e2e transfer tests."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from flowpbx.pbx.call.talk import Conversation
from flowpbx.pbx.call.uac_leg import UacLeg
from flowpbx.pbx.call.uas_leg import UasLeg
from tests.pbx.test_transfer_refer import _Bridge, _leg, _refer, _Runtime


async def test_plain_talk_phase_declines_refer_and_ignores_star_two() -> None:
    rt = _Runtime()
    caller, callee = _leg(UasLeg), _leg(UacLeg)
    caller.rtp.inband = callee.rtp.inband = None  # keys arrive as RFC 4733 events
    call = SimpleNamespace(
        rt=rt, caller="101", caller_ext="101", leg=caller, callees=[callee], call_id="c1"
    )
    bridge = _Bridge("caller", "callee")
    conv = Conversation(call, bridge, caller, callee, "102")  # type: ignore[arg-type]

    assert _refer(callee, "<sip:103@pbx>") == 603  # no transfer feature: declined
    assert caller.rtp.dtmf_passthrough is False  # an extension's keys are not relayed
    for digit in "*2103#":
        caller.rtp.on_digit(digit)
    request = conv._requests.get_nowait()  # collected as usual ...
    assert (request.kind, request.party, request.number) == ("transfer", "caller", "103")
    conv._requests.put_nowait(request)

    run = asyncio.ensure_future(conv.run())
    while not conv._requests.empty():
        await asyncio.sleep(0)  # the loop takes the request
    callee.ended.set_result("remote hangup")
    await run
    # ... and leads nowhere: nobody was put on hold, nothing recorded as a transfer.
    assert conv.transfers == []
    assert ("callee", "caller") in bridge.hears and ("caller", "callee") in bridge.hears
    assert not caller.hung_up  # the caller's own leg stays with the flow
    assert caller.rtp.dtmf_passthrough is True  # its keys are its own again
    assert caller.on_refer is None and caller.conversation is None
