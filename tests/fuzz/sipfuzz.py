"""A SIP fuzzer: mutated messages from the RFC 4475 torture set and the project's golden
messages, sent over UDP (and TCP) to a running flowpbx, with liveness checks on the way.

Used by tests/fuzz/test_fuzz_sip.py (a few thousand messages) and benchmarks/fuzz_sip.py
(100,000 and more). Deterministic for a given seed.

Seeds: every ``/work/shared/testdata/rfc4475/*.dat`` message (or ``FLOWPBX_RFC4475_DIR``),
the golden INVITE/200/REGISTER of tests/sip/test_message.py, and a few valid requests of
other methods. Each fuzzed message gets one to three mutations: byte flips, inserts of
delimiter characters, deletions, duplications, truncation, header-line drops, duplicates
(up to hundreds of copies), swaps and splices from other seeds, and header values replaced
by hostile ones (huge, empty, negative or overlarge numbers, unbalanced quotes and brackets,
NUL and escape sequences). Before mutating, the top Via of a seed is pointed at the fuzzer's
own socket so that answers come back to it and not to some other port on the machine.

Numbers get their own mutations (issue 16): every numeric header (CSeq, Content-Length,
Max-Forwards, Expires, Min-Expires, Session-Expires/x, Min-SE, RSeq, RAck, Retry-After,
Subscription-State and Contact ``expires``, Contact ``q``, the Request-URI port) is set to
digits of other scripts (``\u00b2``, Arabic-Indic, fullwidth), huge numbers, ``inf``/``nan``,
exponents, signs or nothing; fresh INVITEs to the trunk's number (``TRUNK_DID``) carry the same
numbers in their SDP (``m=`` port and count, ``o=``, ``c=`` TTL, ``a=rtpmap``, ``a=fmtp``,
``a=ptime``, ``a=rtcp``); and requests get several Authorization / Proxy-Authorization
headers at once, with hostile ``nc``, non-ASCII ``response`` and repeated parameters. With
``trunk_port`` set, those INVITEs are sent from that port, which the server knows as a
trunk, so they reach the SDP parser and the RTP port pool without a password.

Every ``sync_every`` messages the fuzzer sends a valid OPTIONS and waits for its 200: the
server must stay alive and keep up; the run stops with ``FuzzStats.dead`` set otherwise.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.sip.test_message import INVITE_GOLDEN, OK_GOLDEN, REGISTER_GOLDEN

RFC4475_DIR = Path(os.environ.get("FLOWPBX_RFC4475_DIR", "/work/shared/testdata/rfc4475"))

_OTHER_SEEDS = [
    b"OPTIONS sip:pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKopt1;rport\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:probe@192.0.2.10>;tag=o1\r\nTo: <sip:pbx.example.com>\r\n"
    b"Call-ID: opt-1@192.0.2.10\r\nCSeq: 1 OPTIONS\r\nAccept: application/sdp\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"BYE sip:101@192.0.2.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKbye1;rport\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:200@pbx.example.com>;tag=a6c85cf\r\n"
    b"To: <sip:101@pbx.example.com>;tag=1928301774\r\nCall-ID: a84b4c76e66710@192.0.2.10\r\n"
    b"CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
    b"INFO sip:101@192.0.2.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKinfo1;rport\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:200@pbx.example.com>;tag=a6c85cf\r\n"
    b"To: <sip:101@pbx.example.com>;tag=1928301774\r\nCall-ID: info-1@192.0.2.10\r\n"
    b"CSeq: 3 INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 24\r\n\r\n"
    b"Signal=5\r\nDuration=160\r\n",
    b"CANCEL sip:200@pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport\r\n"
    b'Max-Forwards: 70\r\nFrom: "Alice" <sip:101@pbx.example.com>;tag=1928301774\r\n'
    b"To: <sip:200@pbx.example.com>\r\nCall-ID: a84b4c76e66710@192.0.2.10\r\n"
    b"CSeq: 314159 CANCEL\r\nContent-Length: 0\r\n\r\n",
    b"ACK sip:200@pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKack1;rport\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:101@pbx.example.com>;tag=1928301774\r\n"
    b"To: <sip:200@pbx.example.com>;tag=x\r\nCall-ID: ack-1@192.0.2.10\r\n"
    b"CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
]

HOSTILE_VALUES: list[bytes] = [
    b"",
    b" ",
    b"a" * 10_000,
    b"<" * 500,
    b'"unterminated',
    b"<sip:",
    b"<>",
    b";;;;;;;;",
    b"-1",
    b"0",
    b"4294967296",
    b"18446744073709551616",
    b"99999999999999999999999999999999",
    b"%00%zz%",
    b"sip:%00@\x00",
    b"\xff\xfe\xfd",
    b"Digest " + b"a=b," * 300,
    b"SIP/2.0/UDP",
    b"SIP/2.0/UDP [::1",
    b"SIP/2.0/UDP 127.0.0.1:99999999;branch=",
    b"1 " + b"X" * 200,
    b"text/plain;" + b"p=" * 200,
    b"\t\r\n \r\n",
]
# Numbers that str.isdigit() accepts but int() refuses or misreads, and other non-numbers.
HOSTILE_NUMBERS: list[bytes] = [
    s.encode()
    for s in [
        "\u00b2",
        "\u00b9\u00b2\u00b3",
        "\u0663\u0666\u0660\u0660",  # Arabic-Indic 3600: int() reads it
        "\uff11\uff18\uff10\uff10",  # fullwidth 1800
        "\U0001d7d7\U0001d7ce",  # mathematical bold 90
        "\u09e9",
        "\u216b",
        "\u00bd",
        "inf",
        "-inf",
        "Infinity",
        "nan",
        "NaN",
        "1e999",
        "1E5",
        "0x10",
        "1_000",
        "+1",
        "-0",
        "-1",
        "1.5",
        ".5",
        "",
        " ",
        "0",
        "9" * 20,
        "9" * 4301,
        "4294967296",
        "18446744073709551616",
        "0" * 50 + "1",
        "65536",
    ]
]
# (the numeric token of a header where it is present, a line to add where it is not)
_NUMERIC_FIELDS: list[tuple[re.Pattern[bytes], bytes | None]] = [
    (re.compile(rb"(?im)^(cseq[ \t]*:[ \t]*)[^ \t\r\n]*"), None),
    (re.compile(rb"(?im)^((?:content-length|l)[ \t]*:[ \t]*)[^\r\n]*"), None),
    (re.compile(rb"(?im)^(max-forwards[ \t]*:[ \t]*)[^\r\n]*"), b"Max-Forwards: {n}"),
    (re.compile(rb"(?im)^(expires[ \t]*:[ \t]*)[^\r\n]*"), b"Expires: {n}"),
    (re.compile(rb"(?im)^(min-expires[ \t]*:[ \t]*)[^\r\n]*"), b"Min-Expires: {n}"),
    (
        re.compile(rb"(?im)^((?:session-expires|x)[ \t]*:[ \t]*)[^;\r\n]*"),
        b"Session-Expires: {n};refresher=uac",
    ),
    (re.compile(rb"(?im)^(x[ \t]*:[ \t]*)[^;\r\n]*"), b"x: {n}"),
    (re.compile(rb"(?im)^(min-se[ \t]*:[ \t]*)[^\r\n]*"), b"Min-SE: {n}"),
    (re.compile(rb"(?im)^(rseq[ \t]*:[ \t]*)[^\r\n]*"), b"RSeq: {n}"),
    (re.compile(rb"(?im)^(rack[ \t]*:[ \t]*)[^ \t\r\n]*"), b"RAck: {n} {n} INVITE"),
    (re.compile(rb"(?im)^(retry-after[ \t]*:[ \t]*)[^\r\n]*"), b"Retry-After: {n}"),
    (
        re.compile(rb"(?im)^(subscription-state[ \t]*:[^\r\n]*;[ \t]*expires=)[^;\r\n]*"),
        b"Subscription-State: active;expires={n}",
    ),
    (
        re.compile(rb"(?im)^((?:contact|m)[ \t]*:[^\r\n]*;[ \t]*expires=)[^;,\r\n]*"),
        b"Contact: <sip:101@127.0.0.1:5062>;expires={n}",
    ),
    (
        re.compile(rb"(?im)^((?:contact|m)[ \t]*:[^\r\n]*;[ \t]*q=)[^;,\r\n]*"),
        b"Contact: <sip:101@127.0.0.1:5062>;q={n}",
    ),
    (re.compile(rb"(?i)\A([A-Z]+ sips?:[^@ \r\n]*@[^: \r\n]+:)[^; \r\n]*"), None),
]
TRUNK_DID = "+37167000016"
_SDP_LINES = [
    b"v=0",
    b"o=- 1 1 IN IP4 127.0.0.1",
    b"s=-",
    b"c=IN IP4 127.0.0.1",
    b"t=0 0",
    b"m=audio 40000 RTP/AVP 0 8 101",
    b"a=rtpmap:0 PCMU/8000",
    b"a=rtpmap:101 telephone-event/8000",
    b"a=fmtp:101 0-16",
    b"a=ptime:20",
    b"a=rtcp:40001",
    b"a=sendrecv",
]
# (the kind of line replaced, its hostile version; {n} is the number)
_SDP_FIELDS: list[tuple[bytes, bytes]] = [
    (b"m=", b"m=audio {n} RTP/AVP 0 8 101"),
    (b"m=", b"m=audio 40000/{n} RTP/AVP 0 8 101"),
    (b"m=", b"m=audio 40000 RTP/AVP {n} 101"),
    (b"m=", b"m=audio 40000 RTP/AVP 96\r\na=rtpmap:96 PCMU/{n}/{n}"),
    (b"o=", b"o=- {n} {n} IN IP4 127.0.0.1"),
    (b"c=", b"c=IN IP4 224.2.1.1/{n}"),
    (b"a=rtpmap:0", b"a=rtpmap:{n} PCMU/{n}"),
    (b"a=rtpmap:101", b"a=rtpmap:101 telephone-event/{n}"),
    (b"a=fmtp", b"a=fmtp:{n} 0-{n}"),
    (b"a=ptime", b"a=ptime:{n}"),
    (b"a=rtcp", b"a=rtcp:{n} IN IP4 127.0.0.1"),
]
_INSERTS = [
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b'"',
    b"%",
    b"\\",
    b"\xff",
    b" ",
    b"=",
    b"@",
    b"\r\n\r\n",
]
_VIA = re.compile(rb"^(Via|v)[ \t]*:[^\r\n]*", re.IGNORECASE | re.MULTILINE)


def load_seeds(directory: Path = RFC4475_DIR) -> list[bytes]:
    seeds = [p.read_bytes() for p in sorted(directory.glob("*.dat"))]
    seeds += [INVITE_GOLDEN, OK_GOLDEN, REGISTER_GOLDEN, *_OTHER_SEEDS]
    return seeds


def point_via_at(message: bytes, host: str, port: int) -> bytes:
    """Replace the first Via's sent-by with ours (answers come back to the fuzzer)."""
    branch = b"z9hG4bK" + secrets.token_hex(6).encode()
    via = b"Via: SIP/2.0/UDP %s:%d;branch=%s;rport" % (host.encode(), port, branch)
    return _VIA.sub(lambda m: via, message, count=1)


