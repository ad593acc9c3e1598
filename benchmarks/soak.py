"""Soak: SIPp at a steady call rate through flowpbx for minutes or hours (issues 10, 26).

    .venv/bin/python benchmarks/soak.py                      # 10 minutes at 3 calls/s
    .venv/bin/python benchmarks/soak.py --minutes 2 --rate 2 # a short try
    .venv/bin/python benchmarks/soak.py --mix call_sip,transfer,spy --rate 5 --spy-rate 1

``--mix`` (comma-separated; each mix's provider calls at ``--rate``, on its own trunk):

- ``queue`` (default): the provider (SIPp, benchmarks/sipp/soak_provider.xml) calls a DID
  whose flow is ``numbers -> menu (1 s prompt) -> key 1 -> queue (members 200-215,
  fewest_calls) -> hangup``; it presses 1 with SIP INFO after 1.5 s and hangs up after up
  to 4 s in the queue or talking to the member who answered. The members are extensions
  registered by SIPp, all with their Contact at one SIPp UAS (benchmarks/sipp/cps_uas.xml)
  that answers every call it is offered and answers the BYE.
- ``call_sip``: 16 DIDs, each a flow ``numbers -> call_sip`` to its own extension (400-415,
  registered at the same answering UAS); the provider (soak_provider_talk.xml) calls the
  DIDs in turn and hangs up after 7 s.
- ``transfer``: 8 DIDs, each ``call_sip`` to an extension (430-437) registered at a SIPp UAS
  (soak_agent_transfer.xml) that answers, presses ``*2 450 #`` by SIP INFO, talks 1.3 s
  to 450 (registered at the answering UAS) and hangs up: flowpbx connects the provider
  with 450 (attended transfer), and the provider hangs up 7 s after its call was answered.
- ``spy``: supervisor 490 (SIPp, digest auth, soak_supervisor.xml) dials ``4#400``,
  ``5#401`` and ``6#402`` (``--spy-rate`` calls/s in all), switches mode twice with keys
  and hangs up after 3 s; it needs calls to spy on, so it brings the ``call_sip`` mix and
  starts after the warm-up. A 480 (the extension was between calls) and flowpbx's BYE
  (the spied call ended first) end a spy call cleanly; call history tells them apart.

Figures: calls attempted / succeeded / failed on every SIPp; call history outcomes (and
``*2`` transfer results); RSS (and where it is: main malloc heap, other threads' malloc
arenas, other anonymous memory, file-backed; /proc smaps), open descriptors
and asyncio tasks of flowpbx before the load (after a 20 s warm-up at the same rate),
every 30 s during it, and ``--idle`` seconds after it ended (SIP transactions expired),
each sample with the machine's load (1-minute load average, idle and steal % of the CPUs,
flowpbx's own CPU): the machine may be shared. Samples are appended to
benchmarks/results/soak-progress-MIX.jsonl as they come. The run passes with 0 failed
calls on every side and no growth of descriptors.

The live tables of /metrics (``flowpbx_mem_*``: transactions, dialogs, calls, tasks, bounded
caches; pbx/live_tables.py) are read with an admin token before the load, at its start and
after it. ``--tracemalloc SECONDS`` runs flowpbx with ``FLOWPBX_TRACEMALLOC_DUMP`` (a heap
snapshot every SECONDS, ``--frames`` deep, after a full collection) and prints the top-10
growth by allocation site between the first snapshot of the load and the last one before
the server is stopped (after the calls and their SIP transactions ended), the object types
that grew most, and at every snapshot the traced heap, tracemalloc's own tables and the
RSS. tracemalloc slows the server and its tables and snapshots take memory of their own:
its figures find causes, the RSS figures of record come from runs without it.

Prints JSON (the figures for benchmarks/RESULTS.md), also written to benchmarks/results/;
the server's log and SIPp's error logs are kept beside the heap snapshots ("logs").
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    BENCH_DIR,
    ROOT,
    SIPP_DIR,
    BenchServer,
    cpu_seconds,
    machine,
    rss_kb,
    sipp_stats,
    stop_process,
)

sys.path.insert(0, str(ROOT))
from cps import REGISTER_XML, sipp
from tests.audio_analysis import make_tone_wav
from tests.netutil import free_udp_port

DID = "+37167000951"
MEMBERS = [str(n) for n in range(200, 216)]  # 16 agents, all answering at one SIPp UAS
AGENTS = [str(n) for n in range(400, 416)]  # call_sip mix (and spied on by the spy mix)
TRANSFERERS = [str(n) for n in range(430, 438)]  # transfer mix: each transfers to 450
TRANSFER_TARGET = "450"
SUPERVISOR = "490"
TALK_XML = BENCH_DIR / "sipp" / "soak_provider_talk.xml"
SUPERVISOR_XML = BENCH_DIR / "sipp" / "soak_supervisor.xml"


def password(ext: str) -> str:
    return f"soak-{ext}-password"


@dataclass
class Mix:
    """One kind of call in the soak: what flowpbx is configured with, which extensions
    register at which SIPp UAS (by name), and the SIPp instances that make the calls."""

    extensions: list[dict[str, Any]] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)
    registrations: list[tuple[str, str]] = field(default_factory=list)  # (extension, UAS)
    uas: dict[str, tuple[Path, list[str]]] = field(default_factory=dict)  # name: scenario, args
    # name: scenario, args, calls per second, starts after the warm-up
    loads: dict[str, tuple[Path, list[str], float, bool]] = field(default_factory=dict)
    by_extension: bool = False  # the loads call as an extension (digest auth), not a trunk


def _ext(number: str, **flags: Any) -> dict[str, Any]:
    return {"number": number, "name": f"Soak {number}", "password": password(number), **flags}


def _to_extension(name: str, did: str, ext: str) -> dict[str, Any]:
    """A flow: the DID -> call_sip to the extension."""
    return {
        "name": name,
        "entry": "start",
        "nodes": {
            "start": {"type": "numbers", "params": {"numbers": [did]}, "next": {"next": "ext"}},
            "ext": {"type": "call_sip", "params": {"extension": ext}},
        },
    }


def _inf(path: Path, lines: list[str]) -> list[str]:
    """A SIPp injection file read in order (field0;field1;...), as SIPp arguments."""
    path.write_text("SEQUENTIAL\n" + "".join(line + ";\n" for line in lines))
    return ["-inf", str(path)]


def queue_mix(rate: float, work: Path) -> Mix:
    """numbers -> menu -> key 1 -> queue of 16 members (the soak of issue 10)."""
    flow = {
        "name": "Soak line",
        "entry": "start",
        "nodes": {
            "start": {
                "type": "numbers",
                "params": {"numbers": [DID]},
                "next": {"next": "menu"},
            },
            "menu": {
                "type": "menu",
                "params": {"prompt": "menu-prompt", "timeout_s": 5, "retries": 1},
                "next": {"1": "queue", "timeout": "bye", "invalid": "bye"},
            },
            "queue": {
                "type": "queue",
                "params": {
                    "name": "soak",
                    "members": [{"extension": ext} for ext in MEMBERS],
                    "strategy": "fewest_calls",
                    "max_wait_s": 20,
                },
                "next": {"timeout": "bye"},
            },
            "bye": {"type": "hangup", "params": {}},
        },
    }
    return Mix(
        extensions=[_ext(ext) for ext in MEMBERS],
        numbers=[DID],
        flows=[flow],
        registrations=[(ext, "answer") for ext in MEMBERS],
        loads={"queue": (BENCH_DIR / "sipp" / "soak_provider.xml", ["-s", DID], rate, False)},
    )


def call_sip_mix(rate: float, work: Path) -> Mix:
    """16 DIDs, each a flow `call_sip` to its extension (400-415), registered at the
    answering UAS; the provider calls the DIDs in turn and talks 7 s."""
    dids = [f"+3716700097{i:02d}" for i in range(len(AGENTS))]
    return Mix(
        extensions=[_ext(ext) for ext in AGENTS],
        numbers=dids,
        flows=[_to_extension(f"Soak agent {e}", d, e) for d, e in zip(dids, AGENTS, strict=True)],
        registrations=[(ext, "answer") for ext in AGENTS],
        loads={"call_sip": (TALK_XML, _inf(work / "call_sip.csv", dids), rate, False)},
    )


def transfer_mix(rate: float, work: Path) -> Mix:
    """8 DIDs, each `call_sip` to an extension (430-437) registered at a SIPp UAS that
    answers, presses *2 450 # (SIP INFO) and hangs up once 450 (the answering UAS) has
    answered: the provider's call ends talking to 450."""
    dids = [f"+3716700098{i:02d}" for i in range(len(TRANSFERERS))]
    keys = [a for i, digit in enumerate(TRANSFER_TARGET, 1) for a in ("-key", f"target{i}", digit)]
    flows = [
        _to_extension(f"Soak transferer {e}", d, e) for d, e in zip(dids, TRANSFERERS, strict=True)
    ]
    return Mix(
        extensions=[_ext(ext) for ext in [*TRANSFERERS, TRANSFER_TARGET]],
        numbers=dids,
        flows=flows,
        registrations=[(ext, "transferer") for ext in TRANSFERERS] + [(TRANSFER_TARGET, "answer")],
        uas={"transferer": (BENCH_DIR / "sipp" / "soak_agent_transfer.xml", keys)},
        loads={"transfer": (TALK_XML, _inf(work / "transfer.csv", dids), rate, False)},
    )


