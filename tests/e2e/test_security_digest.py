"""Digest authentication attacks against a real flowpbx over UDP on loopback (issue 16):

* sniffed credentials: a phone's authenticated INVITE to extension 102, captured and sent
  again — as it was, with the response upper-cased, to an external number, with a reused
  nonce count — is refused every time and nothing reaches the trunk's provider (a UDP socket
  standing for it); a replayed REGISTER does not add the attacker's Contact;
* packed guesses: one REGISTER carrying 30 Authorization headers bans its source at once,
  while a phone elsewhere keeps registering;
* a response of non-ASCII text gets a SIP answer (not an exception); credentials for an
  algorithm that is not enabled are refused;
* the demo's published passwords: ``flowpbx serve`` on a non-loopback address refuses to
  start while they are set, and starts once they are changed.

Loopback addresses other than 127.0.0.1 stand for other hosts.
"""

from __future__ import annotations

import secrets
import select
import socket
import subprocess
from dataclasses import dataclass, field

import pytest

from flowpbx.sip.auth import build_authorization, parse_credentials
from tests.e2e.conftest import Harness
from tests.e2e.server import FLOWPBX, FlowpbxServer

pytestmark = pytest.mark.e2e

PASSWORDS = {"101": "Dg5-sniffed-once-101", "102": "Hk2-other-phone-102"}
EXTERNAL = "+37120000000"


def _config(provider_port: int) -> dict[str, object]:
    return {
        "extensions": [
            {"number": n, "name": f"Ext {n}", "password": p, "outbound": True}
            for n, p in PASSWORDS.items()
        ],
        "trunks": [{"name": "provider", "host": "127.0.0.1", "port": provider_port}],
        "numbers": [{"number": "+37167000001", "trunk": "provider"}],
    }


SDP = (
    "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


@dataclass
class Phone:
    """A raw UDP SIP phone (or an attacker's socket) at ``ip``."""

    server: tuple[str, int]
    ip: str = "127.0.0.1"
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ip, 0))
        self.sock.settimeout(10)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def request(
        self,
        method: str,
        ruri: str,
        *,
        user: str,
        to: str,
        cseq: int,
        call_id: str,
        auth: list[tuple[str, str]] | None = None,
        contact_port: int | None = None,
    ) -> bytes:
        sdp = SDP.format(ip=self.ip, port=self.port + 2).encode() if method == "INVITE" else b""
        lines = [
            f"{method} {ruri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch=z9hG4bK{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: <sip:{user}@127.0.0.1>;tag={call_id[:8]}",
            f"To: <sip:{to}@127.0.0.1>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{user}@{self.ip}:{contact_port or self.port}>",
            *[f"{name}: {value}" for name, value in auth or []],
        ]
        if method == "INVITE":
            lines.append("Content-Type: application/sdp")
        lines += [f"Content-Length: {len(sdp)}", "", ""]
        return "\r\n".join(lines).encode() + sdp

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def final(
        self, cseq: int, method: str, provider: socket.socket | None = None
    ) -> tuple[int, list[tuple[str, str]]]:
        """The final response to CSeq ``cseq`` (status, headers). With ``provider``: fails as
        soon as anything arrives there instead (the request went out through the trunk)."""
        watched = [self.sock] if provider is None else [self.sock, provider]
        while True:
            ready, _, _ = select.select(watched, [], [], 10)
            assert ready, f"no final answer to CSeq {cseq} {method}"
            if provider is not None and provider in ready:
                data = provider.recv(65535).decode(errors="replace")
                pytest.fail(f"the attack reached the provider:\n{data[:400]}")
            text = self.sock.recv(65535).decode(errors="replace")
            head = text.split("\r\n\r\n", 1)[0].split("\r\n")
            if not head[0].startswith("SIP/2.0 "):
                continue
            status = int(head[0].split(" ")[1])
            headers = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in head[1:])]
            if status < 200 or (dict((k.lower(), v) for k, v in headers).get("cseq")) != (
                f"{cseq} {method}"
            ):
                continue
            if method == "INVITE":
                self.ack(text, headers)
            return status, headers

    def ack(self, response: str, headers: list[tuple[str, str]]) -> None:
        """ACK a non-2xx final response (RFC 3261 §17.1.1.3: same branch, To with tag)."""
        h = {k.lower(): v for k, v in headers}
        seq = h["cseq"].split()[0]
        lines = [
            "ACK " + h["to"].split("<", 1)[1].split(">", 1)[0] + " SIP/2.0",
            f"Via: {h['via']}",
            "Max-Forwards: 70",
            f"From: {h['from']}",
            f"To: {h['to']}",
            f"Call-ID: {h['call-id']}",
            f"CSeq: {seq} ACK",
            "Content-Length: 0",
            "",
            "",
        ]
        self.send("\r\n".join(lines).encode())

    def close(self) -> None:
        self.sock.close()


