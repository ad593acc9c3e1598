"""A bare SIP user agent on raw UDP sockets, for attack tests that need exact control of
what is sent (a trunk presenting a chosen From, digits flooded over RTP, a REFER from the
provider's leg) and exact sight of what flowpbx sends (the INVITE a phone receives, byte for
byte). Not a phone: just enough of RFC 3261 for one dialog at a time, digest answers from
flowpbx's own client code (no crypto here), and RFC 4733 digits.

Below it, single hand-made requests for the flood and policy tests: ``request`` (any
method, with an SDP ``sdp()``), ``parse_reply`` / ``final_reply`` / ``ack_for``,
``extension_invite`` (INVITE answering the 407 as an extension) and ``FakeProvider`` (a
UDP socket standing for the provider, recording what reaches it).

    trunk = RawUa(server.sip, port=trunk_port)           # its port is the trunk's
    phone = RawUa(server.sip); phone.register("102", "pw")
    call = trunk.invite("+37167000001", from_user="101")  # -> Dialog (answered) or raises
    invite = phone.wait_request("INVITE"); phone.answer(invite)
    trunk.send_digits(call, "*2103#")
"""

from __future__ import annotations

import itertools
import random
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from flowpbx.sip.auth import build_authorization

Addr = tuple[str, int]
_ids = itertools.count(1)


@dataclass
class Msg:
    """One SIP message as received: start line, headers in order (lower-case names)."""

    start: str
    headers: list[tuple[str, str]]
    body: str
    raw: str
    source: Addr

    @classmethod
    def parse(cls, data: bytes, source: Addr) -> Msg:
        raw = data.decode("utf-8", "replace")
        head, _, body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        return cls(lines[0], headers, body, raw, source)

    def get(self, name: str, default: str | None = None) -> str | None:
        return next((v for n, v in self.headers if n == name.lower()), default)

    def get_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name.lower()]

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        if self.is_request:
            return self.start.split(" ", 1)[0]
        return (self.get("cseq") or "?").split()[-1]

    @property
    def status(self) -> int:
        return int(self.start.split()[1]) if not self.is_request else 0

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        assert value is not None, f"no {name} in:\n{self.raw}"
        return value


@dataclass
class Dialog:
    call_id: str
    local: str  # our From/To value with tag
    remote: str  # theirs, with tag
    target: str  # remote Contact URI
    cseq: int
    rtp_remote: Addr | None = None
    seq: int = field(default_factory=lambda: random.randint(0, 10000))
    ts: int = field(default_factory=lambda: random.randint(0, 10**6))


def _contact_uri(value: str) -> str:
    return value.split("<", 1)[1].split(">", 1)[0] if "<" in value else value.split(";")[0]


def _sdp_addr(body: str) -> Addr | None:
    ip = port = None
    for line in body.splitlines():
        if line.startswith("c=IN IP4 "):
            ip = line.split()[-1]
        if line.startswith("m=audio "):
            port = int(line.split()[1])
    return (ip, port) if ip and port else None


def read_message(sock: socket.socket, timeout: float) -> Msg:
    """The next SIP message arriving on UDP *sock* within *timeout* (else TimeoutError)."""
    sock.settimeout(timeout)
    data, source = sock.recvfrom(65535)
    return Msg.parse(data, source)


def response(
    req: Msg,
    status: int = 200,
    reason: str = "OK",
    *,
    to_tag: str | None = None,
    extra: Sequence[tuple[str, str]] = (),
    body: str = "",
) -> str:
    """The response to *req* (RFC 3261 §8.2.6: its Vias, From, To with *to_tag* added
    unless it has one, Call-ID, CSeq), with *extra* headers and an SDP *body*."""
    to = req["to"]
    if to_tag and "tag=" not in to:
        to = f"{to};tag={to_tag}"
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {v}" for v in req.get_all("via")]
    lines += [f"From: {req['from']}", f"To: {to}", f"Call-ID: {req['call-id']}"]
    lines += [f"CSeq: {req['cseq']}"]
    lines += [f"{n}: {v}" for n, v in extra]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


