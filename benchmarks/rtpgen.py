"""RTP load generator for the media benchmark: paced 20 ms G.711 streams, send times stamped.

One UDP socket (the address every relayed leg's SDP names) is shared by two forked
processes:

* the *sender* keeps an absolute 20 ms schedule per stream, streams spread over the 20 ms
  period in 1 ms slots. Each slot is one ``sendmmsg(2)`` carrying every packet of the slot:
  the packets live in one numpy array (one row per stream, grouped by slot), the message
  and iovec arrays and each stream's ``sockaddr_in`` are built once, and per slot only the
  RTP sequence number and timestamp and the stamp's sequence and send time are written
  (four vectorised stores). The stamp after the 12-octet header is (stream id, sequence,
  send time in ns, CLOCK_REALTIME, read once just before the slot's ``sendmmsg``), so a
  packet's transit includes its place in the slot's batch (the same place every period;
  up to about 0.2 ms for the last of 75 packets on loopback).
* the *receiver* wakes every 10 ms and drains the socket with ``recvmmsg(2)`` (up to 1,024
  datagrams per call, ``MSG_DONTWAIT``; at 1,500 streams a wake finds about 750). The
  arrival time of each datagram is the kernel's receive timestamp (``SO_TIMESTAMPNS``,
  CLOCK_REALTIME, taken when the packet is queued to the receiving device's backlog), so
  how late the receiver reads does not enter the figures. A batch is decoded with numpy
  (stream ids, sequences and send stamps from the contiguous receive buffer); per stream
  the highest sequence seen and its transit time are kept in numpy arrays, and the IPDV
  (RFC 3393) is counted for a packet whose sequence is the previous highest + 1 of its
  stream, in arrival order (a batch in which a stream appears more than once is processed
  in rounds: first occurrences, then second ones, ...). Duplicates are not counted as
  received (one bit per stream and sequence).

Nothing depends on the relay keeping SSRC, sequence numbers or timestamps: the stamp is in
the payload, which a G.711 relay forwards untouched. The first second of every stream is
warm-up (address latching, call set-up) and is not counted. ``run(sock, targets, seconds)``
returns a ``GenResult``.

Needs Linux with ``sendmmsg``/``recvmmsg`` in libc and ``SO_TIMESTAMPNS``; ``run`` raises
``RuntimeError`` saying so otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import gc
import multiprocessing as mp
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PTIME_S = 0.020
SLOTS = 20  # 1 ms slots in a 20 ms period
WARMUP_PACKETS = 50  # one second per stream
PAYLOAD_LEN = 160  # 20 ms of G.711 at 8 kHz
BIN_NS = 10_000  # histogram bins of 10 µs
BINS = 10_000  # up to 100 ms

RECV_BATCH = 1024  # datagrams per recvmmsg (the kernel's limit, UIO_MAXIOV)
RECV_STRIDE = 512  # bytes kept per datagram (header, CSRC, extension, stamp; rest truncated)
RECV_POLL_S = 0.010  # receiver sleep between drains (arrival times come from the kernel)
FLUSH_BATCHES = 32  # histogram bins are counted every this many batches

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; SCM_TIMESTAMPNS is the same
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32

# The packet as the sender writes it: RTP header (12 octets), stamp (16), µ-law silence.
_PKT = np.dtype(
    [
        ("vpt", "u1", (2,)),
        ("seq", ">u2"),
        ("ts", ">u4"),
        ("ssrc", ">u4"),
        ("sid", ">u4"),
        ("sseq", ">u4"),
        ("sent", ">u8"),
        ("payload", "u1", (PAYLOAD_LEN - 16,)),
    ]
)
# A received datagram with a plain 12-octet header, read in place from the receive buffer.
_RX = np.dtype(
    {
        "names": ["b0", "sid", "seq", "sent"],
        "formats": ["u1", ">u4", ">u4", ">u8"],
        "offsets": [0, 12, 16, 20],
        "itemsize": RECV_STRIDE,
    }
)
_STAMP = np.dtype([("sid", ">u4"), ("seq", ">u4"), ("sent", ">u8")])
_STAMP_IDX = np.arange(16)


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.c_void_p),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


class _CmsgHdr(ctypes.Structure):
    _fields_ = [("len", ctypes.c_size_t), ("level", ctypes.c_int), ("type", ctypes.c_int)]


_MMSG_SIZE = ctypes.sizeof(_MMsgHdr)
# Output fields of each mmsghdr, as a numpy view over the ctypes array.
_MMSG_OUT = np.dtype(
    {
        "names": ["controllen", "len"],
        "formats": [np.uintp, np.uint32],
        "offsets": [_MsgHdr.controllen.offset, _MMsgHdr.len.offset],
        "itemsize": _MMSG_SIZE,
    }
)
_CMSG_HDR = ctypes.sizeof(_CmsgHdr)  # 16 on 64-bit: the timespec follows, aligned
_CTRL_LEN = 64  # room for one SCM_TIMESTAMPNS (CMSG_SPACE(16) = 32)
_CTRL = np.dtype(
    {
        "names": ["level", "type", "sec", "nsec"],
        "formats": [np.int32, np.int32, np.int64, np.int64],
        "offsets": [_CmsgHdr.level.offset, _CmsgHdr.type.offset, _CMSG_HDR, _CMSG_HDR + 8],
        "itemsize": _CTRL_LEN,
    }
)


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
    for force, opt in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, 8 << 20)
        except OSError:  # SO_RCVBUFFORCE / SO_SNDBUFFORCE need root
            sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    return sock


class _Libc:
    """sendmmsg / recvmmsg from libc, or a RuntimeError naming what is missing."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("c") or "libc.so.6"
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            self.sendmmsg = libc.sendmmsg
            self.recvmmsg = libc.recvmmsg
        except (OSError, AttributeError) as exc:
            raise RuntimeError(
                f"benchmarks/rtpgen.py needs sendmmsg(2) and recvmmsg(2) from the C library "
                f"(Linux, glibc ≥ 2.14); {name}: {exc}"
            ) from exc
        self.sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
        self.sendmmsg.restype = ctypes.c_int
        self.recvmmsg.argtypes = [
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_void_p,
        ]
        self.recvmmsg.restype = ctypes.c_int


