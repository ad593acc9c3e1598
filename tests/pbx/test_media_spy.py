"""Spy codes (SPEC §4): what `4#NNN` / `5#NNN` / `6#NNN` mean, and where spying finds a call."""

from __future__ import annotations

import asyncio

import pytest

from flowpbx.media.mixer import SpyMode
from flowpbx.pbx.features.spy import parse_spy_code
from flowpbx.pbx.rtp.bridge import BridgeRegistry
from flowpbx.pbx.rtp.clock import MediaClock
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.rtp.ports import RtpPortPool
from tests.netutil import free_port_block


@pytest.mark.parametrize(
    ("dialled", "expected"),
    [
        ("4#101", (SpyMode.LISTEN, "101")),
        ("5#101", (SpyMode.WHISPER, "101")),
        ("6#2001", (SpyMode.BARGE, "2001")),
        ("4%23101", (SpyMode.LISTEN, "101")),  # '#' escaped in the Request-URI user part
        (" 5%23102 ", (SpyMode.WHISPER, "102")),
        ("7#101", None),
        ("4#", None),
        ("4101", None),
        ("4#10a", None),
        ("*2101", None),
        ("101", None),
    ],
)
def test_parse_spy_code(dialled: str, expected: tuple[SpyMode, str] | None) -> None:
    assert parse_spy_code(dialled) == expected


async def test_registry_finds_a_call_by_either_extension_and_forgets_it_when_it_ends() -> None:
    low = free_port_block(10)
    pool = RtpPortPool(low, low + 10)
    clock = MediaClock()
    caller = await RtpEndpoint.open(pool, "127.0.0.1")
    callee = await RtpEndpoint.open(pool, "127.0.0.1")
    try:
        registry = BridgeRegistry()
        bridge = registry.open_call(clock, caller, callee, callee_ext="101", caller_ext="102")
        as_agent = registry.find("101")
        assert as_agent is not None and as_agent.extension == "101"
        assert bridge.endpoint(as_agent.agent) is callee
        assert bridge.endpoint(as_agent.client) is caller
        as_caller = registry.find("102")
        assert as_caller is not None and bridge.endpoint(as_caller.agent) is caller
        assert registry.find_endpoint(caller) is as_agent  # the UI's spy on a caller's call
        assert registry.find("103") is None
        assert caller.peer is callee and not bridge.mixing
        bridge.close("call ended")
        assert registry.find("101") is None and registry.find("102") is None
        assert len(registry) == 0
        assert await asyncio.wait_for(bridge.ended, 1) == "call ended"
    finally:
        caller.close()
        callee.close()
        clock.close()