class Mutator:
    """Deterministic message mutations (see the module docstring)."""

    def __init__(self, seeds: list[bytes], seed: int = 0) -> None:
        self.seeds = seeds
        self.rng = random.Random(seed)
        self._ops: list[Callable[[bytes], bytes]] = [
            self.flip,
            self.insert,
            self.delete,
            self.duplicate,
            self.truncate,
            self.drop_line,
            self.repeat_line,
            self.swap_lines,
            self.splice_line,
            self.hostile_value,
            self.hostile_value,
            self.content_length,
            self.start_line,
            self.numeric_header,
            self.numeric_header,
            self.sdp_numbers,
            self.credentials,
        ]
        self.via = b"192.0.2.10:5062"  # where answers to fresh messages go (the fuzzer)

    def message(self, base: bytes) -> bytes:
        data = base
        for _ in range(self.rng.randint(1, 3)):
            data = self.rng.choice(self._ops)(data)
        return data[:65_000]  # one UDP datagram

    def _pos(self, data: bytes) -> int:
        return self.rng.randrange(len(data) + 1)

    def flip(self, data: bytes) -> bytes:
        buf = bytearray(data)
        for _ in range(self.rng.randint(1, 8)):
            if buf:
                i = self.rng.randrange(len(buf))
                buf[i] ^= 1 << self.rng.randrange(8)
        return bytes(buf)

    def insert(self, data: bytes) -> bytes:
        i = self._pos(data)
        return data[:i] + self.rng.choice(_INSERTS) * self.rng.randint(1, 4) + data[i:]

    def delete(self, data: bytes) -> bytes:
        i = self._pos(data)
        return data[:i] + data[i + self.rng.randint(1, 40) :]

    def duplicate(self, data: bytes) -> bytes:
        i = self._pos(data)
        j = min(len(data), i + self.rng.randint(1, 200))
        return data[:j] + data[i:j] * self.rng.randint(1, 20) + data[j:]

    def truncate(self, data: bytes) -> bytes:
        return data[: self._pos(data)]

    def _lines(self, data: bytes) -> tuple[list[bytes], bytes]:
        head, sep, body = data.partition(b"\r\n\r\n")
        return head.split(b"\r\n"), sep + body

    def drop_line(self, data: bytes) -> bytes:
        lines, rest = self._lines(data)
        if len(lines) > 1:
            del lines[self.rng.randrange(len(lines))]
        return b"\r\n".join(lines) + rest

    def repeat_line(self, data: bytes) -> bytes:
        lines, rest = self._lines(data)
        i = self.rng.randrange(len(lines))
        lines[i:i] = [lines[i]] * self.rng.choice([1, 2, 10, 100, 400])
        return b"\r\n".join(lines) + rest

    def swap_lines(self, data: bytes) -> bytes:
        lines, rest = self._lines(data)
        i, j = self.rng.randrange(len(lines)), self.rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return b"\r\n".join(lines) + rest

    def splice_line(self, data: bytes) -> bytes:
        lines, rest = self._lines(data)
        donor, _ = self._lines(self.rng.choice(self.seeds))
        lines.insert(self.rng.randrange(1, len(lines) + 1), self.rng.choice(donor))
        return b"\r\n".join(lines) + rest

    def hostile_value(self, data: bytes) -> bytes:
        lines, rest = self._lines(data)
        i = self.rng.randrange(len(lines))
        name, sep, _ = lines[i].partition(b":")
        value = self.rng.choice(HOSTILE_VALUES)
        if sep and i > 0:
            lines[i] = name + b": " + value
        else:  # the start line: replace one of its three parts
            parts = lines[i].split(b" ", 2)
            parts[self.rng.randrange(len(parts))] = value
            lines[i] = b" ".join(parts)
        return b"\r\n".join(lines) + rest

    def content_length(self, data: bytes) -> bytes:
        value = self.rng.choice(
            [b"0", b"-5", b"1", b"100000", b"99999999999999999999", b"abc", *HOSTILE_NUMBERS[:8]]
        )
        new, n = re.subn(
            rb"(?im)^(content-length|l)[ \t]*:[^\r\n]*", b"Content-Length: " + value, data, count=1
        )
        return new if n else data

    def start_line(self, data: bytes) -> bytes:
        lines, rest = self._lines(data)
        lines[0] = self.rng.choice(
            [
                b"INVITE sip:101@127.0.0.1 SIP/3.0",
                b"REGISTER  sip:x  SIP/2.0",
                b"SIP/2.0 999999 Huge",
                b"SIP/2.0 200",
                b"OPTIONS * SIP/2.0",
                b"FOO\x00 sip:x SIP/2.0",
                b"INVITE <sip:101@x> SIP/2.0",
                b"INVITE sip:" + b"1" * 5000 + b"@x SIP/2.0",
                lines[0] + b" trailing",
                b"",
            ]
        )
        return b"\r\n".join(lines) + rest

    def _number(self) -> bytes:
        return self.rng.choice(HOSTILE_NUMBERS)

    def numeric_header(self, data: bytes) -> bytes:
        """One numeric field set to a hostile number (added when the message has none)."""
        pattern, line = self.rng.choice(_NUMERIC_FIELDS)
        number = self._number()
        new, n = pattern.subn(lambda m: m.group(1) + number, data, count=1)
        if n or line is None:
            return new
        lines, rest = self._lines(data)
        lines.insert(min(len(lines), self.rng.randint(1, 3)), line.replace(b"{n}", number))
        return b"\r\n".join(lines) + rest

    def sdp_numbers(self, data: bytes) -> bytes:
        """A fresh INVITE to the trunk's number (its own Call-ID and branch: not absorbed as
        a retransmission) whose SDP has hostile numbers in one or two fields."""
        sdp = list(_SDP_LINES)
        for _ in range(self.rng.randint(1, 2)):
            kind, line = self.rng.choice(_SDP_FIELDS)
            i = next((i for i, old in enumerate(sdp) if old.startswith(kind)), len(sdp))
            sdp[i : i + 1] = [line.replace(b"{n}", self._number())]
        body = b"\r\n".join(sdp) + b"\r\n"
        tag = b"%08x" % self.rng.getrandbits(32)
        lines = [
            b"INVITE sip:" + TRUNK_DID.encode() + b"@127.0.0.1 SIP/2.0",
            b"Via: SIP/2.0/UDP " + self.via + b";branch=z9hG4bK" + tag + b"sdp;rport",
            b"Max-Forwards: 70",
            b"From: <sip:+37129000001@127.0.0.1>;tag=" + tag,
            b"To: <sip:" + TRUNK_DID.encode() + b"@127.0.0.1>",
            b"Call-ID: sdp-" + tag + b"@fuzz",
            b"CSeq: 1 INVITE",
            b"Contact: <sip:+37129000001@" + self.via + b">",
            b"Content-Type: application/sdp",
            b"Content-Length: " + str(len(body)).encode(),
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def credentials(self, data: bytes) -> bytes:
        """Several Authorization / Proxy-Authorization headers in one request, with hostile
        nc, non-ASCII or overlong responses and repeated parameters."""
        lines, rest = self._lines(data)
        for _ in range(self.rng.choice([2, 3, 5, 20])):
            name = self.rng.choice([b"Authorization", b"Proxy-Authorization"])
            response = self.rng.choice(
                [
                    b"%032x" % self.rng.getrandbits(128),
                    "\u00e9".encode() * 16,
                    b"\xff" * 32,
                    b"0" * 5000,
                    b"",
                ]
            )
            params = [
                b'username="101"',
                b'realm="flowpbx"',
                b'nonce="%016x"' % self.rng.getrandbits(64),
                b'uri="sip:127.0.0.1"',
                b'response="' + response + b'"',
                b"nc=" + self._number(),
                b'cnonce="c"',
                b"qop=auth",
                b"algorithm=" + self.rng.choice([b"MD5", b"SHA-256", b"SHA-512-256", b"X"]),
            ]
            if self.rng.random() < 0.3:
                params.append(self.rng.choice(params))  # a repeated parameter
            value = b"Digest " + b", ".join(self.rng.sample(params, len(params)))
            lines.insert(min(len(lines), 1 + self.rng.randrange(len(lines))), name + b": " + value)
        return b"\r\n".join(lines) + rest


def fuzz_config(trunk_port: int) -> dict[str, object]:
    """One extension; a trunk at ``trunk_port`` whose number's flow hangs up at once."""
    return {
        "extensions": [{"number": "101", "name": "Alice", "password": "fuzz-pass-101"}],
        "trunks": [{"name": "fuzz-provider", "host": "127.0.0.1", "port": trunk_port}],
        "numbers": [{"number": TRUNK_DID, "trunk": "fuzz-provider"}],
        "flows": [
            {
                "name": "Fuzz",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [TRUNK_DID]},
                        "next": {"next": "main"},
                    },
                    "main": {"type": "hangup"},
                },
            }
        ],
    }


