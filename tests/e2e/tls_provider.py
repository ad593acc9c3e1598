"""A SIP provider reached over TLS, for the TLS trunk tests: a TLS listening socket with the
provider's own certificate (signed by the test's provider CA), one connection at a time,
messages framed by Content-Length; it answers REGISTER with 200, answers INVITEs, and can
send an INVITE of its own over the connection flowpbx opened (connection reuse, as real
providers do). Media is plain RTP/PCMU on a UDP socket: it sends a tone and keeps what it
receives, decoded, for a tone check.

    provider = TlsProvider(cert, key).start()
    msg = provider.wait_request("REGISTER"); provider.reply(msg, 200, contact=True)
    call = provider.invite("+37167000001", pbx=("127.0.0.1", tls_port))
"""

from __future__ import annotations

import contextlib
import queue
import random
import re
import socket
import ssl
import struct
import threading
import time
from pathlib import Path

import numpy as np

from tests.audio_analysis import Int16Array, tone, ulaw_decode, ulaw_encode
from tests.e2e.rawsip import Msg

Addr = tuple[str, int]


class TlsProvider:
    def __init__(self, cert: Path, key: Path, *, tone_hz: float = 500.0) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.conn: ssl.SSLSocket | None = None
        self.conns: list[ssl.SSLSocket] = []  # every connection, closed at stop
        self.messages: queue.Queue[Msg] = queue.Queue()
        self.pending: list[Msg] = []
        self.handshake_errors: list[str] = []
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.rtp_port = int(self.rtp.getsockname()[1])
        self.tone_hz = tone_hz
        self.received: list[bytes] = []  # PCMU payloads
        self.rtp_remote: Addr | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> TlsProvider:
        for target in (self._accept, self._rtp_in, self._rtp_out):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()
        with contextlib.suppress(OSError):
            self.rtp.close()

    def log(self) -> str:
        return f"provider handshake errors: {self.handshake_errors}"

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                raw.settimeout(10)
                conn = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.handshake_errors.append(str(exc))
                raw.close()
                continue
            self.conns.append(conn)
            self.conn = conn
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: ssl.SSLSocket) -> None:
        buf = b""
        conn.settimeout(0.2)
        while not self._stop.is_set():
            try:
                chunk = conn.recv(65535)
            except TimeoutError:
                continue
            except (OSError, ssl.SSLError):
                return
            if not chunk:
                return
            buf += chunk
            while b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                if not head.strip():
                    buf = rest
                    continue
                m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                length = int(m.group(1)) if m else 0
                if len(rest) < length:
                    break
                data, buf = head + b"\r\n\r\n" + rest[:length], rest[length:]
                self.messages.put(Msg.parse(data, conn.getpeername()[:2]))

    def dial_in(self, pbx_tls: Addr, ca: Path) -> None:
        """Open a connection of our own to flowpbx's TLS port (verifying its certificate
        against ``ca``), from a port of the system's choosing, and use it from now on (as a
        provider that does not reuse the connection flowpbx opened)."""
        ctx = ssl.create_default_context(cafile=str(ca))
        raw = socket.create_connection(pbx_tls, timeout=10)
        conn = ctx.wrap_socket(raw, server_hostname=pbx_tls[0])
        self.conns.append(conn)
        self.conn = conn
        threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    # -- SIP ---------------------------------------------------------------------------------

    def send(self, text: str) -> None:
        assert self.conn is not None, "flowpbx has not connected"
        self.conn.sendall(text.encode())

    def recv(self, match, timeout: float = 15.0) -> Msg:  # type: ignore[no-untyped-def]
        for msg in self.pending:
            if match(msg):
                self.pending.remove(msg)
                return msg
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"provider: no match; pending {[m.start for m in self.pending]}")
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if match(msg):
                return msg
            if msg.is_request and msg.method == "OPTIONS":
                self.reply(msg, 200)
                continue
            self.pending.append(msg)

    def wait_request(self, method: str, timeout: float = 15.0) -> Msg:
        return self.recv(lambda m: m.is_request and m.method == method, timeout)

    def reply(
        self, req: Msg, status: int, reason: str = "OK", *, to_tag: str | None = None,
        extra: list[tuple[str, str]] = (), body: str = "",  # type: ignore[assignment]
    ) -> None:  # fmt: skip
        to = req["to"]
        if to_tag and "tag=" not in to:
            to = f"{to};tag={to_tag}"
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {v}" for v in req.get_all("via")]
        lines += [f"From: {req['from']}", f"To: {to}", f"Call-ID: {req['call-id']}"]
        lines += [f"CSeq: {req['cseq']}"] + [f"{n}: {v}" for n, v in extra]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        self.send("\r\n".join(lines) + "\r\n\r\n" + body)

    @property
    def contact(self) -> str:
        return f"<sip:provider@127.0.0.1:{self.port};transport=tls>"

    def sdp(self) -> str:
        return (
            "v=0\r\no=prov 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        )

    def media_to(self, body: str) -> None:
        ip = re.search(r"c=IN IP4 (\S+)", body)
        port = re.search(r"m=audio (\d+)", body)
        assert ip and port, body
        self.rtp_remote = (ip.group(1), int(port.group(1)))

    def answer(self, invite: Msg) -> str:
        """200 OK with our SDP to an INVITE from flowpbx; media starts. The To tag."""
        tag = f"p{random.randint(1, 1 << 30)}"
        self.media_to(invite.body)
        self.reply(invite, 200, to_tag=tag, extra=[("Contact", self.contact)], body=self.sdp())
        return tag

    def invite(self, number: str, pbx: Addr, caller: str = "+37120000002") -> dict[str, str]:
        """An INVITE to ``number`` over the open connection; after the 200, ACK. The dialog
        (call_id, from, to, target)."""
        call_id = f"prov{random.randint(1, 1 << 30)}"
        local = f"<sip:{caller}@127.0.0.1>;tag=pv{random.randint(1, 1 << 30)}"
        uri = f"sip:{number}@{pbx[0]}:{pbx[1]};transport=tls"
        body = self.sdp()
        branch = f"z9hG4bKpv{random.randint(1, 1 << 30)}"
        self.send(
            f"INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:{self.port};branch={branch}\r\n"
            f"Max-Forwards: 70\r\nFrom: {local}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n"
            f"CSeq: 1 INVITE\r\nContact: {self.contact}\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        ok = self.recv(
            lambda m: not m.is_request and m.get("call-id") == call_id and m.status >= 200, 20
        )
        assert ok.status == 200, ok.raw
        self.media_to(ok.body)
        target = re.search(r"<([^>]+)>", ok["contact"])
        dialog = {
            "call_id": call_id, "from": local, "to": ok["to"],
            "target": target.group(1) if target else uri,
        }  # fmt: skip
        self.in_dialog(dialog, "ACK", 1)
        return dialog

    def in_dialog(self, dialog: dict[str, str], method: str, cseq: int) -> None:
        branch = f"z9hG4bKpv{random.randint(1, 1 << 30)}"
        self.send(
            f"{method} {dialog['target']} SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS 127.0.0.1:{self.port};branch={branch}\r\nMax-Forwards: 70\r\n"
            f"From: {dialog['from']}\r\nTo: {dialog['to']}\r\nCall-ID: {dialog['call_id']}\r\n"
            f"CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        )

    # -- media -------------------------------------------------------------------------------

    def _rtp_in(self) -> None:
        self.rtp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, _ = self.rtp.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) > 12 and data[1] & 0x7F == 0:
                self.received.append(data[12:])

    def _rtp_out(self) -> None:
        payload = ulaw_encode(tone(self.tone_hz, 1.0, amplitude=0.3))
        seq, ts, i = 0, 0, 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            if self.rtp_remote is None:
                time.sleep(0.02)
                next_at = time.monotonic()
                continue
            frame = payload[(i % 50) * 160 : (i % 50) * 160 + 160]
            header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, 0x5EC0)
            with contextlib.suppress(OSError):
                self.rtp.sendto(header + frame, self.rtp_remote)
            seq, ts, i = seq + 1, ts + 160, i + 1
            next_at += 0.02
            time.sleep(max(0.0, next_at - time.monotonic()))

    def heard(self) -> Int16Array:
        if not self.received:
            return np.zeros(0, dtype=np.int16)
        return ulaw_decode(b"".join(self.received))
