"""flowpbx's outbound leg (`UacLeg`) against a SIPp provider: a 407 challenge answered with
the trunk's credentials, then a reliable 183 with early media (RFC 3262: PRACK), answer, BYE.

The outbound call path of the flows (`call_phone`) is not wired to a trunk yet, so the leg is
driven through a small runtime stand-in that uses the real `SipEndpoint`, `RtpEndpoint` and
the real runtime dispatcher; the peer is a real SIPp.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flowpbx.pbx.call.leg import Leg
from flowpbx.pbx.call.uac_leg import UacLeg
from flowpbx.pbx.features.trunks import caller_identity
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.rtp.ports import RtpPortPool
from flowpbx.pbx.runtime import Runtime
from flowpbx.pbx.transport import SipEndpoint
from flowpbx.sip.dialog import Dialog
from flowpbx.store.records import TrunkRec
from tests.e2e.conftest import Harness
from tests.e2e.peers import tone_pcap
from tests.netutil import free_port_block

pytestmark = pytest.mark.e2e


class MiniRuntime:
    """What legs need of `Runtime`, with the runtime's own dispatcher."""

    dispatch = Runtime.dispatch
    _on_request = Runtime._on_request
    _leg_for = Runtime._leg_for
    _invite_refused = Runtime._invite_refused
    find_replaced = Runtime.find_replaced

    def __init__(self) -> None:
        self.sip = SipEndpoint(host="127.0.0.1", port=0, on_event=self.dispatch)
        self.media_ip = "127.0.0.1"
        self.user_agent = "flowpbx-test"
        self.domain = "127.0.0.1"
        self.contact = ""
        self.dropped = 0
        self._dialogs: dict[tuple[str, str], Leg] = {}
        lo = free_port_block(20)
        self.rtp_pool = RtpPortPool(lo, lo + 19)

    async def start(self) -> None:
        await self.sip.start()
        self.contact = self.sip.contact_uri

    def remember_dialog(self, dialog: Dialog, leg: Leg) -> None:
        self._dialogs[(dialog.call_id, dialog.local_tag)] = leg

    def forget_dialog(self, dialog: Dialog) -> None:
        self._dialogs.pop((dialog.call_id, dialog.local_tag), None)


async def test_outbound_call_answers_407_and_pracks_reliable_183(e2e: Harness) -> None:
    provider = e2e.sipp(
        "provider_407_100rel.xml",
        variables={"early_ms": 1000},
        files={"early.pcap": tone_pcap(700.0, seconds=5)},
        name="provider",
    )
    provider.start().wait_ready()
    rt: Any = MiniRuntime()
    await rt.start()
    trunk = TrunkRec(
        name="provider",
        host="127.0.0.1",
        port=provider.local_port,
        username="acme",
        password="pw-acme",
        trusted=True,
    )
    ident = caller_identity(trunk, number="+37167000001", name="Acme")
    rtp = await RtpEndpoint.open(rt.rtp_pool, "127.0.0.1")
    leg = UacLeg(
        rt,
        rtp,
        target_uri=f"sip:+37129999999@127.0.0.1:{provider.local_port}",
        addr=("127.0.0.1", provider.local_port),
        from_uri=ident.from_uri,
        from_name=ident.from_name,
        to_uri="sip:+37129999999@127.0.0.1",
        label="+37129999999",
        auth=("acme", "pw-acme"),
        headers=ident.headers,
        prack=True,
    )
    try:
        leg.start()
        assert await asyncio.wait_for(leg.progress, 15) == 183
        outcome = await asyncio.wait_for(leg.outcome, 15)
        early_packets = rtp.packets_in
        assert outcome == 200
        assert leg.early_media
        assert early_packets > 10  # the provider's early media reached us before the answer
        leg.hangup()
        await asyncio.sleep(0)
        await asyncio.get_running_loop().run_in_executor(None, provider.check, 20)
        messages = provider.messages()
        assert "Proxy-Authorization: Digest" in messages
        assert "PRACK sip:provider@" in messages
        assert "P-Asserted-Identity: <sip:+37167000001@127.0.0.1>" in messages
    finally:
        rtp.close()
        rt.sip.close()
        await rt.sip.wait_closed()


async def test_glare_491_and_retry_then_refer_with_notify_progress(e2e: Harness) -> None:
    """Mid-dialog against SIPp (uas_glare_refer.xml): our hold re-INVITE crosses the callee's
    re-INVITE — we answer 491, it answers ours 491, we retry after 2.1-4 s and it accepts;
    then the callee REFERs us: 202 and NOTIFY sipfrag progress (100, then a final 200)."""
    callee = e2e.sipp("uas_glare_refer.xml", name="callee")
    callee.start().wait_ready()
    rt: Any = MiniRuntime()
    await rt.start()
    rtp = await RtpEndpoint.open(rt.rtp_pool, "127.0.0.1")
    loop = asyncio.get_running_loop()
    target = ("127.0.0.1", callee.local_port)
    leg = UacLeg(
        rt,
        rtp,
        target_uri=f"sip:callee@127.0.0.1:{callee.local_port}",
        addr=target,
        from_uri="sip:101@127.0.0.1",
        from_name=None,
        to_uri=f"sip:callee@127.0.0.1:{callee.local_port}",
        label="callee",
    )
    refers: list[str] = []

    def on_refer(leg: Leg, refer_to: Any, request: Any) -> bool:
        refers.append(refer_to.uri)
        loop.call_soon(leg.notify_refer, 200)  # the "transfer" succeeded
        return True

    leg.on_refer = on_refer
    try:
        leg.start()
        assert await asyncio.wait_for(leg.outcome, 10) == 200
        assert leg.reinvite("sendonly") is not None
        assert leg.reinvite("sendonly") is None  # one re-INVITE at a time
        assert await asyncio.wait_for(leg.ended, 30) == "remote hangup"
        await loop.run_in_executor(None, callee.check, 20)
        assert len(refers) == 1 and refers[0].startswith("sip:103@127.0.0.1"), refers
        log = callee.messages()
        assert log.count("SIP/2.0 491 Request Pending") >= 2, log[-4000:]
        assert "Event: refer" in log and "message/sipfrag" in log
    finally:
        rtp.close()
        rt.sip.close()
        await rt.sip.wait_closed()