def _challenge(headers: list[tuple[str, str]], name: str) -> str:
    return next(v for k, v in headers if k.lower() == name.lower())


def _with_response(credentials: str, response: str) -> str:
    creds = parse_credentials(credentials)
    assert creds is not None
    return credentials.replace(f'response="{creds["response"]}"', f'response="{response}"')


def _reaimed(packet: bytes, *, ruri: str | None = None, credentials: str | None = None) -> bytes:
    """A captured request sent again by an eavesdropper: a new Via branch and Call-ID (so no
    transaction or dialog absorbs it), optionally another Request-URI and credentials."""
    head, sep, body = packet.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    method, old_ruri, version = lines[0].split(" ")
    lines[0] = f"{method} {ruri or old_ruri} {version}"
    out = []
    for line in lines:
        name = line.split(":", 1)[0].lower()
        if name == "via":
            line = line.split(";branch=")[0] + f";branch=z9hG4bK{secrets.token_hex(8)};rport"
        elif name == "call-id":
            line = f"Call-ID: {secrets.token_hex(8)}"
        elif name in ("authorization", "proxy-authorization") and credentials is not None:
            line = f"{line.split(':', 1)[0]}: {credentials}"
        out.append(line)
    return ("\r\n".join(out) + sep + body).encode()


def _provider_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_sniffed_invite_is_refused_for_any_request_uri_and_nothing_reaches_the_trunk(
    e2e: Harness,
) -> None:
    provider = _provider_socket()
    e2e.stack.callback(provider.close)
    server = e2e.server(_config(provider.getsockname()[1]))
    host, port = server.sip
    phone = Phone(server.sip)
    e2e.stack.callback(phone.close)

    # The phone calls extension 102; the eavesdropper captures the authenticated INVITE.
    to_102 = f"sip:102@{host}:{port}"
    call_id = secrets.token_hex(8)
    phone.send(phone.request("INVITE", to_102, user="101", to="102", cseq=1, call_id=call_id))
    status, headers = phone.final(1, "INVITE")
    assert status == 407
    challenge = _challenge(headers, "Proxy-Authenticate")
    cred = build_authorization(
        challenge, method="INVITE", uri=to_102, username="101", password=PASSWORDS["101"]
    )
    invite = phone.request(
        "INVITE",
        to_102,
        user="101",
        to="102",
        cseq=2,
        call_id=call_id,
        auth=[("Proxy-Authorization", cred)],
    )
    phone.send(invite)
    status, _ = phone.final(2, "INVITE", provider)
    assert status not in (401, 403, 407), status  # accepted: 102 is not registered

    creds = parse_credentials(cred)
    assert creds is not None
    upper = _with_response(cred, creds["response"].upper())
    to_external = f"sip:{EXTERNAL}@{host}:{port}"
    attacker = Phone(server.sip, ip="127.0.0.7")
    e2e.stack.callback(attacker.close)
    attempts = {
        "external, upper-cased": (_reaimed(invite, ruri=to_external, credentials=upper), 403),
        "to an external number": (_reaimed(invite, ruri=to_external), 403),
        "same request again": (_reaimed(invite), 407),
        "response upper-cased": (_reaimed(invite, credentials=upper), 407),
    }
    for what, (packet, expected) in attempts.items():
        attacker.send(packet)
        status, headers = attacker.final(2, "INVITE", provider)
        assert status == expected, what
        if expected == 407:
            assert "stale=true" in _challenge(headers, "Proxy-Authenticate"), what

    # The phone itself reusing a nonce count (new cnonce, new Request-URI): refused as well.
    reused = build_authorization(
        challenge, method="INVITE", uri=to_external, username="101", password=PASSWORDS["101"]
    )
    call_id = secrets.token_hex(8)
    phone.send(
        phone.request(
            "INVITE",
            to_external,
            user="101",
            to=EXTERNAL,
            cseq=1,
            call_id=call_id,
            auth=[("Proxy-Authorization", reused)],
        )
    )
    assert phone.final(1, "INVITE", provider)[0] == 407

    # So none of the above is vacuous: the phone's next nonce count reaches the provider.
    fresh = build_authorization(
        challenge,
        method="INVITE",
        uri=to_external,
        username="101",
        password=PASSWORDS["101"],
        nc=2,
    )
    phone.send(
        phone.request(
            "INVITE",
            to_external,
            user="101",
            to=EXTERNAL,
            cseq=1,
            call_id=secrets.token_hex(8),
            auth=[("Proxy-Authorization", fresh)],
        )
    )
    provider.settimeout(10)
    reached = provider.recv(65535).decode(errors="replace")
    assert reached.startswith("INVITE ") and EXTERNAL.lstrip("+") in reached.split("\r\n")[0]
    assert "Traceback" not in server.stderr_path.read_text(errors="replace")


