"""RFC 4475 over the wire: every torture message, sent over UDP to a running flowpbx, gets
the answer INDEX.tsv asks for (or silence), and a valid OPTIONS still gets 200 after each.

Each message goes out from its own socket, so a retransmitted answer to one message can never
be mistaken for the answer to the next. Silence is proven without a timer: the OPTIONS probe
sent after the message on the same socket is answered in order, so anything that arrives
before the probe's 200 would be an answer to the torture message.
"""

from __future__ import annotations

import csv
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Harness
from tests.netutil import options_request

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "rfc4475"
if not DATA.is_dir():  # CI lays shared/ beside the clone
    DATA = Path("/work/shared/testdata/rfc4475")

SILENCE: frozenset[int] = frozenset()

# The answers flowpbx gives, per INDEX.tsv row. A set of statuses: any of them is right (the
# RFC allows tolerant acceptance or 400 for several rows). Valid requests get what any such
# request gets here: INVITEs from an unknown address are challenged (407), REGISTERs are
# challenged (401), OPTIONS is answered 200, in-dialog requests of unknown dialogs get 481.
EXPECTED: dict[str, frozenset[int]] = {
    "wsinv": frozenset({481}),  # carries a To tag: an in-dialog INVITE of no known dialog
    "intmeth": frozenset({405, 501}),
    "esc01": frozenset({407}),
    "escnull": frozenset({401}),
    "esc02": frozenset({405, 501}),
    "lwsdisp": frozenset({200}),
    "longreq": frozenset({407}),
    "dblreq": frozenset({401}),
    "semiuri": frozenset({200}),
    "transports": frozenset({200}),
    "mpart01": frozenset({405, 501}),
    "unreason": SILENCE,
    "noreason": SILENCE,
    "badinv01": frozenset({400}),
    "clerr": frozenset({400}),
    "ncl": frozenset({400}),
    "scalar02": frozenset({400}),
    "scalarlg": SILENCE,
    "quotbal": frozenset({400}),
    "ltgtruri": frozenset({400}),
    "lwsruri": frozenset({400}),
    "lwsstart": frozenset({400}),
    "trws": frozenset({400}),
    "escruri": frozenset({400}),
    "baddate": frozenset({407, 400}),
    "regbadct": frozenset({401, 400}),
    "badaspec": frozenset({200, 400}),
    "baddn": frozenset({200, 400}),
    "badvers": frozenset({505}),
    "mismatch01": frozenset({400}),
    "mismatch02": frozenset({400}),
    "bigcode": SILENCE,
    "badbranch": frozenset({200}),
    "insuf": frozenset({400}),
    "unkscm": frozenset({416}),
    "novelsc": frozenset({416}),
    "unksm2": frozenset({401}),
    "bext01": frozenset({420}),
    "invut": frozenset({415}),
    "regaut01": frozenset({401}),
    "multi01": frozenset({400}),
    "mcl01": frozenset({400}),
    "bcast": SILENCE,
    "zeromf": frozenset({200}),
    "cparam01": frozenset({401}),
    "cparam02": frozenset({401}),
    "regescrt": frozenset({401}),
    "sdp01": frozenset({406}),
    "inv2543": frozenset({407}),
}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case name -> first value


def _parse(data: bytes) -> Answer | None:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    if not lines[0].startswith("SIP/2.0 "):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return Answer(int(lines[0].split()[1]), headers)


def _exchange(sip: tuple[str, int], message: bytes) -> tuple[list[Answer], Answer]:
    """Send one torture message, then an OPTIONS probe from the same socket. Returns the final
    answers that came before the probe's answer, and the probe's answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(10.0)  # a bound against hanging, not a timed assertion
        port = s.getsockname()[1]
        s.sendto(message, sip)
        before: list[Answer] = []
        probe_sent = message.startswith(b"SIP/2.0")  # a response: only the probe to wait for
        call_id = f"probe-{secrets.token_hex(6)}"
        if probe_sent:
            s.sendto(options_request(*sip, port, call_id), sip)
        while True:
            data = s.recv(65535)
            answer = _parse(data)
            if answer is None or answer.status < 200:
                continue
            if answer.headers.get("call-id") == call_id:
                return before, answer
            before.append(answer)
            if not probe_sent:
                probe_sent = True
                s.sendto(options_request(*sip, port, call_id), sip)


def _index_rows() -> list[str]:
    with (DATA / "INDEX.tsv").open(newline="") as fh:
        return [row["file"] for row in csv.DictReader(fh, delimiter="\t")]


def test_every_row_has_an_expectation() -> None:
    assert set(_index_rows()) == set(EXPECTED)


def test_rfc4475_suite_over_udp(e2e: Harness) -> None:
    server = e2e.server(demo=True)
    wrong: list[str] = []
    for name in _index_rows():
        before, probe = _exchange(server.sip, (DATA / f"{name}.dat").read_bytes())
        expected = EXPECTED[name]
        got = [a.status for a in before]
        if expected == SILENCE:
            if got:
                wrong.append(f"{name}: expected silence, got {got}")
        elif len(got) != 1 or got[0] not in expected:
            wrong.append(f"{name}: expected one of {sorted(expected)}, got {got}")
        else:
            answer = before[0]
            if answer.status in (405, 501) and "allow" not in answer.headers:
                wrong.append(f"{name}: {answer.status} without Allow")
            if answer.status == 415 and "accept" not in answer.headers:
                wrong.append(f"{name}: 415 without Accept")
            if answer.status == 401 and not answer.headers.get(
                "www-authenticate", ""
            ).lower().startswith("digest"):
                wrong.append(f"{name}: 401 without a Digest challenge")
            if answer.status == 420:
                unsupported = answer.headers.get("unsupported", "")
                # A UAS names both Require values (Proxy-Require is for proxies).
                wanted = ("nothingSupportsThis", "nothingSupportsThisEither")
                if sorted(x.strip() for x in unsupported.split(",")) != sorted(wanted):
                    wrong.append(f"{name}: 420 with Unsupported {unsupported!r}")
        if probe.status != 200:
            wrong.append(f"{name}: the OPTIONS probe after it got {probe.status}")
    assert not wrong, "\n".join(wrong) + "\n" + server.logs(40)
    assert server.proc is not None and server.proc.poll() is None
