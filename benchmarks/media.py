"""Media capacity: N concurrent bridged G.711 calls through flowpbx, beside rtpengine.

For each N (stepped), in one run:

* ``flowpbx``   SIPp as the provider calls a DID whose flow is ``numbers -> call_sip 200``;
  extension 200 is a SIPp UAS (registered first). Both SDPs name the RTP generator's
  address, so flowpbx anchors two legs per call between the generator and itself. The
  relay ports are read from what flowpbx sent to SIPp (its 200 OK and its INVITE).
* ``rtpengine`` the userspace relay (``--table=-1``), calls set up over the NG protocol
  (offer/answer with the generator's SDP on both sides).
* ``direct``    the generator sending to itself: the floor of loss and IPDV on this machine.
* ``flowpbx-multi`` several flowpbx processes (``--processes``, default 2), each with its own
  RTP port range, SIPp pair and an equal share of the calls: SPEC §9's several processes on
  one machine. Signalling is split by the load generator (a dispatcher in front would split
  it by Call-ID); the media path is the same either way. CPU is the sum of the processes.

The generator (benchmarks/rtpgen.py) sends 20 ms G.711 both ways on every leg, keeping an
absolute schedule at real-time priority, and stamps send times in the payload. Per step:
loss, IPDV p50/p99/max, transit p99, CPU of the relay (utime+stime from /proc over the
measurement, as % of one core, and per call), RSS growth per call.

    .venv/bin/python benchmarks/media.py                      # N = 100,250,500,750; 20 s each
    .venv/bin/python benchmarks/media.py --quick --calls 100,500
    .venv/bin/python benchmarks/media.py --targets rtpengine,direct
    .venv/bin/python benchmarks/media.py --targets rtpengine,flowpbx-multi --calls 500

rtpengine: ``apt-get install -y --no-install-recommends rtpengine-daemon``.
Results: a table on stdout and JSON in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import rtpgen
from common import (
    BENCH_DIR,
    ROOT,
    SIPP_DIR,
    BenchServer,
    cpu_seconds,
    machine,
    rss_kb,
    spawn,
    stop_process,
)
from cps import EXT, EXT_PASSWORD, register, sipp

sys.path.insert(0, str(ROOT))
from tests.netutil import free_udp_port

DID = "+37167000903"
SETUP_RATE = 100  # calls/s while setting up a step's calls
SETUP_WAIT_S = 45  # at most this long (beyond N / SETUP_RATE) for every leg to be set up
_PORT_RE = re.compile(r"m=audio (\d+)")


@dataclass
class MediaStep:
    target: str
    calls: int
    seconds: float
    legs_found: int
    loss_pct: float
    lost: int
    sent: int
    ipdv_p50_ms: float
    ipdv_p99_ms: float
    ipdv_max_ms: float
    transit_p99_ms: float
    cpu_pct: float  # of one core, the relay process
    cpu_per_call_pct: float
    us_per_packet: float
    rss_per_call_kb: float
    gen_late_max_ms: float
    loadavg: str
    setup_s: float = 0.0  # how long the N calls took to set up (flowpbx)
    window: tuple[float, float] = (
        0.0,
        0.0,
    )  # time.perf_counter() at start and end (CLOCK_MONOTONIC)


# -- bencode for the NG protocol -------------------------------------------------------------


def bencode(value: Any) -> bytes:
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, int):
        return b"i%de" % value
    data = value.encode() if isinstance(value, str) else value
    return b"%d:%s" % (len(data), data)


def bdecode(data: bytes, i: int = 0) -> tuple[Any, int]:
    c = data[i : i + 1]
    if c == b"d":
        out: dict[str, Any] = {}
        i += 1
        while data[i : i + 1] != b"e":
            k, i = bdecode(data, i)
            v, i = bdecode(data, i)
            out[k.decode() if isinstance(k, bytes) else k] = v
        return out, i + 1
    if c == b"l":
        items: list[Any] = []
        i += 1
        while data[i : i + 1] != b"e":
            v, i = bdecode(data, i)
            items.append(v)
        return items, i + 1
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    colon = data.index(b":", i)
    n = int(data[i:colon])
    return data[colon + 1 : colon + 1 + n], colon + 1 + n


class NgClient:
    def __init__(self, addr: tuple[str, int]) -> None:
        self.addr = addr
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(5)

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        cookie = secrets.token_hex(6).encode()
        self.sock.sendto(cookie + b" " + bencode(command), self.addr)
        while True:
            data = self.sock.recv(65535)
            if data.startswith(cookie + b" "):
                reply, _ = bdecode(data, len(cookie) + 1)
                if reply.get("result") != b"ok":
                    raise RuntimeError(f"rtpengine {command['command']}: {reply}")
                return dict(reply)


def gen_sdp(port: int, who: str) -> str:
    return (
        f"v=0\r\no={who} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )


# -- targets ---------------------------------------------------------------------------------


def received_ports(log: Path) -> set[int]:
    """m=audio ports in the messages SIPp *received* (what the PBX offered or answered)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return set()
    ports: set[int] = set()
    for chunk in text.split("message received")[1:]:
        body = chunk.split("message sent", 1)[0]
        ports.update(int(p) for p in _PORT_RE.findall(body))
    return ports