def _registrar(e2e: Harness) -> tuple[FlowpbxServer, str]:
    provider = _provider_socket()
    e2e.stack.callback(provider.close)
    server = e2e.server(_config(provider.getsockname()[1]))  # ban threshold: 10 failures
    host, port = server.sip
    return server, f"sip:{host}:{port}"


def _challenged(phone: Phone, reg_uri: str, call_id: str) -> str:
    phone.send(phone.request("REGISTER", reg_uri, user="101", to="101", cseq=1, call_id=call_id))
    status, headers = phone.final(1, "REGISTER")
    assert status == 401
    return _challenge(headers, "WWW-Authenticate")


def test_non_ascii_response_and_a_disabled_algorithm_are_answered_and_refused(
    e2e: Harness,
) -> None:
    """A response of non-ASCII text, and credentials of a digest algorithm not enabled (the
    default offers and accepts MD5 only): answered, refused, never an exception."""
    server, reg_uri = _registrar(e2e)
    odd = Phone(server.sip, ip="127.0.0.5")
    e2e.stack.callback(odd.close)
    call_id = secrets.token_hex(8)
    ch = _challenged(odd, reg_uri, call_id)
    good = build_authorization(
        ch, method="REGISTER", uri=reg_uri, username="101", password=PASSWORDS["101"]
    )
    sha = build_authorization(
        ch.replace("algorithm=MD5", "algorithm=SHA-256"),
        method="REGISTER",
        uri=reg_uri,
        username="101",
        password=PASSWORDS["101"],
    )
    assert "algorithm=SHA-256" in sha
    for cseq, value in ((2, _with_response(good, "ä" * 32)), (3, sha)):
        odd.send(
            odd.request(
                "REGISTER",
                reg_uri,
                user="101",
                to="101",
                cseq=cseq,
                call_id=call_id,
                auth=[("Authorization", value)],
            )
        )
        assert odd.final(cseq, "REGISTER")[0] in (400, 403), value
    assert not server.db_query("SELECT contact FROM registrations")
    assert "Traceback" not in server.stderr_path.read_text(errors="replace")


