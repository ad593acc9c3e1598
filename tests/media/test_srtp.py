"""SRTP/SRTCP for one leg (media/srtp.py) on libsrtp: a reference vector, both suites,
authentication and replay failures dropped and counted, SRTCP, the socket wrappers."""

from __future__ import annotations

import socket
import struct

import pytest

from flowpbx.media import srtp as srtp_mod
from flowpbx.media.rtp import build_rtcp_rr
from flowpbx.media.srtp import SrtpContext
from flowpbx.pbx.rtp.srtp_io import SrtpSocket, srtp_recv, srtp_send

# libsrtp's reference packet for AES_CM_128_HMAC_SHA1_80 (its srtp_driver test vector):
# master key e1f97a0d3e018be0d64fa32c06de4139, salt 0ec675ad498afeebb6960b3aabe6.
VECTOR_KEY = bytes.fromhex("e1f97a0d3e018be0d64fa32c06de41390ec675ad498afeebb6960b3aabe6")
VECTOR_PLAIN = bytes.fromhex("800f1234decafbadcafebabe") + b"\xab" * 16
VECTOR_SRTP = bytes.fromhex(
    "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb"
)
K1 = bytes(range(30))
K2 = bytes(range(100, 130))


def rtp(seq: int, payload: bytes = b"\xff" * 160, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + payload


def pair(suite: str = "AES_CM_128_HMAC_SHA1_80") -> tuple[SrtpContext, SrtpContext]:
    a = SrtpContext(tx_suite=suite, tx_key=K1, rx_suite=suite, rx_key=K2)
    b = SrtpContext(tx_suite=suite, tx_key=K2, rx_suite=suite, rx_key=K1)
    return a, b


def test_reference_vector_both_ways() -> None:
    ctx = SrtpContext(
        tx_suite="AES_CM_128_HMAC_SHA1_80",
        tx_key=VECTOR_KEY,
        rx_suite="AES_CM_128_HMAC_SHA1_80",
        rx_key=VECTOR_KEY,
    )
    assert ctx.protect(VECTOR_PLAIN) == VECTOR_SRTP
    assert ctx.unprotect(VECTOR_SRTP) == VECTOR_PLAIN


@pytest.mark.parametrize(
    ("suite", "tag_len"), [("AES_CM_128_HMAC_SHA1_80", 10), ("AES_CM_128_HMAC_SHA1_32", 4)]
)
def test_round_trip_and_tag_length(suite: str, tag_len: int) -> None:
    a, b = pair(suite)
    for seq in range(5):
        packet = rtp(seq)
        protected = a.protect(packet)
        assert protected is not None
        assert len(protected) == len(packet) + tag_len
        assert protected[:12] == packet[:12]  # the header stays clear
        assert protected[12:172] != packet[12:]  # the payload does not
        assert b.unprotect(protected) == packet
    assert a.packets_out == 5 and b.packets_in == 5


def test_bad_tag_dropped_and_counted() -> None:
    a, b = pair()
    before = srtp_mod.counters()["srtp_auth_failures"]
    protected = bytearray(a.protect(rtp(1)) or b"")
    protected[-1] ^= 1
    assert b.unprotect(bytes(protected)) is None
    protected[-1] ^= 1
    protected[20] ^= 0x40  # a flipped payload bit fails too
    assert b.unprotect(bytes(protected)) is None
    assert b.auth_failures == 2
    assert srtp_mod.counters()["srtp_auth_failures"] == before + 2
    # a wrong key, or plain RTP, never passes
    assert b.unprotect(rtp(2)) is None
    # and the stream goes on after the failures
    assert b.unprotect(a.protect(rtp(3)) or b"") == rtp(3)
    assert b.stats()["srtp_auth_failures"] == 3


def test_replay_dropped() -> None:
    a, b = pair()
    protected = a.protect(rtp(10)) or b""
    assert b.unprotect(protected) == rtp(10)
    assert b.unprotect(protected) is None
    assert b.replays == 1


def test_rollover_counter_across_sequence_wrap() -> None:
    a, b = pair()
    for seq in (65533, 65534, 65535, 0, 1, 2):
        assert b.unprotect(a.protect(rtp(seq)) or b"") == rtp(seq)


def test_srtcp_round_trip_and_tamper() -> None:
    a, b = pair("AES_CM_128_HMAC_SHA1_32")
    report = build_rtcp_rr(ssrc=0x1234, blocks=[])
    protected = a.protect_rtcp(report)
    assert protected is not None
    # RFC 3711 §3.4: E flag + 31-bit index, then an 80-bit tag (also for the _32 suite)
    assert len(protected) == len(report) + 4 + 10
    assert b.unprotect_rtcp(protected) == report
    bad = bytearray(a.protect_rtcp(report) or b"")
    bad[-3] ^= 0xFF
    before = srtp_mod.counters()["srtcp_auth_failures"]
    assert b.unprotect_rtcp(bytes(bad)) is None
    assert srtp_mod.counters()["srtcp_auth_failures"] == before + 1


def test_garbage_never_raises() -> None:
    _, b = pair()
    for data in (b"", b"\x80", b"\x80" * 11, b"\x00" * 40, b"\x80" * 5000):
        assert b.unprotect(data) is None
        assert b.unprotect_rtcp(data) is None


def test_socket_wrappers_over_real_udp() -> None:
    a, b = pair()
    s1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s1.bind(("127.0.0.1", 0))
        s2.bind(("127.0.0.1", 0))
        s2.settimeout(5)
        SrtpSocket(s1, a).sendto(rtp(1), s2.getsockname())
        recv = srtp_recv(s2.recv, b)
        assert recv(4096) == rtp(1)
        s1.connect(s2.getsockname())
        srtp_send(s1.send, a)(rtp(2))
        assert recv(4096) == rtp(2)
        s1.send(rtp(3))  # plain RTP at an SRTP leg: reads as nothing there
        with pytest.raises(BlockingIOError):
            recv(4096)
    finally:
        s1.close()
        s2.close()
