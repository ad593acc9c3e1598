"""Per-message cost of the SIP message layer (sip/message.py, headers.py, uri.py).

What the runtime does per received message: parse the datagram, validate it
(diagnose_request / check_response: Via, From, To, CSeq, Contact parsed and cached), read
the accessors, build a response and serialise it. Prints microseconds per operation.

    .venv/bin/python benchmarks/sip_micro.py            # timings
    .venv/bin/python benchmarks/sip_micro.py --profile  # cProfile of the same loop
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from flowpbx.sip.message import (
    Request,
    Response,
    check_response,
    diagnose_request,
    make_response,
    parse_message,
)

INVITE = (
    b"INVITE sip:+37167000901@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-28606-92-0\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:bench@127.0.0.1:5070>;tag=28606SIPpTag0092\r\n"
    b"To: <sip:+37167000901@127.0.0.1:5060>\r\n"
    b"Call-ID: 92-28606@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:bench@127.0.0.1:5070>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 208\r\n\r\n"
    b"v=0\r\no=provider 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
)
OK_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;rport=5060;branch=z9hG4bKefdff75d71d8973ca76f16\r\n"
    b"From: <sip:bench@127.0.0.1>;tag=d912300a7584\r\n"
    b"To: <sip:200@127.0.0.1:5072>;tag=28606SIPpTag0192\r\n"
    b"Call-ID: 8a1c0e2f9b7d4c55a0e1f2d3c4b5a697@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:200@127.0.0.1:5072>\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def _variants(template: bytes, n: int) -> list[bytes]:
    """Distinct tags, branches and Call-IDs per message, as in real traffic (no cache hits
    on values that change per call)."""
    return [template.replace(b"28606", str(100000 + i).encode()) for i in range(n)]


_INVITES = _variants(INVITE, 4096)
_OKS = _variants(OK_200, 4096)
_next = [0]


def receive_invite() -> bytes:
    i = _next[0] = (_next[0] + 1) & 4095
    req = parse_message(_INVITES[i])
    assert isinstance(req, Request)
    assert diagnose_request(req) is None
    _ = (req.call_id, req.from_.tag, req.to.tag, req.top_via.branch, req.cseq.seq, req.sdp)
    resp = make_response(req, 200, to_tag="a6c041aa4060", headers=[("Contact", "<sip:x@h>")])
    return resp.to_bytes()


def receive_response() -> bytes:
    i = _next[0] = (_next[0] + 1) & 4095
    resp = parse_message(_OKS[i])
    assert isinstance(resp, Response)
    assert check_response(resp)
    _ = (resp.call_id, resp.to.tag, resp.top_via.branch, resp.cseq.method, resp.contacts)
    return resp.headers.get("Call-ID") or b""  # type: ignore[return-value]


def parse_only() -> object:
    return parse_message(INVITE)


CASES: dict[str, Callable[[], object]] = {
    "parse INVITE": parse_only,
    "INVITE: parse+check+accessors+200 bytes": receive_invite,
    "200 OK: parse+check+accessors": receive_response,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("-n", type=int, default=20000)
    args = ap.parse_args()
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.n // 4):
            receive_invite()
            receive_response()
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    for name, fn in CASES.items():
        best = min(timeit.repeat(fn, number=args.n, repeat=5)) / args.n
        print(f"{name:45s} {best * 1e6:7.1f} µs")


if __name__ == "__main__":
    main()