def spy_mix(rate: float, work: Path) -> Mix:
    """Supervisor 490 dials 4#400, 5#401 and 6#402 (extensions of the call_sip mix, each in
    some 4 calls at once at 10 calls/s), switches mode twice with keys (SIP INFO) and hangs
    up after 3 s; `rate` spy calls per second in all. One SIPp per code: SIPp computes the
    digest over one fixed `-auth_uri`, which must be the Request-URI."""
    loads = {}
    for code, ext, keys in (("4", "400", "5;6"), ("5", "401", "6;4"), ("6", "402", "4;5")):
        user = f"{code}%23{ext}"
        extra = [
            *("-au", SUPERVISOR, "-ap", password(SUPERVISOR), "-key", "caller", SUPERVISOR),
            *("-auth_uri", f"{user}@{{pbx}}"),
            *_inf(work / f"spy{code}.csv", [f"{user};{keys}"]),
        ]
        loads[f"spy{code}"] = (SUPERVISOR_XML, extra, rate / 3, True)
    return Mix(
        extensions=[_ext(SUPERVISOR, supervisor=True)],
        registrations=[(SUPERVISOR, "answer")],
        by_extension=True,
        loads=loads,
    )


MIXES = {"queue": queue_mix, "call_sip": call_sip_mix, "transfer": transfer_mix, "spy": spy_mix}