def options(host: str, port: int, local: tuple[str, int], call_id: str, transport: str) -> bytes:
    lh, lp = local
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {lh}:{lp};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:fuzz-check@{lh}>;tag={secrets.token_hex(4)}\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def options_status(target: tuple[str, int], timeout: float = 5.0) -> str | None:
    """Status line of the answer to one valid OPTIONS over UDP, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return _udp_check(sock, target, timeout)


def _udp_check(
    sock: socket.socket, target: tuple[str, int], timeout: float, stats: FuzzStats | None = None
) -> str | None:
    call_id = "check-" + secrets.token_hex(8)
    request = options(target[0], target[1], sock.getsockname(), call_id, "UDP")
    deadline = time.monotonic() + timeout
    old = sock.gettimeout()
    try:
        while time.monotonic() < deadline:
            sock.sendto(request, target)
            resend = time.monotonic() + 0.5
            while time.monotonic() < min(resend, deadline):
                sock.settimeout(max(0.01, min(resend, deadline) - time.monotonic()))
                try:
                    data = sock.recv(65535)
                except TimeoutError:
                    break
                except OSError:
                    continue
                if call_id.encode() in data and data.startswith(b"SIP/2.0 "):
                    return data.split(b"\r\n", 1)[0].decode(errors="replace")
                if stats is not None:
                    _count(stats, data)
    finally:
        sock.settimeout(old)
    return None


@dataclass
class FuzzStats:
    sent: int = 0
    sent_tcp: int = 0
    responses: int = 0
    checks: int = 0
    tcp_reconnects: int = 0
    dead: str | None = None  # why the run stopped early
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)


def _count(stats: FuzzStats, data: bytes) -> None:
    stats.responses += 1
    if data.startswith(b"SIP/2.0 ") and len(data) >= 11:
        code = data[8:11].decode(errors="replace")
        stats.statuses[code] = stats.statuses.get(code, 0) + 1


def fuzz_udp(
    target: tuple[str, int],
    count: int,
    *,
    seed: int = 0,
    sync_every: int = 200,
    stats: FuzzStats | None = None,
    progress: Callable[[FuzzStats], None] | None = None,
    trunk_port: int | None = None,
) -> FuzzStats:
    """Send ``count`` mutated messages over UDP; check liveness every ``sync_every``.
    With ``trunk_port``, INVITEs to ``TRUNK_DID`` leave from that port (the server's trunk)."""
    stats = stats or FuzzStats()
    seeds = load_seeds()
    mutator = Mutator(seeds, seed)
    t0 = time.monotonic()
    trunk_start = b"INVITE sip:" + TRUNK_DID.encode() + b"@"
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()
        based = [point_via_at(s, host, port) for s in seeds]
        mutator.via = f"{host}:{port}".encode()
        sock.setblocking(False)
        sockets = [sock]
        if trunk_port is not None:
            trunk = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            trunk.bind(("127.0.0.1", trunk_port))
            trunk.setblocking(False)
            sockets.append(trunk)
        for i in range(count):
            data = mutator.message(mutator.rng.choice(based))
            source = sockets[-1] if data.startswith(trunk_start) else sock
            with contextlib.suppress(OSError):
                source.sendto(data, target)
                stats.sent += 1
            for s in sockets:
                while True:  # drain answers without waiting
                    try:
                        _count(stats, s.recv(65535))
                    except (BlockingIOError, OSError):
                        break
            if (i + 1) % sync_every == 0 or i + 1 == count:
                sock.setblocking(True)
                status = _udp_check(sock, target, 10.0, stats)
                sock.setblocking(False)
                stats.checks += 1
                if status is None or not status.startswith("SIP/2.0 200"):
                    stats.dead = f"OPTIONS after {stats.sent} messages: {status}"
                    break
                if progress is not None:
                    progress(stats)
    stats.seconds += time.monotonic() - t0
    return stats


def fuzz_tcp(
    target: tuple[str, int],
    count: int,
    *,
    seed: int = 1,
    per_connection: int = 50,
    stats: FuzzStats | None = None,
) -> FuzzStats:
    """Send ``count`` mutated messages over TCP, ``per_connection`` per connection (the
    server may close a connection whose framing it cannot recover: a new one is opened).
    Liveness is checked over UDP after each connection."""
    stats = stats or FuzzStats()
    seeds = load_seeds()
    mutator = Mutator(seeds, seed)
    t0 = time.monotonic()
    sent = 0
    while sent < count and stats.dead is None:
        with socket.create_connection(target, timeout=5) as conn:
            stats.tcp_reconnects += 1
            host, port = conn.getsockname()
            based = [point_via_at(s, host, port) for s in seeds]
            for _ in range(min(per_connection, count - sent)):
                data = mutator.message(mutator.rng.choice(based))
                try:
                    conn.sendall(data)
                except OSError:
                    break  # closed by the server: fine, next connection
                sent += 1
                stats.sent_tcp += 1
            conn.settimeout(0.05)
            with contextlib.suppress(OSError):
                while conn.recv(65535):
                    pass
        status = options_status(target, 10.0)
        stats.checks += 1
        if status is None or not status.startswith("SIP/2.0 200"):
            stats.dead = f"OPTIONS after {stats.sent_tcp} TCP messages: {status}"
    stats.seconds += time.monotonic() - t0
    return stats


def rss_kib(pid: int) -> int:
    """Resident set size of a process, KiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