def _hist_pct(hist: npt.NDArray[np.int64], q: float) -> float:
    total = int(hist.sum())
    if total == 0:
        return float("nan")
    i = int(np.searchsorted(np.cumsum(hist), q / 100 * total))
    return (min(i, BINS - 1) + 0.5) * BIN_NS / 1e6


def _hist_max(hist: npt.NDArray[np.int64]) -> float:
    nz = np.flatnonzero(hist)
    return (int(nz[-1]) + 1) * BIN_NS / 1e6 if len(nz) else float("nan")


def _bins(ns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return np.minimum(np.maximum(ns // BIN_NS, 0), BINS - 1)  # np.clip costs 15 µs a call


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


def _sockaddr(host: str, port: int) -> bytes:
    try:
        addr = socket.inet_aton(host)
    except OSError:
        addr = socket.inet_aton(socket.gethostbyname(host))
    return struct.pack("=HH4s8x", socket.AF_INET, socket.htons(port), addr)


def _sender(sock: socket.socket, targets: list[tuple[str, int]], seconds: float, out: Any) -> None:
    _realtime()
    gc.disable()
    libc = _Libc()
    fd = sock.fileno()
    n = len(targets)
    # Rows grouped by slot: slot k holds the streams sid ≡ k (mod 20), rows bounds[k]..bounds[k+1].
    order = sorted(range(n), key=lambda sid: (sid % SLOTS, sid))
    bounds = [0] * (SLOTS + 1)
    for sid in order:
        bounds[sid % SLOTS + 1] += 1
    for k in range(SLOTS):
        bounds[k + 1] += bounds[k]
    pkts = np.zeros(n, _PKT)
    pkts["vpt"] = (0x80, 0)  # V=2, PT 0 (PCMU)
    pkts["ssrc"] = [sid + 1 for sid in order]
    pkts["sid"] = order
    pkts["payload"] = 0xFF  # µ-law silence after the stamp
    names = ctypes.create_string_buffer(b"".join(_sockaddr(*targets[sid]) for sid in order))
    iovs = (_IoVec * max(n, 1))()
    msgs = (_MMsgHdr * max(n, 1))()
    base = pkts.ctypes.data
    for row in range(n):
        iovs[row].base = base + row * _PKT.itemsize
        iovs[row].len = _PKT.itemsize
        h = msgs[row].hdr
        h.name = ctypes.addressof(names) + 16 * row
        h.namelen = 16
        h.iov = ctypes.addressof(iovs[row])
        h.iovlen = 1
    msgs_addr = ctypes.addressof(msgs)
    views = [
        tuple(pkts[f][bounds[k] : bounds[k + 1]] for f in ("seq", "ts", "sseq", "sent"))
        for k in range(SLOTS)
    ]
    sendmmsg = libc.sendmmsg
    late = np.zeros(BINS, np.int64)
    periods = [0] * SLOTS  # packets sent per stream of each slot
    now_ns = time.time_ns
    mono = time.monotonic
    start = mono() + 0.05
    ticks = int(seconds / 0.001)
    slot_s = PTIME_S / SLOTS
    for tick in range(ticks):
        due = start + tick * slot_s
        delay = due - mono()
        if delay > 0:
            time.sleep(delay)
        else:
            late[min(int(-delay * 1e9) // BIN_NS, BINS - 1)] += 1
        k = tick % SLOTS
        lo, hi = bounds[k], bounds[k + 1]
        if lo == hi:
            continue
        seq = tick // SLOTS
        v_seq, v_ts, v_sseq, v_sent = views[k]
        v_seq[...] = seq & 0xFFFF
        v_ts[...] = (seq * 160) & 0xFFFFFFFF
        v_sseq[...] = seq
        v_sent[...] = now_ns()
        i = lo
        while i < hi:
            r = sendmmsg(fd, msgs_addr + i * _MMSG_SIZE, hi - i, 0)
            i += r if r > 0 else 1  # a failed message is skipped (and counted lost)
        periods[k] += 1
    sent = sum(
        (bounds[k + 1] - bounds[k]) * max(0, periods[k] - WARMUP_PACKETS) for k in range(SLOTS)
    )
    t = os.times()
    out.put(("sender", sent, late, t.user + t.system))


class _Receiver:
    """Per-stream state and histograms, updated a recvmmsg batch at a time."""

    def __init__(self, streams: int, seconds: float) -> None:
        self.streams = streams
        self.nseq = int(seconds / PTIME_S) + 2
        self.seen = np.zeros((streams, self.nseq), np.bool_)
        self.last_seq = np.full(streams, -1, np.int64)
        self.last_transit = np.zeros(streams, np.int64)
        self.got = 0
        self._where = np.zeros(streams, np.int64)  # scratch: finds a stream twice in a batch
        self.ipdv = np.zeros(BINS, np.int64)
        self.transit = np.zeros(BINS, np.int64)
        self._ipdv_bins: list[npt.NDArray[np.int64]] = []
        self._transit_bins: list[npt.NDArray[np.int64]] = []

    def batch(
        self,
        sid: npt.NDArray[np.int64],
        seq: npt.NDArray[np.int64],
        transit: npt.NDArray[np.int64],
    ) -> None:
        """Datagrams in arrival order; each stream's packets are taken in that order."""
        n = len(sid)
        if n > 1:
            idx = np.arange(n)
            self._where[sid] = idx  # the last occurrence wins
            if (self._where[sid] != idx).any():  # a stream more than once: rounds of occurrences
                order = np.argsort(sid, kind="stable")
                s = sid[order]
                first = np.ones(len(s), np.bool_)
                first[1:] = s[1:] != s[:-1]
                rank = np.empty(len(s), np.int64)
                rank[order] = idx - np.maximum.accumulate(np.where(first, idx, 0))
                for r in range(int(rank.max()) + 1):
                    m = rank == r
                    self._round(sid[m], seq[m], transit[m])
                return
        self._round(sid, seq, transit)

    def _round(
        self,
        sid: npt.NDArray[np.int64],
        seq: npt.NDArray[np.int64],
        transit: npt.NDArray[np.int64],
    ) -> None:
        """No stream twice in here, so fancy-indexed updates are exact."""
        new = ~self.seen[sid, seq]
        self.seen[sid, seq] = True
        counted = new & (seq >= WARMUP_PACKETS)
        self.got += int(counted.sum())
        self._transit_bins.append(_bins(transit[counted]))
        prev = self.last_seq[sid]
        cons = counted & (seq == prev + 1)
        if cons.any():
            d = transit[cons] - self.last_transit[sid[cons]]
            self._ipdv_bins.append(_bins(np.abs(d)))
        up = seq > prev
        self.last_seq[sid[up]] = seq[up]
        self.last_transit[sid[up]] = transit[up]

    def flush(self) -> None:
        if self._transit_bins:
            self.transit += np.bincount(np.concatenate(self._transit_bins), minlength=BINS)
            self._transit_bins.clear()
        if self._ipdv_bins:
            self.ipdv += np.bincount(np.concatenate(self._ipdv_bins), minlength=BINS)
            self._ipdv_bins.clear()


def _decode(
    buf: npt.NDArray[np.uint8], rx: npt.NDArray[Any], lens: npt.NDArray[np.int64]
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]
]:
    """Stream ids, sequences and send stamps of the first ``len(lens)`` datagrams in *buf*
    (one per row; *rx* is *buf* viewed as ``_RX``), and which of them are long enough."""
    n = len(lens)
    b0 = rx["b0"][:n]
    if ((b0 & 0x1F) == 0).all():  # plain 12-octet headers: read the stamps in place
        r = rx[:n]
        sid = r["sid"].astype(np.int64)
        seq = r["seq"].astype(np.int64)
        sent = r["sent"].astype(np.int64)
        return sid, seq, sent, lens >= 12 + 16
    off = 12 + 4 * (b0 & 0x0F).astype(np.int64)  # CSRCs
    ext = np.flatnonzero(b0 & 0x10)
    if len(ext):  # header extension: 4 octets, then its length in 32-bit words
        e = np.minimum(off[ext], RECV_STRIDE - 4)
        words = buf[ext, e + 2].astype(np.int64) * 256 + buf[ext, e + 3]
        off[ext] += 4 + 4 * words
    idx = np.minimum(off[:, None] + _STAMP_IDX, RECV_STRIDE - 1)
    stamp = np.take_along_axis(buf[:n], idx, axis=1).copy().view(_STAMP)[:, 0]
    sid = stamp["sid"].astype(np.int64)
    seq = stamp["seq"].astype(np.int64)
    sent = stamp["sent"].astype(np.int64)
    return sid, seq, sent, (lens >= off + 16) & (off + 16 <= RECV_STRIDE)


def _receiver(sock: socket.socket, streams: int, seconds: float, out: Any) -> None:
    _realtime()
    gc.disable()
    libc = _Libc()
    fd = sock.fileno()
    buf = np.zeros((RECV_BATCH, RECV_STRIDE), np.uint8)
    ctrl = np.zeros(RECV_BATCH * _CTRL_LEN, np.uint8)
    iovs = (_IoVec * RECV_BATCH)()
    msgs = (_MMsgHdr * RECV_BATCH)()
    for i in range(RECV_BATCH):
        iovs[i].base = buf.ctypes.data + i * RECV_STRIDE
        iovs[i].len = RECV_STRIDE
        h = msgs[i].hdr
        h.iov = ctypes.addressof(iovs[i])
        h.iovlen = 1
        h.control = ctrl.ctypes.data + i * _CTRL_LEN
        h.controllen = _CTRL_LEN
    out_fields = np.frombuffer(memoryview(msgs).cast("B"), _MMSG_OUT)
    controllen = out_fields["controllen"]
    cm = ctrl.view(_CTRL)
    rx = buf.view(_RX).reshape(-1)
    st = _Receiver(streams, seconds)
    recvmmsg = libc.recvmmsg
    msgs_addr = ctypes.addressof(msgs)
    dontwait = socket.MSG_DONTWAIT
    mono = time.monotonic
    end = mono() + seconds + 0.6
    batches = 0
    while mono() < end:
        controllen[:] = _CTRL_LEN  # the kernel writes back what it used
        n = recvmmsg(fd, msgs_addr, RECV_BATCH, dontwait, None)
        if n <= 0:
            err = ctypes.get_errno()
            if n < 0 and err not in (errno.EAGAIN, errno.EINTR):
                raise OSError(err, os.strerror(err))
            time.sleep(RECV_POLL_S)
            continue
        lens = out_fields["len"][:n].astype(np.int64)
        c = cm[:n]
        ok = (
            (controllen[:n] >= _CMSG_HDR + 16)
            & (c["level"] == socket.SOL_SOCKET)
            & (c["type"] == SO_TIMESTAMPNS)
        )
        arrival = c["sec"] * 1_000_000_000 + c["nsec"]
        if not ok.all():  # no kernel timestamp (should not happen): this batch's read time
            arrival = np.where(ok, arrival, time.time_ns())
        sid, seq, sent, valid = _decode(buf, rx, lens)
        valid &= (sid < streams) & (seq < st.nseq)
        if not valid.all():
            sid, seq, sent, arrival = sid[valid], seq[valid], sent[valid], arrival[valid]
        st.batch(sid, seq, arrival - sent)
        batches += 1
        if batches % FLUSH_BATCHES == 0:
            st.flush()
        if n < RECV_BATCH:
            time.sleep(RECV_POLL_S)
    st.flush()
    t = os.times()
    out.put(("receiver", st.got, st.ipdv, st.transit, t.user + t.system))


def run(sock: socket.socket, targets: list[tuple[str, int]], seconds: float) -> GenResult:
    """Send one stream to each target for *seconds*, receive whatever comes back on *sock*."""
    _Libc()  # fail here, with a clear message, rather than in the children
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError as exc:
        raise RuntimeError(f"benchmarks/rtpgen.py needs SO_TIMESTAMPNS (Linux): {exc}") from exc
    ctx = mp.get_context("fork")
    q: Any = ctx.Queue()
    rx = ctx.Process(target=_receiver, args=(sock, len(targets), seconds, q))
    tx = ctx.Process(target=_sender, args=(sock, targets, seconds, q))
    rx.start()
    tx.start()
    results = {}
    try:
        for _ in range(2):
            item = q.get(timeout=seconds + 60)
            results[item[0]] = item
    finally:
        tx.join(5)
        rx.join(5)
        for p in (tx, rx):
            if p.is_alive():
                p.kill()
                p.join()
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
        sender_late_p99_ms=round(_hist_pct(late, 99), 3) if late.sum() else 0.0,
        sender_late_max_ms=round(_hist_max(late), 3) if late.sum() else 0.0,
        generator_cpu_s=round(tx_cpu + rx_cpu, 2),
    )