def measure(
    target: str,
    pids: list[int],
    calls: int,
    ports: list[int],
    gen: socket.socket,
    secs: float,
) -> MediaStep:
    """Run the generator against `ports`; CPU is the sum over the relay processes `pids`."""
    targets = [("127.0.0.1", p) for p in ports]
    cpu0 = sum(cpu_seconds(pid) for pid in pids)
    t0 = time.monotonic()
    p0 = time.perf_counter()
    result = rtpgen.run(gen, targets, secs)
    wall = time.monotonic() - t0
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
    cpu_pct = 100 * cpu / wall
    packets = len(ports) * wall / rtpgen.PTIME_S  # relayed packets: one per leg per 20 ms
    return MediaStep(
        target=target,
        calls=calls,
        seconds=secs,
        legs_found=len(ports),
        loss_pct=result.loss_pct,
        lost=result.lost,
        sent=result.sent,
        ipdv_p50_ms=result.ipdv_p50_ms,
        ipdv_p99_ms=result.ipdv_p99_ms,
        ipdv_max_ms=result.ipdv_max_ms,
        transit_p99_ms=result.transit_p99_ms,
        cpu_pct=round(cpu_pct, 1),
        cpu_per_call_pct=round(cpu_pct / calls, 4),
        us_per_packet=round(1e6 * cpu / packets, 2) if pids else 0.0,
        rss_per_call_kb=0.0,
        gen_late_max_ms=result.sender_late_max_ms,
        loadavg=" ".join(Path("/proc/loadavg").read_text().split()[:3]),
        window=(round(p0, 3), round(time.perf_counter(), 3)),
    )


def _media_config(trunk_port: int) -> dict[str, Any]:
    return {
        "extensions": [{"number": EXT, "name": "Bench UAS", "password": EXT_PASSWORD}],
        "trunks": [
            {
                "name": "provider",
                "host": "127.0.0.1",
                "port": trunk_port,
                "transport": "udp",
                "username": "bench",
                "password": "pw",
                "register": False,
                "trusted": False,
            }
        ],
        "numbers": [{"number": DID, "trunk": "provider"}],
        "flows": [
            {
                "name": "Bench media",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID]},
                        "next": {"next": "ring"},
                    },
                    "ring": {"type": "call_sip", "params": {"extension": EXT}},
                },
            }
        ],
    }


@dataclass
class Shard:
    """One flowpbx process with its own SIPp provider and UAS (and its own RTP ports)."""

    server: BenchServer
    trunk_port: int
    uas_port: int


