"""The attackers' own tools against a real flowpbx on loopback (SPEC §7, issue 10):
sipvicious ``svwar`` (extension enumeration), ``svcrack`` (digest password cracking) and
``svmap`` (finding SIP devices), plus a raw check that a wrong password for an existing
extension and any password for a missing one get byte-for-byte the same kind of answer.

Loopback addresses other than 127.0.0.1 stand for other hosts: svcrack 0.3.3 ignores its
``-b`` option and always comes from 127.0.0.1, so the legitimate phone registers from
127.0.0.2 while 127.0.0.1 is banned.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from flowpbx.sip.auth import build_authorization
from tests.e2e.conftest import Harness
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

PASSWORDS = {"101": "Xy7-north-wind-101", "102": "Zq9-south-wind-102"}
CONFIG = {
    "extensions": [
        {"number": n, "name": f"Ext {n}", "password": p, "outbound": False}
        for n, p in PASSWORDS.items()
    ]
}
EXISTING = ("101", "102")
MISSING = ("100", "103", "104", "105")


@pytest.fixture(scope="module", autouse=True)
def _sipvicious() -> None:
    missing = [t for t in ("svwar", "svcrack", "svmap") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"sipvicious tools missing: {missing} (run `make sysdeps`)")


def run_tool(argv: list[str], cwd: Path, timeout: float = 60.0) -> str:
    r = subprocess.run(
        argv, cwd=cwd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
    )
    return (r.stdout + r.stderr).decode(errors="replace")


def start_tool(e2e: Harness, argv: list[str]) -> subprocess.Popen[bytes]:
    """A sipvicious tool started in the background; killed at teardown if still running."""
    proc = subprocess.Popen(
        argv,
        cwd=e2e.tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    e2e.stack.callback(_reap, proc)
    return proc


def _reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def finish_tool(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode(errors="replace")


def table(output: str) -> dict[str, str]:
    """The result table sipvicious prints: first column -> second column."""
    rows: dict[str, str] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and cells[0] not in ("Extension", "SIP Device"):
            rows[cells[0]] = cells[1]
    return rows


# -- raw SIP over UDP -------------------------------------------------------------------------


def _request(
    method: str,
    user: str,
    sock: socket.socket,
    server: tuple[str, int],
    cseq: int,
    call_id: str,
    auth: tuple[str, str] | None = None,
) -> bytes:
    host, port = sock.getsockname()
    uri = f"sip:{server[0]}:{server[1]}" if method == "REGISTER" else f"sip:{user}@{server[0]}"
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{server[0]}>;tag=t{call_id[:6]}",
        f"To: <sip:{user}@{server[0]}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:{user}@{host}:{port}>",
    ]
    if auth is not None:
        lines.append(f"{auth[0]}: {auth[1]}")
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def _answer(sock: socket.socket, cseq: int) -> tuple[str, list[tuple[str, str]]]:
    """The first final response for CSeq ``cseq``: (status line, headers)."""
    while True:
        data = sock.recv(65535).decode()
        head = data.split("\r\n\r\n", 1)[0].split("\r\n")
        headers = [tuple(p.strip() for p in h.split(":", 1)) for h in head[1:] if ":" in h]
        status = head[0]
        if status.split(" ")[1].startswith("1"):
            continue
        if any(k.lower() == "cseq" and v.split()[0] == str(cseq) for k, v in headers):
            return status, headers  # type: ignore[return-value]


def attempt(
    server: tuple[str, int], method: str, user: str, password: str, *, source: str
) -> dict[str, object]:
    """Challenge, then answer it with ``password``: the shape of the final answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(5)
        call_id = secrets.token_hex(8)
        sock.sendto(_request(method, user, sock, server, 1, call_id), server)
        status, headers = _answer(sock, 1)
        want = "WWW-Authenticate" if method == "REGISTER" else "Proxy-Authenticate"
        challenge = next(v for k, v in headers if k.lower() == want.lower())
        uri = f"sip:{server[0]}:{server[1]}" if method == "REGISTER" else f"sip:{user}@{server[0]}"
        cred = build_authorization(
            challenge, method=method, uri=uri, username=user, password=password
        )
        header = "Authorization" if method == "REGISTER" else "Proxy-Authorization"
        sock.sendto(_request(method, user, sock, server, 2, call_id, (header, cred)), server)
        final, final_headers = _answer(sock, 2)
    return {
        "challenge": status,
        "challenge_headers": sorted(k.lower() for k, _ in headers),
        "final": final,
        "final_headers": sorted(k.lower() for k, _ in final_headers),
    }


def replayed_register(server: tuple[str, int], user: str, password: str, *, source: str) -> str:
    """REGISTER accepted with Digest credentials, then the same credentials in a new request
    (new branch and CSeq, as an eavesdropper would send them): the second answer's status line
    and WWW-Authenticate."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(5)
        call_id = secrets.token_hex(8)
        sock.sendto(_request("REGISTER", user, sock, server, 1, call_id), server)
        _, headers = _answer(sock, 1)
        challenge = next(v for k, v in headers if k.lower() == "www-authenticate")
        cred = build_authorization(
            challenge,
            method="REGISTER",
            uri=f"sip:{server[0]}:{server[1]}",
            username=user,
            password=password,
        )
        sock.sendto(
            _request("REGISTER", user, sock, server, 2, call_id, ("Authorization", cred)), server
        )
        first, _ = _answer(sock, 2)
        assert first.startswith("SIP/2.0 200"), first
        sock.sendto(
            _request("REGISTER", user, sock, server, 3, call_id, ("Authorization", cred)), server
        )
        second, headers = _answer(sock, 3)
    again = [v for k, v in headers if k.lower() == "www-authenticate"]
    return f"{second} {again}"


def options_answer(server: tuple[str, int], source: str, timeout: float = 1.0) -> str | None:
    """The status line of an OPTIONS sent from ``source``, or None when nothing answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        call_id = secrets.token_hex(8)
        sock.sendto(_request("OPTIONS", "probe", sock, server, 1, call_id), server)
        try:
            return _answer(sock, 1)[0]
        except TimeoutError:
            return None


