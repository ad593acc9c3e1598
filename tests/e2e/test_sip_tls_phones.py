"""SIP over TLS for phones (issue 17): two baresip phones register over TLS (verifying
flowpbx's certificate against the test's own CA), one calls a flow (a prompt, then the other
phone) and the other calls it back directly; audio is checked by tone both ways. A capture
of the TLS port during all of it holds no SIP text in clear. The registrations say "tls"
and requests to the phones went over their registration connections (they never listen on
the address flowpbx saw)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.audio_analysis import describe, has_tone, make_tone_wav
from tests.e2e.capture import Capture
from tests.e2e.conftest import Harness
from tests.e2e.server import FlowpbxServer
from tests.e2e.tls_support import make_ca
from tests.netutil import free_tcp_port

pytestmark = pytest.mark.e2e

DID = "+37167000017"
PROMPT_HZ = 400.0
ALICE_HZ = 700.0
BOB_HZ = 1100.0


class TcpCapture(Capture):
    """Everything on one TCP port of the loopback, as a pcap file (read raw)."""

    @property
    def bpf(self) -> str:
        return f"tcp port {self.ports[0]}"

    def raw(self) -> bytes:
        return self.path.read_bytes() if self.path.exists() else b""


def both_pem(cert: Path, key: Path, into: Path) -> Path:
    into.write_bytes(cert.read_bytes() + key.read_bytes())
    return into


def test_phones_register_and_call_over_tls_with_audio_both_ways(e2e: Harness) -> None:
    pki = e2e.tmp_path / "pki"
    ca = make_ca(pki)
    server_cert, server_key = ca.issue(pki, "pbx", ["127.0.0.1", "localhost"])
    tls_port = free_tcp_port()
    server = FlowpbxServer(
        e2e.tmp_path,
        None,
        extra_env={
            "FLOWPBX_TLS_CERT": str(server_cert),
            "FLOWPBX_TLS_KEY": str(server_key),
            "FLOWPBX_SIP_TLS_LISTEN": f"127.0.0.1:{tls_port}",
        },
    )
    make_tone_wav(server.config_file("prompts/p400.wav"), PROMPT_HZ, 1.5)
    server.config = {
        "extensions": [
            {"number": "101", "name": "Alice", "password": "tls-pass-101"},
            {"number": "102", "name": "Bob", "password": "tls-pass-102"},
        ],
        "trunks": [{"name": "provider", "host": "127.0.0.1", "port": 5999}],
        "numbers": [{"number": DID, "trunk": "provider"}],
        "audio": [{"name": "p400", "file": "prompts/p400.wav"}],
        "flows": [
            {
                "name": "TLS line",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID]},
                        "next": {"next": "hello"},
                    },
                    "hello": {"type": "play", "params": {"audio": "p400"}, "next": {"next": "bob"}},
                    "bob": {
                        "type": "call_sip",
                        "params": {"extension": "102", "ring_timeout_s": 15},
                    },
                },
            }
        ],
    }
    e2e.adopt(server)
    server.start()
    capture = e2e.adopt(TcpCapture(e2e.tmp_path / "tls.pcap", [tls_port]))
    capture.start()

    registrar = ("127.0.0.1", tls_port)
    alice = e2e.baresip(
        name="t101", user="101", password="tls-pass-101", registrar=registrar,
        tone_hz=ALICE_HZ, tls_ca=ca.cert_path,
        tls_certificate=both_pem(*ca.issue(pki, "alice", ["127.0.0.1"]), pki / "alice.pem"),
    )  # fmt: skip
    bob = e2e.baresip(
        name="t102", user="102", password="tls-pass-102", registrar=registrar,
        tone_hz=BOB_HZ, tls_ca=ca.cert_path,
        tls_certificate=both_pem(*ca.issue(pki, "bob", ["127.0.0.1"]), pki / "bob.pem"),
    )  # fmt: skip
    alice.wait_registered(15)
    bob.wait_registered(15)
    rows = server.wait_rows(
        "SELECT extension, transport, source FROM registrations ORDER BY extension", count=2
    )
    assert [(r["extension"], r["transport"]) for r in rows] == [("101", "tls"), ("102", "tls")]
    # the source is the phone's end of its TLS connection, not a port the phone listens on
    assert all(int(r["source"].rsplit(":", 1)[1]) not in (alice.sip_port + 1, bob.sip_port + 1)
               for r in rows), rows  # fmt: skip

    # 1. Alice calls the flow: the prompt, then Bob (over his TLS connection)
    alice.dial(f"sip:{DID}@127.0.0.1:{tls_port};transport=tls")
    bob.wait_event("CALL_ESTABLISHED", 20)
    time.sleep(4)
    alice.hangup()
    bob.wait_event("CALL_CLOSED", 10)
    alice.wait_event("CALL_CLOSED", 10)
    _, alice_heard = alice.received_wav()
    _, bob_heard = bob.received_wav()
    assert has_tone(alice_heard, PROMPT_HZ, 1.0), describe(alice_heard)
    assert has_tone(alice_heard, BOB_HZ, 2.5), describe(alice_heard)
    assert has_tone(bob_heard, ALICE_HZ, 2.5), describe(bob_heard)

    # 2. Bob calls Alice directly
    bob.dial(f"sip:101@127.0.0.1:{tls_port};transport=tls")
    alice.wait_event("CALL_ESTABLISHED", 15)
    bob.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(4)
    bob.hangup()
    alice.wait_event("CALL_CLOSED", 10)
    _, alice_heard = alice.received_wav()
    _, bob_heard = bob.received_wav()
    assert has_tone(alice_heard, BOB_HZ, 2.5), describe(alice_heard)
    assert has_tone(bob_heard, ALICE_HZ, 2.5), describe(bob_heard)

    capture.stop()
    raw = capture.raw()
    assert len(raw) > 20_000, "the capture must hold the TLS traffic of two calls"
    for text in (b"SIP/2.0", b"REGISTER sip:", b"INVITE sip:", b"tls-pass", b"Digest"):
        assert text not in raw, f"{text!r} in clear on the TLS port"
