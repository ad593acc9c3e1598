"""A spoofed trunk source (issue 16): anyone can send UDP from the provider's address, and
calls from the trunk need no authentication. A flood of INVITEs from the trunk's address
(the test socket bound to it) is held to the per-trunk call cap (486 over it), to the
per-trunk INVITE rate (503 with Retry-After over it), and INVITEs to numbers that are not
ours write a bounded number of call-history rows."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, tone_audio
from tests.e2e.rawsip import Reply, parse_reply, request, sdp
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000071"


def start_server(
    e2e: Harness,
    trunk_port: int,
    env: dict[str, str],
    trunk_options: dict[str, object] | None = None,
) -> FlowpbxServer:
    server = FlowpbxServer(e2e.tmp_path, None, extra_env=env, rtp_port_count=400)
    play = {"type": "play", "params": {"audio": "hold-tone", "repeat": 30}}
    company(
        server,
        trunk_ports=[trunk_port],
        trunk_options=trunk_options,
        audio=[tone_audio(server, "hold-tone", 440.0, 1.0)],
        flows=[flow("Held", [DID], {"main": play})],
    )
    e2e.adopt(server)
    return server.start()


@pytest.fixture
def trunk_socket() -> Iterator[tuple[socket.socket, int]]:
    """A UDP socket at the trunk's address: what a spoofer sends from."""
    port = free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))
        yield sock, port


def flood(
    sock: socket.socket, pbx: tuple[str, int], numbers: list[str], timeout: float = 20.0
) -> dict[str, Reply]:
    """One INVITE (new Call-ID) per number, all sent at once; the final answer to each."""
    local = sock.getsockname()
    sent: dict[str, str] = {}
    for number in numbers:
        call_id = secrets.token_hex(8)
        sent[call_id] = number
        ruri = f"sip:{number}@{pbx[0]}:{pbx[1]}"
        data = request(
            "INVITE", ruri, local=local, from_user="+37129000001", call_id=call_id, body=sdp()
        )
        sock.sendto(data, pbx)
    finals: dict[str, Reply] = {}
    deadline = time.monotonic() + timeout
    while len(finals) < len(sent) and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            reply = parse_reply(sock.recv(65535))
        except TimeoutError:
            break
        if reply is None or reply.status < 200:
            continue
        call_id = reply.header("Call-ID") or ""
        if call_id in sent:
            finals.setdefault(call_id, reply)
    assert len(finals) == len(sent), f"{len(finals)} of {len(sent)} answered"
    return finals


def statuses(finals: dict[str, Reply]) -> dict[int, int]:
    out: dict[int, int] = {}
    for reply in finals.values():
        out[reply.status] = out.get(reply.status, 0) + 1
    return out


def test_calls_from_a_trunk_never_exceed_its_cap(
    e2e: Harness, trunk_socket: tuple[socket.socket, int]
) -> None:
    sock, port = trunk_socket
    # The default cap (50), with the INVITE rate out of the way.
    server = start_server(e2e, port, {"FLOWPBX_SIP_RATE_TRUNK_INVITE": "0"})
    finals = flood(sock, server.sip, [DID] * 56)
    # Every call answered is still up (30 s of prompt, never ACKed): 50 at most at once.
    assert statuses(finals) == {200: 50, 486: 6}, (statuses(finals), server.logs())


def test_a_trunks_own_cap_and_rate_override_the_defaults(
    e2e: Harness, trunk_socket: tuple[socket.socket, int]
) -> None:
    sock, port = trunk_socket
    server = start_server(e2e, port, {}, {"max_calls": 3, "invite_rate": "0.001:8"})
    finals = flood(sock, server.sip, [DID] * 12)
    assert statuses(finals) == {200: 3, 486: 5, 503: 4}, (statuses(finals), server.logs())


def test_invites_from_a_trunk_over_its_rate_get_503_with_retry_after(
    e2e: Harness, trunk_socket: tuple[socket.socket, int]
) -> None:
    sock, port = trunk_socket
    server = start_server(e2e, port, {"FLOWPBX_SIP_RATE_TRUNK_INVITE": "0.001:5"})
    finals = flood(sock, server.sip, [f"+3716700{i:04d}" for i in range(20)])
    assert statuses(finals) == {404: 5, 503: 15}, (statuses(finals), server.logs())
    retry = {r.header("Retry-After") for r in finals.values() if r.status == 503}
    assert all(v is not None and v.isdigit() and int(v) >= 1 for v in retry), retry


def test_unknown_numbers_from_a_trunk_write_a_bounded_number_of_history_rows(
    e2e: Harness, trunk_socket: tuple[socket.socket, int]
) -> None:
    sock, port = trunk_socket
    server = start_server(
        e2e,
        port,
        {"FLOWPBX_SIP_RATE_TRUNK_INVITE": "0", "FLOWPBX_SIP_RATE_REJECTED_HISTORY": "0.001:5"},
    )
    finals = flood(sock, server.sip, [f"+3716700{i:04d}" for i in range(40)])
    assert statuses(finals) == {404: 40}, statuses(finals)
    # A real call afterwards: rows are written in order, so once its row is there every
    # row the flood would write is there too.
    (marker,) = flood(sock, server.sip, [DID])
    server.wait_rows("SELECT * FROM call_history WHERE call_id = ?", [marker])
    rejected = server.db_query("SELECT * FROM call_history WHERE outcome = 'rejected'")
    assert len(rejected) == 5, len(rejected)