def config(trunk_ports: dict[str, int], mixes: dict[str, Mix]) -> dict[str, Any]:
    """One trunk per calling SIPp (flowpbx knows a trunk by its address and port)."""
    trunks = [
        {
            "name": f"provider-{name}",
            "host": "127.0.0.1",
            "port": port,
            "transport": "udp",
            "register": False,
        }
        for name, port in trunk_ports.items()
    ]
    numbers = [
        {"number": number, "trunk": f"provider-{name}"}
        for name, mix in mixes.items()
        for number in mix.numbers
    ]
    return {
        "extensions": [e for mix in mixes.values() for e in mix.extensions],
        "trunks": trunks,
        "numbers": numbers,
        "audio": [{"name": "menu-prompt", "file": "menu.wav"}],
        "flows": [f for mix in mixes.values() for f in mix.flows],
    }


def register(server: BenchServer, ext: str, uas_port: int, workdir: Path) -> None:
    """Register ``ext`` with its Contact at the UAS's port (SIPp, one REGISTER)."""
    proc = sipp(
        REGISTER_XML,
        workdir / f"register-{ext}",
        uas_port,
        remote=server.sip,
        extra=["-s", ext, "-au", ext, "-ap", password(ext), "-key", "expires", "3600", "-m", "1"],
        timeout_s=20,
    )
    if proc.wait(timeout=30) != 0:
        raise SystemExit(f"REGISTER of {ext} failed; see {workdir / f'register-{ext}'}")


