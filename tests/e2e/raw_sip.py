"""Hand-made SIP over raw UDP/TCP sockets for the attack tests (issue 16): an INVITE with an
SDP offer, reading responses, answering a 407 challenge as an extension would, and a fake
provider socket that records what reaches it."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

from flowpbx.sip.auth import build_authorization

Addr = tuple[str, int]


@dataclass
class Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def sdp(host: str = "127.0.0.1", port: int = 40000) -> str:
    return (
        "v=0\r\n"
        f"o=- 1 1 IN IP4 {host}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=sendrecv\r\n"
    )


def request(
    method: str,
    ruri: str,
    *,
    local: Addr,
    from_user: str,
    to_uri: str | None = None,
    call_id: str | None = None,
    cseq: int = 1,
    branch: str | None = None,
    tag: str = "attk",
    extra: list[tuple[str, str]] | None = None,
    body: str = "",
    transport: str = "UDP",
) -> bytes:
    host, port = local
    branch = branch or "z9hG4bK" + secrets.token_hex(6)
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {host}:{port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{from_user}@{host}>;tag={tag}",
        f"To: <{to_uri or ruri}>",
        f"Call-ID: {call_id or secrets.token_hex(8)}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:{from_user}@{host}:{port}>",
    ]
    lines += [f"{k}: {v}" for k, v in extra or []]
    if body:
        lines.append("Content-Type: application/sdp")
    lines += [f"Content-Length: {len(body.encode())}", "", ""]
    return "\r\n".join(lines).encode() + body.encode()


def parse_reply(data: bytes) -> Reply | None:
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    first = head[0].split(" ", 2)
    if len(first) < 2 or first[0] != "SIP/2.0" or not first[1].isdigit():
        return None
    headers = [
        (k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in head[1:]) if k.strip()
    ]
    return Reply(int(first[1]), first[2] if len(first) > 2 else "", headers)


def final_reply(sock: socket.socket, cseq: int, timeout: float = 10.0) -> Reply:
    """The first final response to CSeq ``cseq`` on a UDP socket."""
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        reply = parse_reply(sock.recv(65535))
        if reply is None or reply.status < 200:
            continue
        if (reply.header("CSeq") or "").split()[0] == str(cseq):
            return reply


def ack_for(reply: Reply, invite: bytes, local: Addr) -> bytes:
    """The ACK of a non-2xx final response (RFC 3261 §17.1.1.3: same branch, To with tag)."""
    head = invite.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    ruri = head[0].split(" ")[1]
    keep = [h for h in head[1:] if h.split(":")[0].lower() in ("via", "from", "call-id")]
    cseq = (reply.header("CSeq") or "1").split()[0]
    lines = [f"ACK {ruri} SIP/2.0", *keep, "Max-Forwards: 70", f"To: {reply.header('To')}"]
    lines += [f"CSeq: {cseq} ACK", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def extension_invite(
    pbx: Addr, *, user: str, password: str, dialled: str, source: str = "127.0.0.1"
) -> Reply:
    """An extension calls ``dialled``: INVITE, answer the 407, the final answer (ACKed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        local = sock.getsockname()
        call_id = secrets.token_hex(8)
        ruri = f"sip:{dialled}@{pbx[0]}:{pbx[1]}"
        first = request(
            "INVITE", ruri, local=local, from_user=user, call_id=call_id, body=sdp(source)
        )
        sock.sendto(first, pbx)
        challenge = final_reply(sock, 1)
        sock.sendto(ack_for(challenge, first, local), pbx)
        assert challenge.status == 407, challenge
        cred = build_authorization(
            challenge.header("Proxy-Authenticate") or "",
            method="INVITE",
            uri=ruri,
            username=user,
            password=password,
        )
        second = request(
            "INVITE",
            ruri,
            local=local,
            from_user=user,
            call_id=call_id,
            cseq=2,
            extra=[("Proxy-Authorization", cred)],
            body=sdp(source),
        )
        sock.sendto(second, pbx)
        answer = final_reply(sock, 2, timeout=15.0)
        if answer.status >= 300:
            sock.sendto(ack_for(answer, second, local), pbx)
        return answer


class FakeProvider:
    """A UDP socket standing for the provider, served by a thread: records every request's
    method and Request-URI, and refuses INVITEs with 486 so nothing stays ringing."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.requests: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            line = data.split(b"\r\n", 1)[0].decode(errors="replace").split(" ")
            if len(line) < 3 or line[0] == "SIP/2.0":
                continue
            self.requests.append((line[0], line[1]))
            if line[0] == "INVITE":
                self.sock.sendto(_response_to(data, 486, "Busy Here"), addr)

    def wait_invite(self, timeout: float = 10.0) -> list[tuple[str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(m == "INVITE" for m, _ in self.requests):
            time.sleep(0.05)
        return list(self.requests)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def _response_to(data: bytes, status: int, reason: str) -> bytes:
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    keep = [h for h in head[1:] if h.split(":")[0].lower() in ("via", "from", "call-id", "cseq")]
    to = next(h for h in head[1:] if h.lower().startswith("to:"))
    lines = [f"SIP/2.0 {status} {reason}", *keep, f"{to};tag=prov", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()
