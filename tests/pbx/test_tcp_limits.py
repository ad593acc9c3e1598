"""What one source can hold over SIP/TCP (issue 16), on a real loopback endpoint: the
per-source connection cap (trusted and authenticated sources exempt), garbage not counting
as a message, and which connections the sweeper closes — decided on the connection's own
clock readings."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from flowpbx.pbx.security import AccessGuard, GuardConfig
from flowpbx.pbx.stream import StreamConnection
from flowpbx.pbx.transport import SipEndpoint


def _options(port: int) -> bytes:
    return (
        "OPTIONS sip:flowpbx@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:t@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
        "To: <sip:flowpbx@127.0.0.1>\r\n"
        f"Call-ID: {secrets.token_hex(8)}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def _endpoint(**kw: Any) -> SipEndpoint:
    ep = SipEndpoint(host="127.0.0.1", port=0, on_event=lambda event: None, **kw)
    ep.guard = AccessGuard(GuardConfig(trusted_networks=("127.0.0.3/32",)))
    await ep.start()
    return ep


async def _until(check: Any) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_per_source_cap_and_known_sources_exempt() -> None:
    ep = await _endpoint(tcp_max_per_source=2)
    tcp = ep.tcp
    assert tcp is not None
    writers: list[asyncio.StreamWriter] = []
    try:
        assert ep.guard is not None
        ep.guard.record_success("127.0.0.4", 0.0)  # an address that authenticated
        for source in ["127.0.0.1"] * 4 + ["127.0.0.2"] + ["127.0.0.3"] * 4 + ["127.0.0.4"] * 4:
            _, w = await asyncio.open_connection("127.0.0.1", ep.port, local_addr=(source, 0))
            writers.append(w)
        await _until(lambda: tcp.refused_per_source == 2)
        by_ip: dict[str, int] = {}
        for addr in list(tcp.connections):
            by_ip[addr[0]] = by_ip.get(addr[0], 0) + 1
        assert by_ip == {"127.0.0.1": 2, "127.0.0.2": 1, "127.0.0.3": 4, "127.0.0.4": 4}
        for w in writers:
            w.close()
        await _until(lambda: not tcp.connections)
        assert tcp._per_source == {}  # every slot given back
    finally:
        ep.close()
        await ep.wait_closed()


async def test_garbage_is_not_a_message_and_sip_is() -> None:
    ep = await _endpoint()
    tcp = ep.tcp
    assert tcp is not None
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", ep.port)
        writer.write(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        port = writer.get_extra_info("sockname")[1]
        writer.write(_options(port))
        await _until(lambda: any(c.last_message > c.opened_at for c in tcp.connections.values()))
        (conn,) = tcp.connections.values()
        assert conn.messages_in == 1  # the OPTIONS, not the HTTP request
        writer.close()
        await writer.wait_closed()
    finally:
        ep.close()
        await ep.wait_closed()


async def test_which_connections_are_stale() -> None:
    ep = await _endpoint(
        tcp_idle_timeout=100.0, tcp_first_message_timeout=5.0, tcp_unknown_idle_timeout=20.0
    )
    tcp = ep.tcp
    assert tcp is not None and ep.guard is not None

    def conn(ip: str, *, inbound: bool = True, messages: int = 1) -> StreamConnection:
        c = StreamConnection(tcp, inbound=inbound)
        c.addr = (ip, 5060)
        c.opened_at = c.last_active = c.last_message = 0.0
        c.messages_in = messages
        return c

    try:
        assert not tcp._stale(conn("192.0.2.1", messages=0), 4.0)
        assert tcp._stale(conn("192.0.2.1", messages=0), 6.0)  # no valid message in 5 s
        assert not tcp._stale(conn("192.0.2.1"), 19.0)
        assert tcp._stale(conn("192.0.2.1"), 21.0)  # unknown source, 20 s without a message
        ep.guard.record_success("192.0.2.9", 0.0)  # a phone that authenticated
        assert not tcp._stale(conn("192.0.2.9"), 99.0)
        assert tcp._stale(conn("192.0.2.9"), 101.0)  # no traffic at all for the idle timeout
        assert not tcp._stale(conn("127.0.0.3"), 99.0)  # trusted
        assert not tcp._stale(conn("192.0.2.1", inbound=False, messages=0), 99.0)  # ours
        busy = conn("192.0.2.1")
        busy.last_active = 50.0  # pings, but no message since 0
        assert tcp._stale(busy, 21.0)
    finally:
        ep.close()
        await ep.wait_closed()


async def test_an_ipv6_source_is_capped_by_its_64_prefix() -> None:
    """One subscriber holds a whole IPv6 /64: a connection from each of its addresses is
    still one source (else the cap is no cap over IPv6). IPv4-mapped addresses count as
    their IPv4 address, each its own source."""
    ep = await _endpoint(tcp_max_per_source=2)
    tcp = ep.tcp
    assert tcp is not None
    try:
        conns = []
        for i in range(1, 5):  # four addresses of 2001:db8:1:2::/64
            conn = StreamConnection(tcp, inbound=True)
            conn.addr = (f"2001:db8:1:2::{i}", 5060)
            tcp.adopt(conn)
            conns.append(conn)
        other = StreamConnection(tcp, inbound=True)
        other.addr = ("2001:db8:1:3::1", 5060)  # another subscriber's /64
        tcp.adopt(other)
        for ip in ("::ffff:192.0.2.1", "::ffff:192.0.2.2", "::ffff:192.0.2.3"):
            mapped = StreamConnection(tcp, inbound=True)
            mapped.addr = (ip, 5060)
            tcp.adopt(mapped)
        assert tcp.refused_per_source == 2
        assert sorted(a[0] for a in tcp.connections) == [
            "2001:db8:1:2::1",
            "2001:db8:1:2::2",
            "2001:db8:1:3::1",
            "::ffff:192.0.2.1",
            "::ffff:192.0.2.2",
            "::ffff:192.0.2.3",
        ]
        for conn in list(tcp.connections.values()):
            tcp.forget(conn)
        assert tcp._per_source == {}  # every slot given back
    finally:
        ep.close()
        await ep.wait_closed()