def outcomes(db: Path) -> dict[str, int]:
    """Call history rows by outcome, and how many a member answered."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT outcome, answered_by IS NOT NULL, count(*) FROM call_history GROUP BY 1, 2"
        ).fetchall()
    out: dict[str, int] = {}
    for outcome, answered, n in rows:
        out[outcome] = out.get(outcome, 0) + n
        if answered:
            out["answered_by_member"] = out.get("answered_by_member", 0) + n
        transfers = conn.execute(
            "SELECT trace FROM call_history WHERE trace LIKE '%\"transfer\"%'"
        ).fetchall()
    for (trace,) in transfers:
        for event in json.loads(trace):
            if event.get("type") == "transfer":
                key = f"transfer_{event.get('facts', {}).get('result')}"
                out[key] = out.get(key, 0) + 1
    return out


class Load:
    """The machine's load beside each sample (the machine is shared): 1-minute load average,
    and over the interval since the previous sample the share of CPU time that was idle and
    stolen by the hypervisor (/proc/stat), and flowpbx's own CPU (% of one core)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._cpu = self._stat()
        self._own = cpu_seconds(pid)
        self._t = time.monotonic()

    @staticmethod
    def _stat() -> list[int]:
        with open("/proc/stat") as f:
            return [int(v) for v in f.readline().split()[1:]]

    def sample(self) -> dict[str, float]:
        cpu, own, t = self._stat(), cpu_seconds(self.pid), time.monotonic()
        d = [a - b for a, b in zip(cpu, self._cpu, strict=False)]
        total = sum(d[:8]) or 1  # user nice system idle iowait irq softirq steal
        out = {
            "load1": float(Path("/proc/loadavg").read_text().split()[0]),
            "idle_pct": round(100 * (d[3] + d[4]) / total, 1),
            "steal_pct": round(100 * d[7] / total, 1) if len(d) > 7 else 0.0,
            "flowpbx_cpu_pct": round(100 * (own - self._own) / max(t - self._t, 1e-6), 1),
        }
        self._cpu, self._own, self._t = cpu, own, t
        return out


_ARENA = 64 << 20  # glibc: a thread's malloc arena is a heap aligned at 64 MiB


def rss_split(pid: int) -> dict[str, int]:
    """Where the RSS is, KiB: file-backed (libraries), the main malloc heap (`[heap]`),
    the malloc arenas of other threads (SQLite's connection threads, executors), and other
    anonymous memory (Python's object arenas, large blocks, stacks) — from /proc smaps."""
    out = {
        "rss_file_kib": 0,
        "rss_heap_kib": 0,
        "rss_thread_arenas_kib": 0,
        "rss_other_anon_kib": 0,
    }
    kind = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        first = line.split(" ", 1)[0]
        if "-" in first and not first.endswith(":"):
            parts = line.split()
            name = parts[5] if len(parts) > 5 else ""
            start = int(first.split("-")[0], 16)
            if name == "[heap]":
                kind = "rss_heap_kib"
            elif name.startswith("/"):
                kind = "rss_file_kib"
            elif name == "":
                kind = "rss_thread_arenas_kib" if start % _ARENA == 0 else "rss_other_anon_kib"
            else:
                kind = ""  # [stack], [vdso], ...
        elif first == "Rss:" and kind:
            out[kind] += int(line.split()[1])
    return out


def rate_args(rate: float) -> list[str]:
    """SIPp's call rate: whole calls per second, or one call every 1/rate seconds."""
    if rate >= 1 and rate == int(rate):
        return ["-r", str(int(rate))]
    return ["-r", "1", "-rp", str(round(1000 / rate))]


def fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def admin_token(server: BenchServer) -> str:
    """An admin's API token (user created with the command line), for /metrics."""
    password = "soak-admin-pw"
    server.cli("user", "create", "soak-admin", "--password", password, "--role", "admin")
    request = urllib.request.Request(
        server.http + "/api/v1/auth/login",
        data=json.dumps({"username": "soak-admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return str(json.loads(r.read())["token"])


def metrics(server: BenchServer, token: str = "") -> dict[str, float]:
    """Numeric lines of /metrics (Prometheus text)."""
    out: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        request = urllib.request.Request(server.http + "/metrics", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#"):
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def tables(live: dict[str, float]) -> dict[str, float]:
    """The process figures and live-table sizes of /metrics (pbx/memory.py)."""
    keep = ("flowpbx_mem_", "flowpbx_process_", "flowpbx_asyncio_")
    return {k.removeprefix("flowpbx_"): v for k, v in live.items() if k.startswith(keep)}


def heap_growth(dump_dir: Path, since: float, until: float, top: int = 10) -> dict[str, Any]:
    """Top growth by allocation site between the first snapshot written after ``since`` and
    the last one written before ``until`` (file times), and the object types that grew."""
    import tracemalloc

    snaps = sorted(dump_dir.glob("snapshot-*.pickle"))
    first = next((p for p in snaps if p.stat().st_mtime >= since), None)
    last = next((p for p in reversed(snaps) if p.stat().st_mtime <= until), None)
    if first is None or last is None or first == last:
        return {"error": f"no two snapshots in the window ({len(snaps)} written)"}
    old = tracemalloc.Snapshot.load(str(first))
    new = tracemalloc.Snapshot.load(str(last))
    frames = max(len(t.traceback) for t in new.traces) if new.traces else 1
    sites = []
    for stat in new.compare_to(old, "traceback" if frames > 1 else "lineno")[:top]:
        where = [f"{f.filename.split('site-packages/')[-1].split('/src/')[-1]}:{f.lineno}"
                 for f in stat.traceback]  # fmt: skip
        sites.append({"size_diff_kib": round(stat.size_diff / 1024, 1),
                      "count_diff": stat.count_diff, "where": where})  # fmt: skip

    def objects(path: Path) -> dict[str, Any]:
        name = path.name.replace("snapshot-", "objects-").replace(".pickle", ".json")
        data: dict[str, Any] = json.loads((dump_dir / name).read_text())
        return data

    o_old, o_new = objects(first), objects(last)
    # every snapshot: Python heap traced, tracemalloc's own tables, and the RSS then (MiB)
    series = []
    for path in sorted(dump_dir.glob("objects-*.json")):
        o = json.loads(path.read_text())
        series.append({
            "at": datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
            .strftime("%H:%M:%S"),
            "traced_mib": round(o["traced_bytes"] / 2**20, 1),
            "tracemalloc_mib": round(o.get("tracemalloc_bytes", 0) / 2**20, 1),
            "rss_mib": round(o.get("process_resident_memory_bytes", 0) / 2**20, 1),
            "gc_objects_top200_types": sum(o["objects"].values()),
        })  # fmt: skip
    grew = {
        t: n - o_old["objects"].get(t, 0)
        for t, n in o_new["objects"].items()
        if n - o_old["objects"].get(t, 0) > 0
    }
    return {
        "directory": str(dump_dir),
        "from": first.name,
        "to": last.name,
        "seconds_apart": round(last.stat().st_mtime - first.stat().st_mtime),
        "traced_kib": [round(o_old["traced_bytes"] / 1024), round(o_new["traced_bytes"] / 1024)],
        "series": series,
        "top_sites": sites,
        "object_types_grown": dict(sorted(grew.items(), key=lambda kv: -kv[1])[:15]),
        "cyclic_garbage_last": dict(list(o_new.get("garbage", {}).items())[:15]),
        "garbage_cycles_last": o_new.get("garbage_cycles", {}),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=3.0, help="new calls per second, per mix")
    ap.add_argument("--spy-rate", type=float, default=1.0, help="spy calls per second")
    ap.add_argument("--tracemalloc", type=float, default=0.0, metavar="SECONDS",
                    help="heap snapshots every SECONDS inside flowpbx (diagnostics)")  # fmt: skip
    ap.add_argument("--frames", type=int, default=1, help="stack depth traced with --tracemalloc")
    ap.add_argument("--idle", type=float, default=40.0, help="seconds waited after the load")
    ap.add_argument(
        "--mix", default="queue", help=f"comma-separated, of {', '.join(MIXES)} (spy adds call_sip)"
    )
    args = ap.parse_args()
    names = [m.strip() for m in args.mix.split(",") if m.strip()]
    if unknown := [m for m in names if m not in MIXES]:
        ap.error(f"--mix: unknown {', '.join(unknown)} (known: {', '.join(MIXES)})")
    if "spy" in names and "call_sip" not in names:
        names.insert(names.index("spy"), "call_sip")  # spied calls: the call_sip mix's
    label = "-".join(names)
    seconds = int(args.minutes * 60)
    warmup_s = 20
    sipp_timeout = seconds + warmup_s + 120

    with tempfile.TemporaryDirectory(prefix="flowpbx-soak-") as tmp:
        work = Path(tmp)
        mixes = {
            name: MIXES[name](args.spy_rate if name == "spy" else args.rate, work) for name in names
        }
        loads = {k: v for mix in mixes.values() for k, v in mix.loads.items()}
        uas_specs: dict[str, tuple[Path, list[str]]] = {"answer": (SIPP_DIR / "cps_uas.xml", [])}
        for mix in mixes.values():
            uas_specs.update(mix.uas)
        load_ports = {name: free_udp_port() for name in loads}
        uas_ports = {name: free_udp_port() for name in uas_specs}
        trunk_ports = {
            name: port
            for mix in mixes.values()
            if not mix.by_extension
            for name in mix.loads
            for port in (load_ports[name],)
        }
        server = BenchServer(work, config(trunk_ports, mixes))
        # outside the run's temporary directory: kept for a closer look afterwards
        dump_dir = Path(tempfile.mkdtemp(prefix="flowpbx-soak-tracemalloc-"))
        if args.tracemalloc:
            spec = f"{dump_dir}:{args.tracemalloc:g}:{args.frames}"
            server.env["FLOWPBX_TRACEMALLOC_DUMP"] = spec
        make_tone_wav(server.config_file("menu.wav"), 600.0, 1.0)
        server.start()
        samples: list[dict[str, Any]] = []
        procs: dict[str, Any] = {}
        try:
            pid = server.pid
            token = admin_token(server)
            for mix in mixes.values():
                for ext, uas_name in mix.registrations:
                    register(server, ext, uas_ports[uas_name], work)
            for name, (scenario, extra) in uas_specs.items():
                procs[f"uas-{name}"] = sipp(
                    scenario,
                    work / f"uas-{name}",
                    uas_ports[name],
                    extra=["-s", "soak", *extra],
                    timeout_s=sipp_timeout,
                )
            time.sleep(0.5)
            tables_before = tables(metrics(server, token))

            control_ports = {name: free_udp_port() for name in loads}
            quit_sent: set[str] = set()

            def soft_quit(name: str) -> None:
                """SIPp's remote control `q`: no new calls, the calls in progress finish.
                A loaded machine makes SIPp fall behind its rate: the load ends on time,
                with fewer calls than rate x minutes (the figures say how many)."""
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.sendto(b"q", ("127.0.0.1", control_ports[name]))
                quit_sent.add(name)

            def start_load(name: str) -> None:
                scenario, extra, rate, late = loads[name]
                calls = int(rate * (seconds + (0 if late else warmup_s)))
                procs[name] = sipp(
                    scenario,
                    work / name,
                    load_ports[name],
                    remote=server.sip,
                    extra=[
                        *(a.replace("{pbx}", f"{server.sip[0]}:{server.sip[1]}") for a in extra),
                        *rate_args(rate),
                        *("-m", str(calls), "-cp", str(control_ports[name])),
                        # SIPp's default cap on simultaneous calls (3 x rate x the `-d`
                        # pause time) held it below its rate: a minute of calls instead
                        *("-l", str(max(100, int(rate * 60)))),
                    ],
                    timeout_s=sipp_timeout,
                )
                time.sleep(1.0)
                if procs[name].poll() is not None:  # e.g. its port was taken meanwhile
                    errors = (work / name / "errors.log").read_text(errors="replace")[-600:]
                    raise SystemExit(f"SIPp {name} did not start: {errors}")

            for name, (*_, late) in loads.items():
                if not late:
                    start_load(name)
            t0 = time.monotonic()
            time.sleep(warmup_s)
            for name, (*_, late) in loads.items():
                if late:  # spy calls need calls to spy on
                    start_load(name)
            base_fds = fds(pid)
            load = Load(pid)
            base: dict[str, Any] = {"t_s": 0, "rss_kib": rss_kb(pid), "fds": base_fds}
            base.update(rss_split(pid))
            samples.append(base)
            # samples as they come, so a run stopped early still leaves its curve
            progress = ROOT / "benchmarks" / "results" / f"soak-progress-{label}.jsonl"
            progress.parent.mkdir(exist_ok=True)
            progress.write_text(json.dumps(base) + "\n")
            load_start_wall = time.time()
            tables_start = tables(metrics(server, token))
            while any(procs[name].poll() is None for name in loads):
                time.sleep(1)
                t = time.monotonic() - t0 - warmup_s
                if t >= seconds:
                    for name in loads:
                        if name not in quit_sent and procs[name].poll() is None:
                            soft_quit(name)
                if t >= len(samples) * 30:
                    sample: dict[str, Any] = {
                        "t_s": round(t),
                        "rss_kib": rss_kb(pid),
                        "fds": fds(pid),
                    }
                    sample.update(rss_split(pid))
                    sample.update(load.sample())
                    sample["tasks"] = tables(metrics(server, token)).get("asyncio_tasks", -1)
                    samples.append(sample)
                    with progress.open("a") as f:
                        f.write(json.dumps(sample) + "\n")
            load_end = time.monotonic() - t0
            # SIPp exits 0 when every call it made succeeded (also after a soft quit)
            exit_codes = {name: procs[name].returncode for name in loads}
            time.sleep(args.idle)
            after_fds = fds(pid)
            after: dict[str, Any] = {
                "t_s": f"{args.idle:g} s after",
                "rss_kib": rss_kb(pid),
                "fds": after_fds,
            }
            after.update(rss_split(pid))
            after.update(load.sample())
            samples.append(after)
            live = metrics(server, token)
            stop_wall = time.time()
            for name in uas_specs:
                stop_process(procs[f"uas-{name}"])
            stats = {name: sipp_stats(work / name / "stat.csv") for name in procs}
            log = server.stderr_path.read_text(errors="replace")
            # kept with the heap snapshots: the server's log and SIPp's errors, for a look
            (dump_dir / "serve.stderr.log").write_text(log)
            for name in procs:
                errors = work / name / "errors.log"
                if errors.exists():
                    shutil.copy(errors, dump_dir / f"sipp-{name}-errors.log")
            history = outcomes(server.db_path)
            shutil.copy(server.db_path, dump_dir / "flowpbx.db")  # call history, for a look
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    stop_process(proc)
            server.stop()
        heap = heap_growth(dump_dir, load_start_wall, stop_wall) if args.tracemalloc else {}

    keep = ("SuccessfulCall", "FailedCall", "Retransmissions")
    figures = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "mix": label,
        "rate_per_s": args.rate,
        "spy_rate_per_s": args.spy_rate if "spy" in names else None,
        "load_seconds": round(load_end, 1),
        "soft_quit_sent_to": sorted(quit_sent),
        "sipp_exit_codes": exit_codes,
        "sipp": {name: {k: st.get(k) for k in keep} for name, st in stats.items()},
        "samples": samples,
        "metrics_after": {k: v for k, v in live.items() if "call" in k or "rtp" in k},
        "tables_before_load": tables_before,
        "tables_after_warmup": tables_start,
        "tables_after": tables(live),
        "tracemalloc": heap,
        "history_outcomes": history,
        "tracebacks_in_log": log.count("Traceback"),
        "logs": str(dump_dir),
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"soak-{label}-{stamp}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    failed = sum(st.get("FailedCall", 0) for st in stats.values())
    clean_exit = all(code == 0 for code in exit_codes.values())
    return 0 if failed == 0 and clean_exit and after_fds <= base_fds else 1


if __name__ == "__main__":
    raise SystemExit(main())
