"""SRTP relay cost: CPU per relayed packet and per call of flowpbx's RTP relay, plain RTP
beside SRTP↔RTP (an SRTP phone and a plain trunk) and SRTP↔SRTP (two SRTP phones).

What runs: N calls of two real `RtpEndpoint`s each (pbx/rtp/endpoint.py, the product's own relay
path on uvloop, sockets on loopback), paired as a relay bridge does it (`peer`), the SRTP
legs with `use_srtp` and libsrtp contexts as a call sets them up. A generator process
(another core when there is one) sends both legs of every call a 20 ms G.711 stream —
already protected for SRTP legs, built before the clock starts — and counts what comes
back. The relay process's CPU (utime+stime, getrusage) over the measurement, divided by the
packets it relayed, gives µs/packet; times 100 packets/s per call gives % of a core per call.
Modes are measured one after another at each N, several rounds interleaved, since the
machine is shared (the median per mode is reported).

Also, `--micro`: the per-packet work alone, in a loop without sockets — relay re-stamp only,
unprotect+re-stamp, unprotect+re-stamp+protect.

    .venv/bin/python benchmarks/srtp_relay.py --calls 100,250 --seconds 8 --rounds 3
    .venv/bin/python benchmarks/srtp_relay.py --micro
    .venv/bin/python benchmarks/srtp_relay.py --burst 200 --calls 250,500 --rounds 5

`--burst K`: the same endpoints and relay path, unpaced: every leg's socket holds K packets
before the clock starts, then the loop relays them all (no generator running meanwhile, so
a busy shared machine disturbs the figure far less than the paced run). % of a core per
call is then µs/packet times 100 packets/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import socket
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from flowpbx.media.srtp import SrtpContext  # noqa: E402
from flowpbx.media.srtp import counters as srtp_counters  # noqa: E402
from flowpbx.pbx.rtp.endpoint import RtpEndpoint  # noqa: E402
from flowpbx.pbx.rtp.ports import RtpPortPool  # noqa: E402
from flowpbx.sip.sdp import MediaParams  # noqa: E402

SUITE = "AES_CM_128_HMAC_SHA1_80"
MODES = ("plain", "srtp-rtp", "srtp-srtp")
PACKET_S = 0.020


def _keys(call: int, leg: int) -> tuple[bytes, bytes]:
    """(phone -> pbx key, pbx -> phone key) of one leg, the same in both processes."""
    base = (call * 2 + leg) % 200
    return bytes((base + i) % 256 for i in range(30)), bytes(
        (base + 77 + i) % 256 for i in range(30)
    )


def _secure(mode: str, leg: int) -> bool:
    return mode == "srtp-srtp" or (mode == "srtp-rtp" and leg == 0)


# -- generator (own process) ------------------------------------------------------------------


def _generator(
    mode: str, targets: list[tuple[int, int]], seconds: float, ready: Any, result: Any
) -> None:
    socks: list[socket.socket] = []
    streams: list[list[bytes]] = []
    count = int(seconds / PACKET_S)
    payload = b"\xd5" * 160
    for call, ports in enumerate(targets):
        for leg, port in enumerate(ports):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            socks.append(s)
            ssrc = 0x1000 + call * 2 + leg
            packets = [
                struct.pack("!BBHII", 0x80, 0, i & 0xFFFF, i * 160, ssrc) + payload
                for i in range(count)
            ]
            if _secure(mode, leg):
                up, down = _keys(call, leg)
                ctx = SrtpContext(tx_suite=SUITE, tx_key=up, rx_suite=SUITE, rx_key=down)
                packets = [ctx.protect(p) or b"" for p in packets]
            streams.append(packets)
    ready.put([s.getsockname()[1] for s in socks])
    ready_go = result.get()  # the relay has latched nothing yet; go
    del ready_go
    received = 0
    start = time.monotonic()
    for i in range(count):
        for s, packets in zip(socks, streams, strict=True):
            try:
                s.send(packets[i])
            except OSError:
                pass
        for s in socks:
            while True:
                try:
                    s.recv(2048)
                except OSError:
                    break
                received += 1
        delay = start + (i + 1) * PACKET_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.2)
    for s in socks:
        while True:
            try:
                s.recv(2048)
            except OSError:
                break
            received += 1
    ready.put({"sent": count * len(socks), "received": received})


# -- relay (this process) ---------------------------------------------------------------------


async def _relay(mode: str, calls: int, seconds: float) -> dict[str, Any]:
    pool = RtpPortPool(30000, 40000, strict=True)
    endpoints: list[tuple[RtpEndpoint, RtpEndpoint]] = []
    for _ in range(calls):
        a = await RtpEndpoint.open(pool, "127.0.0.1", rtcp=False)
        b = await RtpEndpoint.open(pool, "127.0.0.1", rtcp=False)
        a.peer, b.peer = b, a
        endpoints.append((a, b))
    ctx_mp = mp.get_context("fork")
    to_gen: Any = ctx_mp.Queue()
    from_gen: Any = ctx_mp.Queue()
    targets = [(a.port, b.port) for a, b in endpoints]
    proc = ctx_mp.Process(target=_generator, args=(mode, targets, seconds, from_gen, to_gen))
    proc.start()
    loop = asyncio.get_running_loop()
    gen_ports: list[int] = await loop.run_in_executor(None, from_gen.get)
    for call, (a, b) in enumerate(endpoints):
        for leg, ep in enumerate((a, b)):
            ep.set_remote(
                MediaParams(
                    address="127.0.0.1",
                    port=gen_ports[call * 2 + leg],
                    payload_type=0,
                    codec="PCMU",
                )
            )
            if _secure(mode, leg):
                up, down = _keys(call, leg)
                ep.use_srtp(SrtpContext(tx_suite=SUITE, tx_key=down, rx_suite=SUITE, rx_key=up))
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    to_gen.put("go")
    stats: dict[str, int] = await loop.run_in_executor(None, from_gen.get)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    proc.join(10)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    relayed = sum(a.packets_out + b.packets_out for a, b in endpoints)
    dropped = dict(srtp_counters())
    dropped["rtp_ignored"] = pool.rtp_ignored
    received_in = sum(a.packets_in + b.packets_in for a, b in endpoints)
    for a, b in endpoints:
        a.close()
        b.close()
    return {
        "mode": mode,
        "calls": calls,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 3),
        "relayed": relayed,
        "relay_in": received_in,
        "dropped": dropped,
        "sent": stats["sent"],
        "received": stats["received"],
        "us_per_packet": round(cpu / max(1, relayed) * 1e6, 2),
        "core_pct_per_call": round(cpu / wall / calls * 100, 4),
    }


async def _burst(mode: str, calls: int, per_leg: int) -> dict[str, Any]:
    """The relay path with its system calls but no pacing: every leg's socket is filled with
    `per_leg` packets (SRTP ones protected beforehand) before the clock starts; then the
    loop relays them all and the CPU it took is divided by the packets relayed."""
    pool = RtpPortPool(30000, 40000, strict=True)
    endpoints: list[tuple[RtpEndpoint, RtpEndpoint]] = []
    socks: list[socket.socket] = []
    payload = b"\xd5" * 160
    for call in range(calls):
        a = await RtpEndpoint.open(pool, "127.0.0.1", rtcp=False)
        b = await RtpEndpoint.open(pool, "127.0.0.1", rtcp=False)
        a.peer, b.peer = b, a
        endpoints.append((a, b))
        for leg, ep in enumerate((a, b)):
            g = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            g.bind(("127.0.0.1", 0))
            g.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # what comes back: dropped
            socks.append(g)
            ep.set_remote(
                MediaParams(
                    address="127.0.0.1", port=g.getsockname()[1], payload_type=0, codec="PCMU"
                )
            )
            ssrc = 0x1000 + call * 2 + leg
            packets = [
                struct.pack("!BBHII", 0x80, 0, i, i * 160, ssrc) + payload for i in range(per_leg)
            ]
            if _secure(mode, leg):
                up, down = _keys(call, leg)
                ctx = SrtpContext(tx_suite=SUITE, tx_key=up, rx_suite=SUITE, rx_key=down)
                packets = [ctx.protect(p) or b"" for p in packets]
                ep.use_srtp(SrtpContext(tx_suite=SUITE, tx_key=down, rx_suite=SUITE, rx_key=up))
            for packet in packets:
                g.sendto(packet, ("127.0.0.1", ep.port))
    expected = calls * 2 * per_leg
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        relayed = sum(a.packets_out + b.packets_out for a, b in endpoints)
        if relayed >= expected:
            break
        await asyncio.sleep(0.005)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    relayed = sum(a.packets_out + b.packets_out for a, b in endpoints)
    for a, b in endpoints:
        a.close()
        b.close()
    for g in socks:
        g.close()
    return {
        "mode": mode,
        "calls": calls,
        "burst": True,
        "relayed": relayed,
        "expected": expected,
        "cpu_s": round(cpu, 3),
        "us_per_packet": round(cpu / max(1, relayed) * 1e6, 2),
        "core_pct_per_call": round(cpu / max(1, relayed) * 100 * 100, 4),  # 100 packets/s
    }


def _micro(n: int = 200_000) -> dict[str, float]:
    from flowpbx.media.rtp import RtpSender

    payload = b"\xd5" * 160
    plain = [struct.pack("!BBHII", 0x80, 0, i & 0xFFFF, i * 160, 7) + payload for i in range(n)]
    k1, k2 = bytes(range(30)), bytes(range(30, 60))
    phone = SrtpContext(tx_suite=SUITE, tx_key=k1, rx_suite=SUITE, rx_key=k2)
    secured = [phone.protect(p) or b"" for p in plain]
    out: dict[str, float] = {}

    def run(
        label: str, packets: list[bytes], rx: SrtpContext | None, tx: SrtpContext | None
    ) -> None:
        sender = RtpSender(payload_type=0)
        t = time.process_time()
        for data in packets:
            if rx is not None:
                data = rx.unprotect(data) or b""
            seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
            packet = sender.relay_values(data, seq, ts, ssrc)
            if tx is not None:
                tx.protect(packet)
        out[label] = round((time.process_time() - t) / len(packets) * 1e6, 3)

    run("restamp_only_us", plain, None, None)
    pbx = SrtpContext(tx_suite=SUITE, tx_key=k2, rx_suite=SUITE, rx_key=k1)
    run("unprotect_restamp_us", secured, pbx, None)
    pbx = SrtpContext(tx_suite=SUITE, tx_key=k2, rx_suite=SUITE, rx_key=k1)
    out_ctx = SrtpContext(tx_suite=SUITE, tx_key=k1, rx_suite=SUITE, rx_key=k2)
    run("unprotect_restamp_protect_us", secured, pbx, out_ctx)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", default="100,250")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--micro", action="store_true")
    ap.add_argument("--burst", type=int, default=0, help="packets per leg, unpaced (see _burst)")
    args = ap.parse_args()
    if args.micro:
        print(json.dumps(_micro(), indent=1))
        return
    import uvloop

    rows: list[dict[str, Any]] = []
    for calls in [int(c) for c in args.calls.split(",")]:
        for _ in range(args.rounds):
            for mode in MODES:
                if args.burst:
                    row = uvloop.run(_burst(mode, calls, args.burst))
                else:
                    row = uvloop.run(_relay(mode, calls, args.seconds))
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\nmedian per mode:")
    for calls in sorted({r["calls"] for r in rows}):
        base = None
        for mode in MODES:
            sel = [r for r in rows if r["calls"] == calls and r["mode"] == mode]
            us = statistics.median(r["us_per_packet"] for r in sel)
            pct = statistics.median(r["core_pct_per_call"] for r in sel)
            got = sum(r.get("received", r["relayed"]) for r in sel)
            loss = 1 - got / max(1, sum(r.get("sent", r.get("expected", 0)) for r in sel))
            base = us if base is None else base
            print(
                f"  N={calls:4d} {mode:10s} {us:7.2f} µs/packet  {pct:.4f} % core/call  "
                f"x{us / base:.2f} of plain  loss {loss * 100:.2f} %"
            )
    out = ROOT / "benchmarks" / "results" / f"srtp-relay-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"\n{out}")


if __name__ == "__main__":
    main()
