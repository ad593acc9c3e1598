"""Trunk host names resolved off the event loop, with a bounded TTL cache (issue 16).

The system resolver is replaced by a fake that blocks its thread until the event loop
itself releases it: if the lookup ran on the loop, the loop could never release it (the
fake gives up after a few seconds and the test fails). Each fake lookup is counted, so
the cache is checked by what reaches the resolver, not by timing."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from flowpbx.pbx.features.trunks import HostResolver


class FakeDns:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[str] = []
        self.threads: set[int] = set()
        self.answers: dict[str, list[str]] = {
            "sip.provider.test": ["198.51.100.7", "2001:db8::7", "198.51.100.3"],
        }

    def __call__(self, host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        self.calls.append(host)
        self.threads.add(threading.get_ident())
        if not self.release.wait(5.0):
            raise AssertionError("the event loop never ran while the lookup was blocked")
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for a in self.answers[host]:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            out.append((fam, socket.SOCK_DGRAM, 17, "", (a, 0)))
        return out


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDns]:
    fake = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield fake
    fake.release.set()


async def test_a_slow_lookup_does_not_block_the_loop(dns: FakeDns) -> None:
    resolver = HostResolver()
    lookup = asyncio.ensure_future(resolver.resolve("sip.provider.test"))
    while not dns.calls:  # the loop keeps running while the resolver thread is blocked
        await asyncio.sleep(0.01)
    assert not lookup.done()
    dns.release.set()  # only a running loop can get here
    assert await lookup == ("198.51.100.3", "198.51.100.7", "2001:db8::7")  # IPv4 first
    assert threading.get_ident() not in dns.threads


async def test_answers_are_cached_for_their_ttl_and_lookups_coalesce(dns: FakeDns) -> None:
    now = [0.0]
    resolver = HostResolver(ttl_s=60.0, negative_ttl_s=10.0, clock=lambda: now[0])
    dns.release.set()
    first = await asyncio.gather(*(resolver.resolve("SIP.provider.test") for _ in range(20)))
    assert len(set(first)) == 1 and dns.calls == ["sip.provider.test"]  # 20 calls, 1 lookup
    now[0] = 59.0
    assert await resolver.resolve("sip.provider.test") == first[0]
    assert len(dns.calls) == 1
    now[0] = 61.0
    assert resolver.cached("sip.provider.test") == first[0]  # no lookup, even expired
    assert resolver.cached("other.test") is None
    assert len(dns.calls) == 1
    await resolver.resolve("sip.provider.test")
    assert len(dns.calls) == 2  # expired: looked up again

    assert await resolver.resolve("nowhere.test") == ()
    assert await resolver.resolve("nowhere.test") == ()  # a failure is cached too
    assert dns.calls.count("nowhere.test") == 1
    now[0] = 72.0
    await resolver.resolve("nowhere.test")
    assert dns.calls.count("nowhere.test") == 2


async def test_literals_skip_the_resolver_and_the_cache_is_bounded(dns: FakeDns) -> None:
    resolver = HostResolver(max_entries=3)
    assert await resolver.resolve("192.0.2.1") == ("192.0.2.1",)
    assert await resolver.resolve("[2001:db8::1]") == ("2001:db8::1",)
    assert dns.calls == []
    dns.release.set()
    for i in range(10):
        await resolver.resolve(f"h{i}.test")
    assert len(resolver._cache) == 3
    await resolver.resolve("h9.test")  # the newest are kept
    await resolver.resolve("h0.test")  # the oldest was dropped
    assert dns.calls.count("h9.test") == 1 and dns.calls.count("h0.test") == 2