def test_packed_guesses_ban_the_source_at_once(e2e: Harness) -> None:
    """One REGISTER with 30 guesses: every one counts, the source is banned at once; a phone
    elsewhere keeps registering."""
    server, reg_uri = _registrar(e2e)
    cracker = Phone(server.sip, ip="127.0.0.6")
    e2e.stack.callback(cracker.close)
    call_id = secrets.token_hex(8)
    ch = _challenged(cracker, reg_uri, call_id)
    guesses = [
        (
            "Authorization",
            build_authorization(
                ch, method="REGISTER", uri=reg_uri, username="101", password=f"guess-{i:04d}"
            ),
        )
        for i in range(30)
    ]
    cracker.send(
        cracker.request(
            "REGISTER", reg_uri, user="101", to="101", cseq=2, call_id=call_id, auth=guesses
        )
    )
    assert cracker.final(2, "REGISTER")[0] == 403
    # the ban is logged before the answer is sent
    log = server.stderr_path.read_text(errors="replace")
    assert "SIP source 127.0.0.6 banned" in log, server.logs()
    # the right password from there now goes unanswered ...
    cracker.sock.settimeout(1.0)
    right = build_authorization(
        ch, method="REGISTER", uri=reg_uri, username="101", password=PASSWORDS["101"]
    )
    cracker.send(
        cracker.request(
            "REGISTER",
            reg_uri,
            user="101",
            to="101",
            cseq=3,
            call_id=call_id,
            auth=[("Authorization", right)],
        )
    )
    with pytest.raises(TimeoutError):
        cracker.sock.recv(65535)
    # ... while a phone elsewhere registers as usual.
    phone = Phone(server.sip, ip="127.0.0.2")
    e2e.stack.callback(phone.close)
    call_id = secrets.token_hex(8)
    phone.send(phone.request("REGISTER", reg_uri, user="102", to="102", cseq=1, call_id=call_id))
    status, headers = phone.final(1, "REGISTER")
    assert status == 401
    cred = build_authorization(
        _challenge(headers, "WWW-Authenticate"),
        method="REGISTER",
        uri=reg_uri,
        username="102",
        password=PASSWORDS["102"],
    )
    phone.send(
        phone.request(
            "REGISTER",
            reg_uri,
            user="102",
            to="102",
            cseq=2,
            call_id=call_id,
            auth=[("Authorization", cred)],
        )
    )
    assert phone.final(2, "REGISTER")[0] == 200
    rows = server.wait_rows("SELECT source FROM registrations WHERE extension='102'")
    assert rows[0]["source"].startswith("127.0.0.2:"), rows
    assert not server.db_query("SELECT source FROM registrations WHERE extension='101'")
    assert "Traceback" not in server.stderr_path.read_text(errors="replace")


def test_a_phone_answering_each_of_two_algorithm_challenges_registers(e2e: Harness) -> None:
    """With SHA-256 and MD5 both offered, a phone may answer each challenge with its own
    Authorization (RFC 3261 §22.3: one per WWW-Authenticate): that is one credential per
    algorithm, not packed guesses — it registers, and repeating it never bans the phone."""
    provider = _provider_socket()
    e2e.stack.callback(provider.close)
    server = e2e.server(
        _config(provider.getsockname()[1]),
        extra_env={"FLOWPBX_SIP_AUTH_ALGORITHMS": "SHA-256,MD5", "FLOWPBX_SIP_BAN_THRESHOLD": "3"},
    )
    host, port = server.sip
    reg_uri = f"sip:{host}:{port}"
    phone = Phone(server.sip, ip="127.0.0.7")
    e2e.stack.callback(phone.close)
    call_id = secrets.token_hex(8)
    for attempt in range(3):  # over the ban threshold if each counted as a failure
        cseq = 1 + 2 * attempt
        phone.send(
            phone.request("REGISTER", reg_uri, user="101", to="101", cseq=cseq, call_id=call_id)
        )
        status, headers = phone.final(cseq, "REGISTER")
        assert status == 401
        challenges = [v for k, v in headers if k.lower() == "www-authenticate"]
        assert len(challenges) == 2 and "algorithm=SHA-256" in challenges[0], challenges
        answers = [
            (
                "Authorization",
                build_authorization(
                    ch, method="REGISTER", uri=reg_uri, username="101", password=PASSWORDS["101"]
                ),
            )
            for ch in challenges
        ]
        phone.send(
            phone.request(
                "REGISTER",
                reg_uri,
                user="101",
                to="101",
                cseq=cseq + 1,
                call_id=call_id,
                auth=answers,
            )
        )
        assert phone.final(cseq + 1, "REGISTER")[0] == 200, server.logs()
    rows = server.wait_rows("SELECT source FROM registrations WHERE extension='101'")
    assert rows[0]["source"].startswith("127.0.0.7:"), rows
    assert "banned" not in server.stderr_path.read_text(errors="replace")


