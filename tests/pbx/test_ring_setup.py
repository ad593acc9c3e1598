"""`LiveCall.ring` when a target's outbound leg cannot be set up (here: a transport the SIP
endpoint does not have, so sending its INVITE raises): the leg's RTP port goes back to the
pool, the target is not counted as ringing, and the failure is logged — with a real SIP
endpoint and a real RTP port pool on loopback."""

from __future__ import annotations

from types import SimpleNamespace

from flowpbx.pbx.call.live import LiveCall
from flowpbx.pbx.call.targets import RingTarget
from flowpbx.pbx.rtp.ports import RtpPortPool
from flowpbx.pbx.transport import SipEndpoint
from flowpbx.settings import Settings
from tests.netutil import free_port_block


async def test_a_target_that_cannot_ring_gives_its_rtp_port_back() -> None:
    sip = SipEndpoint(host="127.0.0.1", port=0, on_event=lambda event: None)
    await sip.start()
    low = free_port_block(8)
    pool = RtpPortPool(low, low + 8)
    rt = SimpleNamespace(
        sip=sip,
        rtp_pool=pool,
        media_ip="127.0.0.1",
        domain="127.0.0.1",
        contact=sip.contact_uri,
        user_agent="flowpbx-test",
        ringing={},
        settings=Settings(),
    )
    call = SimpleNamespace(rt=rt, _caller="201", _caller_name=None, callees=[])
    target = RingTarget(
        uri="sip:301@127.0.0.1:5999",
        addr=("127.0.0.1", 5999),
        to_uri="sip:301@127.0.0.1",
        label="301",
        transport="sctp",
    )
    try:
        for _ in range(6):  # more calls than the pool has ports
            winner, statuses = await LiveCall.ring(call, [target], 5.0)  # type: ignore[arg-type]
            assert winner is None and statuses == [503]
        assert pool.in_use == 0
        assert rt.ringing == {} and call.callees == []
        assert sip.failures.count == 6
    finally:
        sip.close()
        await sip.wait_closed()
