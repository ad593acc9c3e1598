"""CallerLookup against a real local HTTP server: names, JSON fields, cache, timeouts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flowpbx.flow.context import FlowServices
from flowpbx.flow.elements import caller_lookup
from flowpbx.flow.interpreter import run_flow
from flowpbx.flow.model import load_flow
from flowpbx.flow.simulator import SimulatedSession
from flowpbx.services.http import WebClient
from flowpbx.services.lookup import CallerLookup
from tests.flow.helpers import DID, MONDAY_10
from tests.netutil import free_tcp_port, release_port
from tests.services.conftest import WebPeer

NUMBER = "+371 2999/9999"  # a space, a plus and a slash: all must be URL-encoded


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_plain_body_first_line(client: WebClient, web: WebPeer) -> None:
    web.names[NUMBER] = "Alice Example"
    lookup = CallerLookup(client)
    name = await lookup.lookup(web.url("/name/{caller}"), NUMBER)
    assert name == "Alice Example"
    assert web.requests[0].path == "/name/%2B371%202999%2F9999"


async def test_json_field(client: WebClient, web: WebPeer) -> None:
    web.names[NUMBER] = "Bob Builder"
    lookup = CallerLookup(client)
    assert await lookup.lookup(web.url("/json/{caller}"), NUMBER, json_field="contact.name") == (
        "Bob Builder"
    )
    # a field that is not there, or not a JSON reply, is no name
    lookup.clear()
    assert await lookup.lookup(web.url("/json/{caller}"), NUMBER, json_field="contact.x") is None
    assert await lookup.lookup(web.url("/name/{caller}"), NUMBER, json_field="name") is None


async def test_cache_keeps_hits_and_misses(client: WebClient, web: WebPeer) -> None:
    web.names["101"] = "Carol"
    clock = Clock()
    lookup = CallerLookup(client, clock=clock)
    url = web.url("/name/{caller}")
    for _ in range(3):
        assert await lookup.lookup(url, "101", cache_s=60) == "Carol"
        assert await lookup.lookup(url, "999", cache_s=60) is None  # 404: no name
    assert len(web.requests) == 2
    assert (lookup.requests, lookup.hits) == (2, 4)
    web.names["101"] = "Carol Changed"
    clock.t += 61  # both entries expire
    assert await lookup.lookup(url, "101", cache_s=60) == "Carol Changed"
    assert len(web.requests) == 3


async def test_cache_zero_means_no_cache(client: WebClient, web: WebPeer) -> None:
    web.names["101"] = "Dan"
    lookup = CallerLookup(client)
    for _ in range(2):
        assert await lookup.lookup(web.url("/name/{caller}"), "101", cache_s=0) == "Dan"
    assert len(web.requests) == 2


async def test_cache_is_bounded(client: WebClient, web: WebPeer) -> None:
    lookup = CallerLookup(client, max_entries=3)
    url = web.url("/name/{caller}")
    for n in range(10):
        await lookup.lookup(url, str(n))
    assert len(lookup) == 3
    # the most recent survive, the oldest were dropped
    assert lookup.cached(web.url("/name/9")) == (True, None)
    assert lookup.cached(web.url("/name/0")) == (False, None)


async def test_server_error_is_not_cached(client: WebClient, web: WebPeer) -> None:
    lookup = CallerLookup(client)
    url = web.url("/status/500/{caller}")
    assert await lookup.lookup(url, "Eve") is None
    assert await lookup.lookup(url, "Eve") is None
    assert len(web.requests) == 2


async def test_slow_server_costs_at_most_timeout(client: WebClient, web: WebPeer) -> None:
    lookup = CallerLookup(client)
    assert await lookup.lookup(web.url("/slow?n={caller}"), "101", timeout_s=0.3) is None
    assert web.slow_started.is_set() and not web.release.is_set()
    assert len(lookup) == 0  # a timeout is not a "no name": the next call asks again


async def test_dead_server(client: WebClient) -> None:
    port = free_tcp_port()
    try:
        lookup = CallerLookup(client)
        assert await lookup.lookup(f"http://127.0.0.1:{port}/{{caller}}", "101") is None
    finally:
        release_port(port)


async def test_concurrent_lookups_share_one_request(client: WebClient, web: WebPeer) -> None:
    web.names["101"] = "Frank"
    lookup = CallerLookup(client)
    url = web.url("/name/{caller}")
    names = await asyncio.gather(*(lookup.lookup(url, "101") for _ in range(5)))
    assert names == ["Frank"] * 5
    assert len(web.requests) == 1


# -------------------------------------------------------------- under the caller_lookup element


def lookup_flow(url: str, **params: Any) -> dict[str, Any]:
    return {
        "name": "Lookup line",
        "entry": "start",
        "nodes": {
            "start": {"type": "numbers", "params": {"numbers": [DID]}, "next": {"next": "who"}},
            "who": {
                "type": "caller_lookup",
                "params": {"url": url, **params},
                "next": {"next": "bye"},
            },
            "bye": {"type": "hangup", "params": {}},
        },
    }


@pytest.mark.parametrize(("route", "field"), [("name", None), ("json", "contact.name")])
async def test_element_sets_caller_name(
    client: WebClient, web: WebPeer, route: str, field: str | None
) -> None:
    caller_lookup._CACHE.clear()  # the element's own per-process cache
    web.names[NUMBER] = "Grace Hopper"
    session = SimulatedSession(caller=NUMBER, did=DID, at=MONDAY_10)
    doc = lookup_flow(web.url(f"/{route}/{{caller}}"), json_field=field, cache_s=0)
    await run_flow(load_flow(doc), session, services=FlowServices(http=client))
    assert session.caller_name == "Grace Hopper"
    assert session.caller == NUMBER


async def test_element_survives_dead_server(client: WebClient) -> None:
    port = free_tcp_port()
    try:
        session = SimulatedSession(caller="101", did=DID, at=MONDAY_10, caller_name="Old")
        doc = lookup_flow(f"http://127.0.0.1:{port}/{{caller}}", cache_s=0)
        run = await run_flow(load_flow(doc), session, services=FlowServices(http=client))
    finally:
        release_port(port)
    assert session.caller_name == "Old"
    entry = next(e for e in run.trace if e.node == "who")
    assert entry.output == "next"
    assert str(entry.facts["error"]).startswith("HttpConnectError")