def test_sniffed_register_adds_no_contact(e2e: Harness) -> None:
    server, reg_uri = _registrar(e2e)
    phone = Phone(server.sip)
    e2e.stack.callback(phone.close)
    attacker = Phone(server.sip, ip="127.0.0.7")
    e2e.stack.callback(attacker.close)
    # The phone registers (the eavesdropper captures the authenticated REGISTER) ...
    call_id = secrets.token_hex(8)
    phone.send(phone.request("REGISTER", reg_uri, user="101", to="101", cseq=1, call_id=call_id))
    status, headers = phone.final(1, "REGISTER")
    assert status == 401
    reg_cred = build_authorization(
        _challenge(headers, "WWW-Authenticate"),
        method="REGISTER",
        uri=reg_uri,
        username="101",
        password=PASSWORDS["101"],
    )
    register = phone.request(
        "REGISTER",
        reg_uri,
        user="101",
        to="101",
        cseq=2,
        call_id=call_id,
        auth=[("Authorization", reg_cred)],
    )
    phone.send(register)
    assert phone.final(2, "REGISTER")[0] == 200
    server.wait_rows("SELECT contact FROM registrations WHERE extension='101'")
    # A replayed REGISTER carrying the attacker's Contact adds nothing (each replay with its
    # own Via branch, so no transaction takes it for a retransmission).
    reg_creds = parse_credentials(reg_cred)
    assert reg_creds is not None
    upper = _with_response(reg_cred, reg_creds["response"].upper())
    mine = f"<sip:101@127.0.0.1:{phone.port}>".encode()
    theirs = f"<sip:101@127.0.0.7:{attacker.port}>".encode()
    stolen = _reaimed(register).replace(mine, theirs)
    stolen_upper = _reaimed(register, credentials=upper).replace(mine, theirs)
    for packet in (stolen, stolen_upper):
        attacker.send(packet)
        status, headers = attacker.final(2, "REGISTER")
        assert status == 401 and "stale=true" in _challenge(headers, "WWW-Authenticate"), packet
    rows = server.db_query("SELECT contact, source FROM registrations WHERE extension='101'")
    assert [r["contact"] for r in rows] == [f"sip:101@127.0.0.1:{phone.port}"], rows
    assert "Traceback" not in server.stderr_path.read_text(errors="replace")


def test_serve_refuses_a_public_address_while_the_demo_passwords_are_set(e2e: Harness) -> None:
    server = FlowpbxServer(e2e.tmp_path, demo=True)
    e2e.adopt(server)
    sip_port = server.sip_port
    server.env["FLOWPBX_SIP_LISTEN"] = f"0.0.0.0:{sip_port}"  # binding sends nothing
    server.data_dir.mkdir(exist_ok=True)
    server.cli("db", "upgrade")
    server.cli("demo")
    proc = subprocess.Popen(
        [str(FLOWPBX), "serve"],
        env=server.env,
        cwd=server.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("flowpbx serve started on 0.0.0.0 with the demo's published passwords")
    text = err.decode(errors="replace")
    assert proc.returncode == 1, text
    assert f"FLOWPBX_SIP_LISTEN=0.0.0.0:{sip_port} is not a loopback address" in text, text
    assert "101, 102, 103" in text and "Traceback" not in text, text

    # New passwords for the demo phones: it starts (and answers on loopback).
    server.config = {
        "extensions": [
            {"number": n, "name": n, "password": f"changed-{n}-{secrets.token_hex(4)}"}
            for n in ("101", "102", "103")
        ]
    }
    server.demo = False
    server.start()
    assert server.health() == 200
