"""The media of a `*2` transfer on a real bridge (UDP phones, the shared media clock): a
party joining a bridge that is already mixing — the transfer target, while the transferee
hears hold audio — is heard by whom it should be, and the bridge relays again once the
transfer is done (pbx/rtp/bridge.py, as pbx/features/transfer.py drives it)."""

from __future__ import annotations

import asyncio
import itertools

from flowpbx.media.tones import tone
from flowpbx.pbx.rtp.bridge import Bridge
from tests.pbx.test_media_bridge import TONES, Rig, heard, rig, talk

__all__ = ["rig"]  # the fixture, shared with test_media_bridge.py

HOLD = {"hold": 2100.0}


async def test_transfer_target_joining_a_mixing_bridge_is_heard(rig: Rig) -> None:
    await rig.leg("a")  # the transferer
    await rig.leg("b")  # the transferee
    bridge = Bridge(rig.clock)
    bridge.add_endpoint("a", rig.endpoints["a"])
    bridge.add_endpoint("b", rig.endpoints["b"])
    # *2: a and b stop hearing each other, b hears hold audio (the bridge starts mixing)
    bridge.set_hears("a", "b", False)
    bridge.set_hears("b", "a", False)
    hold = tone([HOLD["hold"]], 1.0, amplitude=0.3).reshape(-1, 160)
    bridge.add_source("hold", itertools.cycle(list(hold)), heard_by=["b"])
    assert bridge.mixing
    # the target answers and joins the mixing bridge: a and c talk
    await rig.leg("c")
    bridge.add_endpoint("target", rig.endpoints["c"], hears_all=False, heard_by_all=False)
    bridge.set_hears("a", "target")
    bridge.set_hears("target", "a")
    await talk(rig, 1.2)
    everything = {**TONES, **HOLD}
    assert heard(rig.phones["a"].heard(), everything) == {"c"}
    assert heard(rig.phones["c"].heard(), everything) == {"a"}
    assert heard(rig.phones["b"].heard(), everything) == {"hold"}
    # a hangs up: b and c are connected, the bridge relays again
    bridge.remove("hold")
    bridge.remove("a")
    bridge.set_hears("b", "target")
    bridge.set_hears("target", "b")
    assert not bridge.mixing
    await talk(rig, 1.0)
    assert heard(rig.phones["b"].heard(), everything) == {"c"}
    assert heard(rig.phones["c"].heard(), everything) == {"b"}
    bridge.close()
    await asyncio.sleep(0)
