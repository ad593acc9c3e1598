"""`SipEndpoint` over real loopback sockets: TCP beside UDP (RFC 3261 §18, RFC 5626 §4.4.1).

A tiny transaction user answers OPTIONS 200 and collects the responses to requests it sends;
the peer is a plain asyncio stream, so every byte on the wire is ours to check.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from flowpbx.pbx.transport import SipEndpoint
from flowpbx.sip.headers import Headers
from flowpbx.sip.message import Request, make_response, parse_message
from flowpbx.sip.transaction import RequestReceived, ResponseReceived


class Tu:
    def __init__(self) -> None:
        self.endpoint: SipEndpoint | None = None
        self.requests: list[RequestReceived] = []
        self.responses: asyncio.Queue[ResponseReceived] = asyncio.Queue()

    def __call__(self, event: Any) -> None:
        assert self.endpoint is not None
        if isinstance(event, RequestReceived) and event.transaction is not None:
            self.requests.append(event)
            self.endpoint.send_response(
                event.transaction,
                make_response(event.request, 200, headers=[("Contact", self.endpoint.contact_uri)]),
            )
        elif isinstance(event, ResponseReceived):
            self.responses.put_nowait(event)


async def _endpoint(**kw: Any) -> tuple[SipEndpoint, Tu]:
    tu = Tu()
    ep = SipEndpoint(host="127.0.0.1", port=0, on_event=tu, **kw)
    tu.endpoint = ep
    await ep.start()
    return ep, tu


def _options(local_port: int, *, transport: str = "TCP", call_id: str | None = None) -> bytes:
    branch = "z9hG4bK" + secrets.token_hex(6)
    return (
        "OPTIONS sip:flowpbx@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:{local_port};branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:t@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
        "To: <sip:flowpbx@127.0.0.1>\r\n"
        f"Call-ID: {call_id or secrets.token_hex(8)}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
            return head + await reader.readexactly(length)
    raise AssertionError(f"no Content-Length in {head!r}")


async def test_tcp_request_answered_on_the_same_connection() -> None:
    ep, tu = await _endpoint()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
        port = writer.get_extra_info("sockname")[1]
        # Two requests in one write, then one split across three writes.
        writer.write(_options(port, call_id="a") + _options(port, call_id="b"))
        split = _options(port, call_id="c")
        for piece in (split[:10], split[10:70], split[70:]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0)
        answers = [parse_message(await _read_message(reader)) for _ in range(3)]
        assert [a.call_id for a in answers] == ["a", "b", "c"]
        assert all(getattr(a, "status", None) == 200 for a in answers)
        assert [r.addr for r in tu.requests] == [("127.0.0.1", port)] * 3
        assert all(
            r.transaction is not None and r.transaction.transport == "tcp" for r in tu.requests
        )
        # Our Contact on TCP names the transport (RFC 3261 §18, §19.1.1).
        assert (
            answers[0].headers.get("Contact") == f"<sip:flowpbx@127.0.0.1:{ep.port};transport=tcp>"
        )
        writer.close()
        await writer.wait_closed()
    finally:
        ep.close()
        await ep.wait_closed()


async def test_crlf_keepalive_gets_a_pong() -> None:
    ep, _ = await _endpoint()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
        writer.write(b"\r\n\r\n")  # RFC 5626 §4.4.1 ping
        assert await asyncio.wait_for(reader.readexactly(2), 5) == b"\r\n"
        writer.close()
        await writer.wait_closed()
    finally:
        ep.close()
        await ep.wait_closed()


async def test_unframeable_stream_closes_the_connection() -> None:
    ep, tu = await _endpoint()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
        port = writer.get_extra_info("sockname")[1]
        no_length = _options(port).replace(b"Content-Length: 0\r\n", b"")
        writer.write(no_length)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # EOF: closed by the endpoint
        assert tu.requests == []
        writer.close()
        await writer.wait_closed()
    finally:
        ep.close()
        await ep.wait_closed()


async def test_idle_connection_is_closed() -> None:
    ep, _ = await _endpoint(tcp_idle_timeout=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()
        assert ep.tcp is not None and ep.tcp.connections == {}
    finally:
        ep.close()
        await ep.wait_closed()


async def test_connection_that_never_completes_a_message_is_closed() -> None:
    ep, _ = await _endpoint(tcp_first_message_timeout=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
        writer.write(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP")  # and then nothing
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()
    finally:
        ep.close()
        await ep.wait_closed()


async def test_udp_still_served_beside_tcp() -> None:
    ep, _ = await _endpoint()
    loop = asyncio.get_running_loop()
    got: asyncio.Future[bytes] = loop.create_future()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            if not got.done():
                got.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        transport.sendto(_options(port, transport="UDP"), ("127.0.0.1", ep.port))
        answer = parse_message(await asyncio.wait_for(got, 5))
        assert getattr(answer, "status", None) == 200
        assert answer.headers.get("Contact") == f"<sip:flowpbx@127.0.0.1:{ep.port}>"
    finally:
        transport.close()
        ep.close()
        await ep.wait_closed()


def _request(ep: SipEndpoint, target: tuple[str, int]) -> Request:
    h = Headers()
    h.add("Max-Forwards", "70")
    h.add("From", f"<sip:flowpbx@127.0.0.1>;tag={secrets.token_hex(4)}")
    h.add("To", f"<sip:peer@{target[0]}:{target[1]}>")
    h.add("Call-ID", secrets.token_hex(8))
    h.add("CSeq", "1 OPTIONS")
    h.add("Contact", ep.contact_uri)
    request = Request(
        method="OPTIONS", uri=f"sip:peer@{target[0]}:{target[1]}", headers=h, body=b""
    )
    ep.add_via(request)
    return request


async def test_request_over_tcp_opens_a_connection_and_reuses_it() -> None:
    ep, tu = await _endpoint()
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await accepted.put((r, w))

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    target = ("127.0.0.1", server.sockets[0].getsockname()[1])
    try:
        ep.send_request(_request(ep, target), target, None, transport="tcp")
        reader, writer = await asyncio.wait_for(accepted.get(), 5)
        request = parse_message(await _read_message(reader))
        assert isinstance(request, Request)
        assert str(request.headers.get("Via")).startswith(f"SIP/2.0/TCP 127.0.0.1:{ep.port};")
        assert request.headers.get("Contact") == f"<sip:flowpbx@127.0.0.1:{ep.port};transport=tcp>"
        writer.write(make_response(request, 200).to_bytes())
        event = await asyncio.wait_for(tu.responses.get(), 5)
        assert event.response.status == 200 and event.transaction is not None
        assert event.transaction.transport == "tcp"
        # A second request to the same target goes over the same connection, no new accept.
        ep.send_request(_request(ep, target), target, None)
        second = parse_message(await _read_message(reader))
        assert isinstance(second, Request) and second.method == "OPTIONS"
        assert accepted.empty()
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
        ep.close()
        await ep.wait_closed()


async def test_request_to_a_phone_uses_its_registration_connection() -> None:
    """A request to the address of an open inbound TCP connection goes over that connection."""
    ep, _ = await _endpoint()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", ep.port)
        port = writer.get_extra_info("sockname")[1]
        writer.write(_options(port))
        await _read_message(reader)  # the 200
        phone = ("127.0.0.1", port)
        assert ep.transport_for(phone) == "tcp"
        ep.send_request(_request(ep, phone), phone, None)
        request = parse_message(await _read_message(reader))
        assert isinstance(request, Request)
        assert str(request.headers.get("Via")).startswith("SIP/2.0/TCP ")
        writer.close()
        await writer.wait_closed()
    finally:
        ep.close()
        await ep.wait_closed()


@pytest.mark.parametrize("transport", ["sctp"])
async def test_unknown_transport_refused(transport: str) -> None:
    ep, _ = await _endpoint()
    try:
        with pytest.raises(ValueError):
            ep.transport_for(("127.0.0.1", 5060), transport)
    finally:
        ep.close()
        await ep.wait_closed()


async def test_addresses_asked_for_over_tcp_are_remembered_within_a_bound() -> None:
    """Requests sent over TCP to many addresses (nothing listens there: the connections are
    refused) do not make the endpoint keep every address: the least recently used ones are
    forgotten (a request to them without a transport goes over UDP again), the recent ones
    still go over TCP."""
    ep, _ = await _endpoint(max_tcp_targets=20)
    try:
        targets = [("127.0.0.1", 1 + i) for i in range(60)]
        for target in targets:
            ep.send_request(_request(ep, target), target, None, transport="tcp")
        assert [ep.transport_for(t) for t in targets[-20:]] == ["tcp"] * 20
        assert [ep.transport_for(t) for t in targets[:40]] == ["udp"] * 40
        # A target in use is refreshed: it stays while newer ones push older ones out.
        extra = [("127.0.0.2", 1 + i) for i in range(19)]
        for target in extra:
            assert ep.transport_for(targets[-1]) == "tcp"
            ep.send_request(_request(ep, target), target, None, transport="tcp")
        assert ep.transport_for(targets[-1]) == "tcp"
        assert ep.transport_for(targets[-2]) == "udp"
    finally:
        ep.close()
        await ep.wait_closed()
