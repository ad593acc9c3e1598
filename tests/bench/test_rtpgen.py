"""The media benchmark's RTP generator (benchmarks/rtpgen.py): its batch bookkeeping against a
packet-at-a-time reference, its header decoding, and a short run to itself."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load() -> ModuleType:
    if "rtpgen" in sys.modules:
        return sys.modules["rtpgen"]
    spec = importlib.util.spec_from_file_location("rtpgen", BENCH / "rtpgen.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["rtpgen"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


rtpgen = _load()


def _reference(streams, packets):
    """One packet at a time, in arrival order: unique packets after warm-up, transit and
    IPDV (only for the sequence right after the highest one seen) histograms."""
    last_seq = [-1] * streams
    last_transit = [0] * streams
    seen = set()
    got = 0
    ipdv = np.zeros(rtpgen.BINS, np.int64)
    transit_h = np.zeros(rtpgen.BINS, np.int64)
    for sid, seq, transit in packets:
        if seq >= rtpgen.WARMUP_PACKETS and (sid, seq) not in seen:
            got += 1
            transit_h[min(max(transit // rtpgen.BIN_NS, 0), rtpgen.BINS - 1)] += 1
            if seq == last_seq[sid] + 1:
                d = abs(transit - last_transit[sid])
                ipdv[min(d // rtpgen.BIN_NS, rtpgen.BINS - 1)] += 1
        seen.add((sid, seq))
        if seq > last_seq[sid]:
            last_seq[sid] = seq
            last_transit[sid] = transit
    return got, ipdv, transit_h


def test_batches_match_packet_at_a_time() -> None:
    rng = np.random.default_rng(7)
    streams, per_stream = 12, 120
    packets = []
    for seq in range(per_stream):
        for sid in range(streams):
            if rng.random() < 0.05:
                continue  # lost
            transit = int(rng.integers(0, 3_000_000))
            packets.append((sid, seq, transit))
            if rng.random() < 0.03:
                packets.append((sid, seq, transit + 5))  # duplicate
    # Reorder: swap some neighbours, and hold a few packets back by several positions.
    for i in range(0, len(packets) - 40, 7):
        if rng.random() < 0.3:
            packets[i], packets[i + 1] = packets[i + 1], packets[i]
        if rng.random() < 0.1:
            packets.insert(i + 30, packets.pop(i))
    st = rtpgen._Receiver(streams, per_stream * rtpgen.PTIME_S)
    i = 0
    while i < len(packets):  # batches of 1..80: streams appear up to several times in one
        n = int(rng.integers(1, 81))
        chunk = np.array(packets[i : i + n], np.int64).reshape(-1, 3)
        st.batch(chunk[:, 0], chunk[:, 1], chunk[:, 2])
        i += n
    st.flush()
    got, ipdv, transit_h = _reference(streams, packets)
    assert st.got == got
    assert np.array_equal(st.transit, transit_h)
    assert np.array_equal(st.ipdv, ipdv)
    assert ipdv.sum() > 0.8 * got


def _datagram(sid: int, seq: int, sent: int, csrc: int = 0, ext_words: int | None = None):
    b0 = 0x80 | csrc | (0x10 if ext_words is not None else 0)
    head = bytes([b0, 0]) + seq.to_bytes(2, "big") + bytes(8) + bytes(4 * csrc)
    if ext_words is not None:
        head += b"\xbe\xde" + ext_words.to_bytes(2, "big") + bytes(4 * ext_words)
    stamp = sid.to_bytes(4, "big") + seq.to_bytes(4, "big") + sent.to_bytes(8, "big")
    return head + stamp + b"\xff" * 144


@pytest.mark.parametrize(
    "shapes",
    [
        [(0, None)] * 3,  # plain headers: the stamp is read in place
        [(0, None), (2, None), (0, 1), (3, 2)],  # CSRCs and header extensions
    ],
)
def test_decode_finds_the_stamp_after_csrc_and_extension(shapes) -> None:
    buf = np.zeros((8, rtpgen.RECV_STRIDE), np.uint8)
    rx = buf.view(rtpgen._RX).reshape(-1)
    lens = []
    for i, (csrc, ext) in enumerate(shapes):
        d = _datagram(100 + i, 1000 + i, 2**62 + i, csrc, ext)
        buf[i, : len(d)] = np.frombuffer(d, np.uint8)
        lens.append(len(d))
    short = len(shapes)  # a datagram cut before the end of its stamp
    d = _datagram(1, 2, 3)[:20]
    buf[short, : len(d)] = np.frombuffer(d, np.uint8)
    lens.append(len(d))
    sid, seq, sent, ok = rtpgen._decode(buf, rx, np.array(lens, np.int64))
    k = len(shapes)
    assert sid[:k].tolist() == [100 + i for i in range(k)]
    assert seq[:k].tolist() == [1000 + i for i in range(k)]
    assert sent[:k].tolist() == [2**62 + i for i in range(k)]
    assert ok.tolist() == [True] * k + [False]


def test_generator_to_itself() -> None:
    sock = rtpgen.open_socket()
    try:
        port = sock.getsockname()[1]
        res = rtpgen.run(sock, [("127.0.0.1", port)] * 20, 2.0)
    finally:
        sock.close()
    assert res.streams == 20
    assert res.sent == 20 * 50  # one second after the one-second warm-up
    assert res.received == res.sent and res.lost == 0
    # Loopback on a shared machine: sane, not tight.
    assert 0 <= res.ipdv_p50_ms <= res.ipdv_p99_ms <= res.ipdv_max_ms < 100
    assert 0 <= res.transit_p50_ms <= res.transit_p99_ms < 100
    assert res.generator_cpu_s >= 0