def register_from(e2e: Harness, server: FlowpbxServer, ip: str, ext: str) -> Sipp:
    """SIPp registering ``ext`` from loopback address ``ip`` (the later -i wins)."""
    sipp = e2e.sipp(
        "register_auth.xml",
        remote=server.sip,
        service=ext,
        auth=(ext, PASSWORDS[ext]),
        keys={"expires": 600},
        extra_args=["-i", ip, "-mi", ip],
        name=f"register-{ext}-{ip}",
    )
    sipp.start().check(timeout=20)
    return sipp


# -- the tests --------------------------------------------------------------------------------


def test_svwar_enumerates_nothing_and_svcrack_is_banned(e2e: Harness) -> None:
    """One server: svwar finds no difference between existing and missing extensions; the
    raw answers are identical; svcrack gets the source banned before it reaches the right
    password, while a phone from another address keeps working."""
    server = e2e.server(CONFIG, extra_env={"FLOWPBX_SIP_BAN_THRESHOLD": "5"})
    host, port = server.sip
    svwar = {
        method: start_tool(
            e2e,
            [
                "svwar",
                "--force",
                "-m",
                method,
                "-e",
                "100-105",
                "-P",
                str(free_udp_port()),
                "-p",
                str(port),
                "--maximumtime",
                "2",
                host,
            ],
        )
        for method in ("REGISTER", "INVITE")
    }
    for method, proc in svwar.items():
        out = finish_tool(proc)
        found = table(out)
        for ext in EXISTING:
            for other in MISSING:
                assert found.get(ext) == found.get(other), (method, found, out)

    words = [f"guess{i:02d}" for i in range(12)]
    words.insert(8, PASSWORDS["101"])  # after the threshold: the ban must hide it
    dictionary = e2e.tmp_path / "words.txt"
    dictionary.write_text("\n".join(words) + "\n")
    svcrack = start_tool(
        e2e,
        [
            "svcrack",
            "-u",
            "101",
            "-d",
            str(dictionary),
            "-P",
            str(free_udp_port()),
            "-p",
            str(port),
            "--maximumtime",
            "2",
            host,
        ],
    )
    deadline = time.monotonic() + 30
    while "SIP source 127.0.0.1 banned" not in server.stderr_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.1)
    # While svcrack waits out its own 10 s socket timeout, the rest runs:
    assert options_answer(server.sip, "127.0.0.1") is None  # the scanner's address is dropped
    # A legitimate phone elsewhere registers and is answered as usual.
    assert (options_answer(server.sip, "127.0.0.2") or "").startswith("SIP/2.0 200")
    register_from(e2e, server, "127.0.0.2", "102")
    rows = server.wait_rows("SELECT extension, source FROM registrations WHERE extension='102'")
    assert rows[0]["source"].startswith("127.0.0.2:"), rows
    # The answers themselves: a wrong password for an existing extension and any password for
    # a missing one get the same status, reason and header set, for REGISTER and INVITE
    # (from 127.0.0.5: four failures, under the threshold of five).
    for method in ("REGISTER", "INVITE"):
        wrong = attempt(server.sip, method, "101", "not-the-password", source="127.0.0.5")
        absent = attempt(server.sip, method, "777", "not-the-password", source="127.0.0.5")
        assert wrong == absent, (method, wrong, absent)
        assert str(wrong["final"]).startswith("SIP/2.0 403"), wrong
    good = attempt(server.sip, "REGISTER", "101", PASSWORDS["101"], source="127.0.0.5")
    assert str(good["final"]).startswith("SIP/2.0 200"), good  # so the above is not vacuous
    # Nonce replay protection: the same credentials a second time earn a stale challenge.
    replay = replayed_register(server.sip, "101", PASSWORDS["101"], source="127.0.0.5")
    assert replay.startswith("SIP/2.0 401") and "stale=true" in replay.lower(), replay

    out = finish_tool(svcrack)
    assert PASSWORDS["101"] not in out, out
    assert table(out) == {}, out
    log = server.stderr_path.read_text(errors="replace")
    assert "SIP source 127.0.0.5 banned" not in log, server.logs()
    assert "Traceback" not in server.stderr_path.read_text(errors="replace")


def test_svmap_sees_only_what_the_setting_allows(e2e: Harness) -> None:
    # Policy "known": OPTIONS only from trusted networks, trunks and authenticated phones.
    server = e2e.server(
        CONFIG,
        extra_env={
            "FLOWPBX_SIP_OPTIONS_POLICY": "known",
            "FLOWPBX_SIP_TRUSTED_NETWORKS": "127.0.0.1/32",  # the harness probes from here
        },
    )
    host, port = server.sip

    def svmap(source: str) -> dict[str, str]:
        out = run_tool(
            ["svmap", "-b", source, "-P", str(free_udp_port()), "-p", str(port), host],
            e2e.tmp_path,
        )
        return table(out)

    assert svmap("127.0.0.3") == {}  # an unknown scanner sees nothing
    seen = svmap("127.0.0.1")  # a trusted network sees the PBX
    assert len(seen) == 1 and "flowpbx" in next(iter(seen.values())), seen
    register_from(e2e, server, "127.0.0.4", "101")  # a phone that authenticated is known
    assert len(svmap("127.0.0.4")) == 1
