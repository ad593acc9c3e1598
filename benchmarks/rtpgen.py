"""RTP load generator for the media benchmark: paced 20 ms G.711 streams, send times stamped.

One UDP socket (the address every relayed leg's SDP names) is shared by two forked
processes: the *sender* keeps an absolute 20 ms schedule per stream (streams spread over
the 20 ms period in 1 ms slots) and stamps each payload with (stream id, sequence,
CLOCK_MONOTONIC send time in ns); the *receiver* drains the socket and, per stream, counts
packets and computes the transit time and the IPDV (RFC 3393: difference of the transit
times of consecutive packets). Nothing depends on the relay keeping SSRC, sequence numbers
or timestamps: the stamp is in the payload, which a G.711 relay forwards untouched.

The first second of every stream is warm-up (address latching, call set-up) and is not
counted. ``run(targets, seconds)`` returns a ``GenResult``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import selectors
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

PTIME_S = 0.020
SLOTS = 20  # 1 ms slots in a 20 ms period
WARMUP_PACKETS = 50  # one second per stream
PAYLOAD_LEN = 160  # 20 ms of G.711 at 8 kHz
_STAMP = struct.Struct("!IIQ")  # stream id, sequence, send time (ns)
_RTP = struct.Struct("!BBHII")
BIN_NS = 10_000  # histogram bins of 10 µs
BINS = 10_000  # up to 100 ms


@dataclass
class GenResult:
    streams: int
    sent: int  # after warm-up
    received: int  # after warm-up, unique
    lost: int
    loss_pct: float
    ipdv_p50_ms: float
    ipdv_p99_ms: float
    ipdv_max_ms: float
    transit_p50_ms: float
    transit_p99_ms: float
    sender_late_p99_ms: float  # how far the generator itself fell behind its schedule
    sender_late_max_ms: float
    generator_cpu_s: float


def open_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33 if opt == socket.SO_RCVBUF else 32, 8 << 20)
        except OSError:  # SO_RCVBUFFORCE / SO_SNDBUFFORCE need root
            sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    return sock


def _hist_pct(hist: list[int], q: float) -> float:
    total = sum(hist)
    if total == 0:
        return float("nan")
    want = q / 100 * total
    acc = 0
    for i, n in enumerate(hist):
        acc += n
        if acc >= want:
            return (i + 0.5) * BIN_NS / 1e6
    return BINS * BIN_NS / 1e6


def _hist_max(hist: list[int]) -> float:
    for i in range(len(hist) - 1, -1, -1):
        if hist[i]:
            return (i + 1) * BIN_NS / 1e6
    return float("nan")


def _realtime() -> None:
    """Run the generator at real-time priority where allowed (root), else a raised nice level:
    the generator must keep its schedule on a busy 2-core machine, or its own lateness would
    be counted as the relay's jitter."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (OSError, AttributeError):
        try:
            os.nice(-10)
        except OSError:
            pass


def _sender(sock: socket.socket, targets: list[tuple[str, int]], seconds: float, out: Any) -> None:
    _realtime()
    slots: list[list[int]] = [[] for _ in range(SLOTS)]
    for sid in range(len(targets)):
        slots[sid % SLOTS].append(sid)
    packets = [bytearray(12 + PAYLOAD_LEN) for _ in targets]
    for pkt in packets:
        pkt[12:] = b"\xff" * PAYLOAD_LEN  # µ-law silence after the stamp
    seqs = [0] * len(targets)
    late = [0] * BINS
    sendto = sock.sendto
    pack_rtp = _RTP.pack_into
    pack_stamp = _STAMP.pack_into
    now_ns = time.monotonic_ns
    start = time.monotonic() + 0.05
    ticks = int(seconds / 0.001)
    slot_s = PTIME_S / SLOTS
    for tick in range(ticks):
        due = start + tick * slot_s
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            late[min(int(-delay * 1e9) // BIN_NS, BINS - 1)] += 1
        for sid in slots[tick % SLOTS]:
            seq = seqs[sid]
            pkt = packets[sid]
            pack_rtp(pkt, 0, 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, sid + 1)
            pack_stamp(pkt, 12, sid, seq, now_ns())
            try:
                sendto(pkt, targets[sid])
            except OSError:
                pass
            seqs[sid] = seq + 1
    sent = sum(max(0, s - WARMUP_PACKETS) for s in seqs)
    t = os.times()
    out.put(("sender", sent, late, t.user + t.system))


def _receiver(sock: socket.socket, streams: int, seconds: float, out: Any) -> None:
    _realtime()
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    last_seq = [-1] * streams
    last_transit = [0] * streams
    got = [0] * streams
    ipdv = [0] * BINS
    transit_h = [0] * BINS
    recv = sock.recv
    now_ns = time.monotonic_ns
    unpack = _STAMP.unpack_from
    end = time.monotonic() + seconds + 0.6
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        if not sel.select(min(left, 0.1)):
            continue
        while True:
            try:
                data = recv(2048)
            except BlockingIOError:
                break
            t = now_ns()
            b0 = data[0]
            off = 12 + 4 * (b0 & 0x0F)
            if b0 & 0x10:
                off += 4 + 4 * int.from_bytes(data[off + 2 : off + 4], "big")
            if len(data) < off + 16:
                continue
            sid, seq, sent_ns = unpack(data, off)
            if sid >= streams:
                continue
            transit = t - sent_ns
            if seq >= WARMUP_PACKETS:
                got[sid] += 1
                transit_h[min(transit // BIN_NS, BINS - 1)] += 1
                if seq == last_seq[sid] + 1:
                    d = transit - last_transit[sid]
                    ipdv[min(abs(d) // BIN_NS, BINS - 1)] += 1
            if seq > last_seq[sid]:
                last_seq[sid] = seq
                last_transit[sid] = transit
    t_ = os.times()
    out.put(("receiver", sum(got), ipdv, transit_h, t_.user + t_.system))


def run(sock: socket.socket, targets: list[tuple[str, int]], seconds: float) -> GenResult:
    """Send one stream to each target for *seconds*, receive whatever comes back on *sock*."""
    ctx = mp.get_context("fork")
    q: Any = ctx.Queue()
    rx = ctx.Process(target=_receiver, args=(sock, len(targets), seconds, q))
    tx = ctx.Process(target=_sender, args=(sock, targets, seconds, q))
    rx.start()
    tx.start()
    results = {}
    for _ in range(2):
        item = q.get(timeout=seconds + 60)
        results[item[0]] = item
    tx.join()
    rx.join()
    _, sent, late, tx_cpu = results["sender"]
    _, received, ipdv, transit_h, rx_cpu = results["receiver"]
    lost = max(0, sent - received)
    return GenResult(
        streams=len(targets),
        sent=sent,
        received=received,
        lost=lost,
        loss_pct=round(100 * lost / sent, 4) if sent else float("nan"),
        ipdv_p50_ms=round(_hist_pct(ipdv, 50), 3),
        ipdv_p99_ms=round(_hist_pct(ipdv, 99), 3),
        ipdv_max_ms=round(_hist_max(ipdv), 3),
        transit_p50_ms=round(_hist_pct(transit_h, 50), 3),
        transit_p99_ms=round(_hist_pct(transit_h, 99), 3),
        sender_late_p99_ms=round(_hist_pct(late, 99), 3) if sum(late) else 0.0,
        sender_late_max_ms=round(_hist_max(late), 3) if sum(late) else 0.0,
        generator_cpu_s=round(tx_cpu + rx_cpu, 2),
    )
