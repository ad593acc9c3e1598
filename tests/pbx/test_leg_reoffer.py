"""A re-INVITE/UPDATE offer on a confirmed leg (`Leg._on_reoffer`) against a real RTP
endpoint on loopback: the latched media source of a phone behind NAT survives a session
refresh naming the same address:port, and is learned again when the offer moves the stream."""

from __future__ import annotations

from flowpbx.media.rtp import RtpSender
from flowpbx.pbx.call.leg import Leg
from flowpbx.pbx.call.leg_states import LegState
from flowpbx.sip.message import Request, Response, parse_message
from tests.pbx.test_media_strict import PRIVATE, SIGNALLING, Peer, leg, params, settle


class _Sip:
    def __init__(self) -> None:
        self.responses: list[Response] = []

    def send_response(self, txn: object, response: Response) -> None:
        self.responses.append(response)


class _Runtime:
    def __init__(self) -> None:
        self.sip = _Sip()
        self.contact = "<sip:pbx@127.0.0.1:5060>"
        self.media_ip = "127.0.0.1"


def _reoffer(method: str, host: str, port: int, cseq: int) -> Request:
    sdp = (
        f"v=0\r\no=phone 1 {cseq} IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
    body = sdp.encode()
    head = (
        f"{method} sip:pbx@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {SIGNALLING}:5062;branch=z9hG4bK-re{cseq}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:201@pbx>;tag=a1\r\nTo: <sip:pbx@pbx>;tag=b2\r\n"
        f"Call-ID: reoffer-1\r\nCSeq: {cseq} {method}\r\n"
        f"Contact: <sip:201@{SIGNALLING}:5062>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    message = parse_message(head.encode() + body)
    assert isinstance(message, Request)
    return message


async def test_a_refresh_with_the_same_sdp_keeps_the_latch_and_a_moved_stream_learns_again() -> (
    None
):
    async with leg() as ep:
        phone, moved = Peer(), Peer()
        rt = _Runtime()
        call = Leg(rt, ep, (SIGNALLING, 5062))  # type: ignore[arg-type]
        call.state = LegState.CONFIRMED
        try:
            # The phone's SDP names its private address; its media comes through the NAT.
            ep.set_remote(params(PRIVATE, 40000))
            stream = RtpSender(payload_type=0, ssrc=0x42)
            for i in range(ep.pool.probation):
                phone.send(stream.packet(bytes([i]) * 160), ep.port)
            await settle(ep, ep.pool.probation)
            assert ep.latched and ep.connected and ep.remote == (SIGNALLING, phone.port)

            # Session refreshes (re-INVITE, UPDATE) offering the same address:port.
            for cseq, method in ((2, "INVITE"), (3, "UPDATE")):
                call._on_reoffer(None, _reoffer(method, PRIVATE, 40000, cseq))  # type: ignore[arg-type]
                assert rt.sip.responses[-1].status == 200
                assert ep.latched and ep.connected and ep.remote == (SIGNALLING, phone.port)
            # Our audio still goes to where the phone really is, not its private address.
            ep.send_payload(b"\x55" * 160)
            got = await phone.receive(1)
            assert len(got) == 1 and got[0][12:] == b"\x55" * 160

            # An offer moving the stream learns the source again.
            call._on_reoffer(None, _reoffer("INVITE", SIGNALLING, moved.port, 4))  # type: ignore[arg-type]
            assert rt.sip.responses[-1].status == 200
            assert not ep.latched and not ep.connected
            moved.send(RtpSender(payload_type=0, ssrc=7).packet(b"\x22" * 160), ep.port)
            await settle(ep, ep.pool.probation + 1)
            assert ep.latched and ep.remote == (SIGNALLING, moved.port)
        finally:
            call._finish("test over")
            phone.close()
            moved.close()