class RawUa:
    """One UDP SIP socket (optionally on a given port) and one RTP socket."""

    def __init__(self, server: Addr, *, port: int = 0, user: str = "raw") -> None:
        self.server = server
        self.user = user
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.rtp_port = self.rtp.getsockname()[1]
        self.pending: list[Msg] = []
        self.tag = f"t{next(_ids)}x{random.randint(0, 1 << 30)}"

    def close(self) -> None:
        self.sock.close()
        self.rtp.close()

    # -- plumbing --------------------------------------------------------------------------

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@127.0.0.1:{self.port}>"

    def via(self) -> str:
        branch = f"z9hG4bK{next(_ids)}r{random.randint(0, 1 << 30)}"
        return f"SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport"

    def send(self, text: str, addr: Addr | None = None) -> None:
        self.sock.sendto(text.encode(), addr or self.server)

    def recv(self, match: Callable[[Msg], bool], timeout: float = 10.0) -> Msg:
        """The first message (already received or arriving within `timeout`) that matches."""
        for msg in self.pending:
            if match(msg):
                self.pending.remove(msg)
                return msg
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"no matching SIP message; pending: {[m.start for m in self.pending]}"
                )
            self.sock.settimeout(left)
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            msg = Msg.parse(data, source)
            if msg.is_request and msg.method in ("OPTIONS", "NOTIFY") and not match(msg):
                self.reply(msg, 200)  # keep-alives and MWI: just acknowledge
                continue
            if match(msg):
                return msg
            self.pending.append(msg)

    def response(self, call_id: str, method: str, timeout: float = 10.0, final: bool = True) -> Msg:
        def ok(m: Msg) -> bool:
            return (
                not m.is_request
                and m.get("call-id") == call_id
                and m.method == method
                and (m.status >= 200 or not final)
            )

        return self.recv(ok, timeout)

    def wait_request(self, method: str, timeout: float = 10.0) -> Msg:
        return self.recv(lambda m: m.is_request and m.method == method, timeout)

    def reply(
        self, req: Msg, status: int, *, reason: str = "OK", to_tag: str | None = None,
        extra: list[tuple[str, str]] = (), body: str = "",  # type: ignore[assignment]
    ) -> None:  # fmt: skip
        self.send(response(req, status, reason, to_tag=to_tag, extra=extra, body=body), req.source)

    def sdp(self) -> str:
        return (
            "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
        )

    # -- registering -----------------------------------------------------------------------

    def register(
        self, user: str, password: str, *, contacts: list[str] | None = None, expires: int = 300
    ) -> Msg:
        """REGISTER (answering the digest challenge); the final response."""
        self.user = user
        host, port = self.server
        uri = f"sip:{host}:{port}"
        call_id = f"reg{next(_ids)}-{random.randint(0, 1 << 30)}@raw"
        contact_lines = [f"Contact: {c}" for c in (contacts or [self.contact])]
        auth: list[str] = []
        for cseq in (1, 2):
            lines = [
                f"REGISTER {uri} SIP/2.0",
                f"Via: {self.via()}",
                "Max-Forwards: 70",
                f"From: <sip:{user}@{host}>;tag={self.tag}",
                f"To: <sip:{user}@{host}>",
                f"Call-ID: {call_id}",
                f"CSeq: {cseq} REGISTER",
                *contact_lines,
                f"Expires: {expires}",
                *auth,
                "Content-Length: 0",
            ]
            self.send("\r\n".join(lines) + "\r\n\r\n")
            res = self.response(call_id, "REGISTER")
            if res.status != 401:
                return res
            value = build_authorization(
                res["www-authenticate"], method="REGISTER", uri=uri, username=user,
                password=password,
            )  # fmt: skip
            auth = [f"Authorization: {value}"]
        return res

    # -- calls -----------------------------------------------------------------------------

    def invite(
        self,
        number: str,
        *,
        from_user: str | None = None,
        from_header: str | None = None,
        password: str | None = None,
        timeout: float = 15.0,
        meanwhile: Callable[[], object] | None = None,
    ) -> Msg | Dialog:
        """INVITE sip:number@flowpbx; with `password` the 407 is answered as extension
        `self.user`. `meanwhile` runs once the INVITE that can be answered is sent (another
        raw phone answering it, say). A Dialog when answered (ACKed), else the final
        response."""
        host, port = self.server
        uri = f"sip:{number}@{host}:{port}"
        call_id = f"inv{next(_ids)}-{random.randint(0, 1 << 30)}@raw"
        local = from_header or f"<sip:{from_user or self.user}@127.0.0.1>;tag={self.tag}"
        auth: list[str] = []
        for cseq in (1, 2):
            via = self.via()
            body = self.sdp()
            lines = [
                f"INVITE {uri} SIP/2.0",
                f"Via: {via}",
                "Max-Forwards: 70",
                f"From: {local}",
                f"To: <{uri}>",
                f"Call-ID: {call_id}",
                f"CSeq: {cseq} INVITE",
                f"Contact: {self.contact}",
                *auth,
                "Content-Type: application/sdp",
                f"Content-Length: {len(body)}",
            ]
            self.send("\r\n".join(lines) + "\r\n\r\n" + body)
            if meanwhile is not None and (password is None or auth):
                meanwhile()
            res = self.response(call_id, "INVITE", timeout)
            if res.status >= 300:  # non-2xx: ACK in the INVITE's transaction
                ack = [
                    f"ACK {uri} SIP/2.0", f"Via: {via}", "Max-Forwards: 70", f"From: {local}",
                    f"To: {res['to']}", f"Call-ID: {call_id}", f"CSeq: {cseq} ACK",
                    "Content-Length: 0",
                ]  # fmt: skip
                self.send("\r\n".join(ack) + "\r\n\r\n")
            if res.status == 407 and password is not None and not auth:
                value = build_authorization(
                    res["proxy-authenticate"], method="INVITE", uri=uri, username=self.user,
                    password=password,
                )  # fmt: skip
                auth = [f"Proxy-Authorization: {value}"]
                continue
            break
        if res.status >= 300:
            return res
        dialog = Dialog(
            call_id=call_id, local=local, remote=res["to"],
            target=_contact_uri(res["contact"]), cseq=cseq, rtp_remote=_sdp_addr(res.body),
        )  # fmt: skip
        self.request(dialog, "ACK", cseq=cseq)
        return dialog

    def answer(self, invite: Msg) -> Dialog:
        """200 OK (with our SDP) to an INVITE we received."""
        tag = f"a{next(_ids)}"
        self.reply(invite, 200, to_tag=tag, extra=[("Contact", self.contact)], body=self.sdp())
        return Dialog(
            call_id=invite["call-id"], local=f"{invite['to']};tag={tag}", remote=invite["from"],
            target=_contact_uri(invite["contact"]), cseq=0, rtp_remote=_sdp_addr(invite.body),
        )  # fmt: skip

    def request(
        self, dialog: Dialog, method: str, *, cseq: int | None = None,
        extra: list[tuple[str, str]] = (),  # type: ignore[assignment]
    ) -> None:  # fmt: skip
        """An in-dialog request (ACK reuses the INVITE's CSeq number)."""
        if cseq is None:
            dialog.cseq += 1
            cseq = dialog.cseq
        lines = [
            f"{method} {dialog.target} SIP/2.0", f"Via: {self.via()}", "Max-Forwards: 70",
            f"From: {dialog.local}", f"To: {dialog.remote}", f"Call-ID: {dialog.call_id}",
            f"CSeq: {cseq} {method}", f"Contact: {self.contact}",
            *[f"{n}: {v}" for n, v in extra], "Content-Length: 0",
        ]  # fmt: skip
        self.send("\r\n".join(lines) + "\r\n\r\n")

    def hangup(self, dialog: Dialog) -> None:
        self.request(dialog, "BYE")

    # -- media -----------------------------------------------------------------------------

    def send_audio(self, dialog: Dialog, packets: int = 5) -> None:
        """A few packets of PCMU silence (so that flowpbx's media path sees this side)."""
        assert dialog.rtp_remote is not None
        for _ in range(packets):
            dialog.seq = (dialog.seq + 1) & 0xFFFF
            dialog.ts = (dialog.ts + 160) & 0xFFFFFFFF
            header = struct.pack("!BBHII", 0x80, 0, dialog.seq, dialog.ts, 0x1234)
            self.rtp.sendto(header + b"\xff" * 160, dialog.rtp_remote)

    def send_digits(self, dialog: Dialog, digits: str) -> None:
        """RFC 4733 events, one key after another (start, then three end packets each)."""
        assert dialog.rtp_remote is not None
        for digit in digits:
            code = "0123456789*#ABCD".index(digit)
            dialog.ts = (dialog.ts + 1600) & 0xFFFFFFFF
            for i, (end, duration) in enumerate([(0, 160), (0, 320), (1, 480), (1, 480), (1, 480)]):
                dialog.seq = (dialog.seq + 1) & 0xFFFF
                marker = 0x80 if i == 0 else 0
                header = struct.pack("!BBHII", 0x80, marker | 101, dialog.seq, dialog.ts, 0x1234)
                payload = struct.pack("!BBH", code, (end << 7) | 10, duration)
                self.rtp.sendto(header + payload, dialog.rtp_remote)

    def received_digits(self, want: str, timeout: float = 10.0) -> str:
        """Keys arriving as RFC 4733 events on our RTP socket until `want` was seen (one
        per event timestamp)."""
        seen: dict[int, str] = {}
        got = ""
        deadline = time.monotonic() + timeout
        while not got.endswith(want):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"keys received: {got!r}, waiting for {want!r}")
            self.rtp.settimeout(left)
            try:
                data, _ = self.rtp.recvfrom(2048)
            except TimeoutError:
                continue
            if len(data) < 16 or data[1] & 0x7F < 96:
                continue
            ts = struct.unpack("!I", data[4:8])[0]
            if ts not in seen:
                seen[ts] = "0123456789*#ABCD"[data[12] & 0x0F]
                got += seen[ts]
        return got

    def wait_audio(self, timeout: float = 10.0) -> None:
        """Until one RTP packet arrives (flowpbx plays to us)."""
        self.rtp.settimeout(timeout)
        self.rtp.recvfrom(2048)


# -- single requests over a plain socket ------------------------------------------------------


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
                busy = response(Msg.parse(data, addr), 486, "Busy Here", to_tag="prov")
                self.sock.sendto(busy.encode(), addr)

    def wait_invite(self, timeout: float = 10.0) -> list[tuple[str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(m == "INVITE" for m, _ in self.requests):
            time.sleep(0.05)
        return list(self.requests)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