def _start_sipp(
    shard: Shard, wd: Path, calls: int, gen_port: int, secs: float
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    setup_s = calls / SETUP_RATE
    hold_ms = int((setup_s + SETUP_WAIT_S + secs + 10) * 1000)
    timeout_s = int(setup_s + SETUP_WAIT_S + secs + 90)
    uas = sipp(
        SIPP_DIR / "media_uas.xml",
        wd / "uas",
        shard.uas_port,
        extra=[
            "-s",
            EXT,
            "-m",
            str(calls),
            "-key",
            "gen_port",
            str(gen_port),
            "-trace_msg",
            "-message_file",
            str(wd / "uas" / "msg.log"),
        ],
        timeout_s=timeout_s,
    )
    time.sleep(0.5)
    provider = sipp(
        SIPP_DIR / "media_provider.xml",
        wd / "provider",
        shard.trunk_port,
        remote=shard.server.sip,
        extra=[
            "-s",
            DID,
            "-r",
            str(SETUP_RATE),
            "-m",
            str(calls),
            "-l",  # SIPp's default cap is 3 x rate x scenario length: all calls at once
            str(calls),
            "-key",
            "gen_port",
            str(gen_port),
            "-set",
            "hold_ms",
            str(hold_ms),
            "-trace_msg",
            "-message_file",
            str(wd / "provider" / "msg.log"),
        ],
        timeout_s=timeout_s,
    )
    return uas, provider


def run_flowpbx(
    calls_list: list[int], secs: float, workdir: Path, profile: bool = False, processes: int = 1
) -> list[MediaStep]:
    """`processes` > 1: that many flowpbx processes, each with its own RTP port range and its
    own SIPp pair taking an equal share of the calls — the media side of SPEC §9's several
    processes on one machine (signalling split by the load generator, as a dispatcher in
    front would split it by Call-ID; media goes to each process's own ports either way)."""
    shards: list[Shard] = []
    span = 10_000 // processes
    target = "flowpbx" if processes == 1 else f"flowpbx x{processes}"
    steps: list[MediaStep] = []
    try:
        for i in range(processes):
            trunk_port, uas_port = free_udp_port(), free_udp_port()
            low = 10_000 + i * span
            server = BenchServer(
                workdir / ("pbx" if processes == 1 else f"pbx{i}"),
                rtp_ports=f"{low}-{low + span - 1}",
            )
            server.config = _media_config(trunk_port)
            server.start()
            shards.append(Shard(server, trunk_port, uas_port))
            register(server, uas_port, workdir / f"reg{i}")
        pids = [shard.server.pid for shard in shards]
        for calls in calls_list:
            gen = rtpgen.open_socket()
            gen_port = gen.getsockname()[1]
            wd = workdir / f"flowpbx-{calls}"
            time.sleep(1)
            rss0 = sum(rss_kb(pid) for pid in pids)
            share = [
                calls // processes + (1 if i < calls % processes else 0) for i in range(processes)
            ]
            sipps = [
                _start_sipp(shard, wd / f"p{i}" if processes > 1 else wd, n, gen_port, secs)
                for i, (shard, n) in enumerate(zip(shards, share, strict=True))
            ]
            logs = [
                (wd / f"p{i}" if processes > 1 else wd) / side / "msg.log"
                for i in range(processes)
                for side in ("provider", "uas")
            ]
            setup_s = calls / SETUP_RATE
            # Wait until every leg is known (all logs), or until no new leg appeared for
            # 8 s once the set-up time is over; the hold time covers the longest wait.
            t0 = time.monotonic()
            ports: set[int] = set()
            last_growth = t0
            while time.monotonic() - t0 < setup_s + SETUP_WAIT_S:
                found: set[int] = set().union(*(received_ports(log) for log in logs))
                if len(found) > len(ports):
                    ports, last_growth = found, time.monotonic()
                if len(ports) >= 2 * calls:
                    break
                if time.monotonic() - t0 > setup_s and time.monotonic() - last_growth > 8:
                    break
                time.sleep(0.5)
            setup_took = time.monotonic() - t0
            time.sleep(1)
            ports |= set().union(*(received_ports(log) for log in logs))
            spies = []
            if profile:  # py-spy on flowpbx during the measurement (perturbs the figures)
                for i, pid in enumerate(pids):
                    spies.append(
                        subprocess.Popen(
                            [
                                "py-spy",
                                "record",
                                "-p",
                                str(pid),
                                "-d",
                                str(int(secs)),
                                "-r",
                                "250",
                                "-f",
                                "raw",
                                "-o",
                                str(workdir / f"profile-flowpbx-{calls}-{i}.txt"),
                                "--nonblocking",
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env={
                                **os.environ,
                                "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                            },
                        )
                    )
            step = measure(target, pids, calls, sorted(ports), gen, secs)
            for spy in spies:
                spy.wait(timeout=60)
            step.rss_per_call_kb = round((sum(rss_kb(pid) for pid in pids) - rss0) / calls, 1)
            step.setup_s = round(setup_took, 1)
            steps.append(step)
            print_table([step])
            for _, provider in sipps:
                provider.wait(timeout=setup_s + SETUP_WAIT_S + secs + 120)
            time.sleep(1)
            for uas, _ in sipps:
                stop_process(uas)
            gen.close()
    finally:
        for shard in shards:
            shard.server.stop()
    return steps


def run_rtpengine(calls_list: list[int], secs: float, workdir: Path) -> list[MediaStep]:
    ng_port = free_udp_port()
    proc = spawn(
        [
            "rtpengine",
            "--config-file=none",
            "--table=-1",
            "--interface=127.0.0.1",
            f"--listen-ng=127.0.0.1:{ng_port}",
            "--port-min=40000",
            "--port-max=49999",
            "--foreground",
            "--log-stderr",
            "--log-level=4",
        ],
        workdir / "rtpengine.log",
    )
    ng = NgClient(("127.0.0.1", ng_port))
    steps: list[MediaStep] = []
    try:
        for _ in range(50):
            try:
                ng.call({"command": "ping"})
                break
            except (TimeoutError, OSError, RuntimeError):
                time.sleep(0.2)
        for calls in calls_list:
            gen = rtpgen.open_socket()
            gen_port = gen.getsockname()[1]
            time.sleep(1)
            rss0 = rss_kb(proc.pid)
            ports: list[int] = []
            ids: list[tuple[str, str]] = []
            for _ in range(calls):
                cid, ftag, ttag = secrets.token_hex(8), secrets.token_hex(4), secrets.token_hex(4)
                offer = ng.call(
                    {"command": "offer", "call-id": cid, "from-tag": ftag}
                    | {"sdp": gen_sdp(gen_port, "a")}
                )
                answer = ng.call(
                    {"command": "answer", "call-id": cid, "from-tag": ftag, "to-tag": ttag}
                    | {"sdp": gen_sdp(gen_port, "b")}
                )
                for reply in (offer, answer):
                    m = _PORT_RE.search(reply["sdp"].decode())
                    assert m is not None
                    ports.append(int(m.group(1)))
                ids.append((cid, ftag))
            step = measure("rtpengine", [proc.pid], calls, ports, gen, secs)
            step.rss_per_call_kb = round((rss_kb(proc.pid) - rss0) / calls, 1)
            steps.append(step)
            print_table([step])
            for cid, ftag in ids:
                ng.call({"command": "delete", "call-id": cid, "from-tag": ftag})
            gen.close()
    finally:
        stop_process(proc)
    return steps


def run_direct(calls_list: list[int], secs: float) -> list[MediaStep]:
    steps: list[MediaStep] = []
    for calls in calls_list:
        gen = rtpgen.open_socket()
        port = gen.getsockname()[1]
        step = measure("direct", [], calls, [port] * (2 * calls), gen, secs)
        steps.append(step)
        print_table([step])
        gen.close()
    return steps


def print_table(steps: list[MediaStep]) -> None:
    print(
        "| target | calls | legs | loss % | IPDV p50/p99/max ms | transit p99 ms | "
        "CPU % core | % core/call | µs/packet | RSS KB/call | gen late max ms | load |"
    )
    print("|" + "---|" * 12)
    for s in steps:
        print(
            f"| {s.target} | {s.calls} | {s.legs_found} | {s.loss_pct} | "
            f"{s.ipdv_p50_ms}/{s.ipdv_p99_ms}/{s.ipdv_max_ms} | {s.transit_p99_ms} | "
            f"{s.cpu_pct} | {s.cpu_per_call_pct} | {s.us_per_packet} | {s.rss_per_call_kb} | "
            f"{s.gen_late_max_ms} | {s.loadavg} |"
        )
    print(flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--calls", default="100,250,500,750")
    ap.add_argument("--seconds", type=float, default=20.0, help="measurement per step")
    ap.add_argument("--quick", action="store_true", help="8 s steps")
    ap.add_argument("--targets", default="direct,rtpengine,flowpbx,flowpbx-multi")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--profile", action="store_true", help="py-spy flowpbx while measuring")
    ap.add_argument(
        "--processes",
        type=int,
        default=2,
        help="flowpbx processes for the 'flowpbx-multi' target (SPEC §9 on one machine)",
    )
    args = ap.parse_args()
    secs = 8.0 if args.quick else args.seconds
    calls_list = [int(c) for c in args.calls.split(",")]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="flowpbx-media-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# media benchmark — {machine()}\n# workdir {workdir}\n# {' '.join(sys.argv)}\n")
    steps: list[MediaStep] = []
    for target in args.targets.split(","):
        if target == "direct":
            steps += run_direct(calls_list, secs)
        elif target == "rtpengine":
            steps += run_rtpengine(calls_list, secs, workdir)
        elif target == "flowpbx":
            steps += run_flowpbx(calls_list, secs, workdir, args.profile)
        elif target == "flowpbx-multi":
            steps += run_flowpbx(
                calls_list, secs, workdir / "multi", args.profile, processes=args.processes
            )
        else:
            raise SystemExit(f"unknown target {target}")
    print_table(steps)
    results = BENCH_DIR / "results"
    results.mkdir(exist_ok=True)
    path = results / f"media-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    path.write_text(
        json.dumps(
            {
                "machine": machine(),
                "argv": sys.argv,
                "bench_env": {k: v for k, v in os.environ.items() if k.startswith("FLOWPBX_BENCH")},
                "steps": [asdict(s) for s in steps],
            },
            indent=1,
        )
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
