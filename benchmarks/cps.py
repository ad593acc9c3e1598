"""Call setups per second: SIPp as the provider at stepped rates, flowpbx beside Sippy B2BUA.

Targets, each stepped through the same rates in one run:

* ``play``     flowpbx, flow ``numbers -> play (1 s) -> hangup``; the PBX hangs up.
* ``call_sip`` flowpbx, flow ``numbers -> call_sip 200``; extension 200 is a SIPp UAS that
  registered first (tests/sipp/register_auth.xml); the provider hangs up after 1 s.
* ``sippy``    Sippy B2BUA (b2bua_simple, signalling only) between the same SIPp provider
  and UAS scenarios.
* ``play_kamailio``  the play flow on ``--processes`` flowpbx processes (default 2) behind
  Kamailio's dispatcher (SPEC §9; benchmarks/kamailio/dispatcher.cfg): SIPp calls Kamailio,
  which hashes each Call-ID to one flowpbx and forwards statelessly (``--kamailio-tm``:
  t_relay), record-routing so the ACK and flowpbx's BYE pass through it. Every flowpbx has
  Kamailio's one listen address as its trunk, its own data dir and its own slice of RTP
  ports 10000-19999; all share one fresh PostgreSQL database (127.0.0.1:5432, created and
  dropped by the run; ``--db sqlite`` or no PostgreSQL: one SQLite per process). Not in
  the default targets.

Per step: calls attempted / succeeded / failed on the provider side and on the UAS side,
retransmissions, setup-time percentiles (INVITE -> 200, SIPp -trace_rtt), CPU of the
system under test (utime+stime from /proc over the step, % of one core) and its peak RSS;
for play_kamailio the CPU and RSS are summed over the flowpbx processes, with each
process's CPU and that of all Kamailio processes beside them.
The figure for a target is the highest rate with 0 failed calls on every side.

    .venv/bin/python benchmarks/cps.py                  # 60 s steps (the figure)
    .venv/bin/python benchmarks/cps.py --quick          # 10 s steps, for trying
    .venv/bin/python benchmarks/cps.py --rates 100,200 --targets play --profile 200
    .venv/bin/python benchmarks/cps.py --targets play_kamailio --rates 600,800 --processes 2

Sippy runs from its own venv (``--sippy /tmp/venv-sippy/bin/b2bua_simple``; create it with
``python3 -m venv /tmp/venv-sippy && /tmp/venv-sippy/bin/pip install sippy==2.5.0``).
Results: a table on stdout and JSON in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common import (
    BENCH_DIR,
    ROOT,
    SIPP_DIR,
    BenchServer,
    cpu_seconds,
    group_cpu_seconds,
    group_pids,
    machine,
    percentile,
    raise_priority,
    rss_kb,
    sipp_rtts,
    sipp_stats,
    spawn,
    stop_process,
)

sys.path.insert(0, str(ROOT))
from tests.audio_analysis import make_tone_wav
from tests.netutil import free_port_block, free_udp_port, wait_for_udp_sip

DID_PLAY = "+37167000901"
DID_BRIDGE = "+37167000902"
EXT = "200"
EXT_PASSWORD = "bench-200-pw"
REGISTER_XML = ROOT / "tests" / "sipp" / "register_auth.xml"
DEFAULT_SIPPY = "/tmp/venv-sippy/bin/b2bua_simple"


@dataclass
class Step:
    target: str
    rate: int
    duration_s: int
    attempted: int = 0
    ok: int = 0
    failed: int = 0
    retrans: int = 0
    uas_ok: int | None = None
    uas_failed: int | None = None
    uas_retrans: int | None = None
    setup_ms: dict[str, float] = field(default_factory=dict)
    cpu_pct: float = 0.0
    rss_mb: float = 0.0
    wall_s: float = 0.0
    # play_kamailio: CPU of each flowpbx process (cpu_pct is their sum) and of all of
    # Kamailio's processes together, % of one core.
    cpu_pct_each: list[float] | None = None
    dispatcher_cpu_pct: float | None = None

    @property
    def clean(self) -> bool:
        return (
            self.failed == 0
            and self.ok == self.attempted
            and not self.uas_failed
            and (self.uas_ok is None or self.uas_ok == self.attempted)
        )


def config(prompt: Path, trunk_port: int) -> dict[str, Any]:
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
        "numbers": [
            {"number": DID_PLAY, "trunk": "provider"},
            {"number": DID_BRIDGE, "trunk": "provider"},
        ],
        "audio": [{"name": "one-second", "file": str(prompt.name)}],
        "flows": [
            {
                "name": "Bench play",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID_PLAY]},
                        "next": {"next": "say"},
                    },
                    "say": {
                        "type": "play",
                        "params": {"audio": "one-second"},
                        "next": {"next": "bye"},
                    },
                    "bye": {"type": "hangup", "params": {}},
                },
            },
            {
                "name": "Bench bridge",
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID_BRIDGE]},
                        "next": {"next": "ring"},
                    },
                    "ring": {"type": "call_sip", "params": {"extension": EXT}},
                },
            },
        ],
    }


def sipp(
    scenario: Path,
    workdir: Path,
    port: int,
    *,
    remote: tuple[str, int] | None = None,
    extra: list[str] | None = None,
    timeout_s: int = 200,
) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        "sipp",
        "-sf",
        str(scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mi",
        "127.0.0.1",
        "-mp",
        str(free_port_block(4)),
        "-nostdin",
        "-timeout",
        f"{timeout_s}s",
        "-trace_err",
        "-error_file",
        str(workdir / "errors.log"),
        "-trace_stat",
        "-stf",
        str(workdir / "stat.csv"),
        "-fd",
        "1",
        "-max_socket",
        "60000",
        *(extra or []),
    ]
    if remote is not None:
        args.append(f"{remote[0]}:{remote[1]}")
    return spawn(args, workdir / "stdout.log", cwd=workdir)


@dataclass
class Target:
    name: str
    remote: tuple[str, int]
    service: str
    scenario: Path
    provider_port: int
    pid: int
    uas_port: int | None
    more_pids: tuple[int, ...] = ()  # further flowpbx processes (play_kamailio)
    dispatcher_pgid: int | None = None  # Kamailio's process group (play_kamailio)


def run_step(target: Target, rate: int, duration: int, workdir: Path, profile: bool) -> Step:
    step = Step(target=target.name, rate=rate, duration_s=duration, attempted=rate * duration)
    wd = workdir / f"{target.name}-{rate}"
    uas = None
    if target.uas_port is not None:
        uas = sipp(
            SIPP_DIR / "cps_uas.xml",
            wd / "uas",
            target.uas_port,
            extra=["-s", EXT, "-m", str(step.attempted)],
            timeout_s=duration + 60,
        )
        time.sleep(0.5)
    pids = [target.pid, *target.more_pids]
    cpu0 = [cpu_seconds(pid) for pid in pids]
    dcpu0 = group_cpu_seconds(target.dispatcher_pgid) if target.dispatcher_pgid else 0.0
    t0 = time.monotonic()
    provider = sipp(
        target.scenario,
        wd / "provider",
        target.provider_port,
        remote=target.remote,
        extra=[
            "-s",
            target.service,
            "-r",
            str(rate),
            "-rp",
            "1000",
            "-m",
            str(step.attempted),
            "-trace_rtt",
            "-rtt_freq",
            "1",
        ],
        timeout_s=duration + 60,
    )
    spy = None
    if profile:
        spy_out = workdir / f"profile-{target.name}-{rate}.txt"
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "-p",
                str(target.pid),
                "-d",
                str(duration),
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                str(spy_out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        )
    peak = 0
    while provider.poll() is None:
        peak = max(peak, sum(rss_kb(pid) for pid in pids))
        time.sleep(0.5)
    step.wall_s = round(time.monotonic() - t0, 1)
    each = [100 * (cpu_seconds(pid) - c0) / step.wall_s for pid, c0 in zip(pids, cpu0, strict=True)]
    step.cpu_pct = round(sum(each), 1)
    if target.more_pids:
        step.cpu_pct_each = [round(c, 1) for c in each]
    if target.dispatcher_pgid:
        dcpu = group_cpu_seconds(target.dispatcher_pgid) - dcpu0
        step.dispatcher_cpu_pct = round(100 * dcpu / step.wall_s, 1)
    step.rss_mb = round(peak / 1024, 1)
    if spy is not None:
        spy.wait(timeout=30)
    if uas is not None:
        deadline = time.monotonic() + 15
        while uas.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.2)  # let the last 1 s statistics dump land
        stop_process(uas)
        u = sipp_stats(wd / "uas" / "stat.csv")
        step.uas_ok, step.uas_failed = u.get("SuccessfulCall", 0), u.get("FailedCall", 0)
        step.uas_retrans = u.get("Retransmissions", 0)
    p = sipp_stats(wd / "provider" / "stat.csv")
    step.ok, step.failed = p.get("SuccessfulCall", 0), p.get("FailedCall", 0)
    step.retrans = p.get("Retransmissions", 0)
    rtts = sipp_rtts(wd / "provider")
    step.setup_ms = {f"p{q}": round(percentile(rtts, q), 1) for q in (50, 95, 99)} | {
        "max": round(max(rtts), 1) if rtts else float("nan")
    }
    return step


def register(server: BenchServer, uas_port: int, workdir: Path) -> None:
    proc = sipp(
        REGISTER_XML,
        workdir / "register",
        uas_port,
        remote=server.sip,
        extra=["-s", EXT, "-au", EXT, "-ap", EXT_PASSWORD, "-key", "expires", "7200", "-m", "1"],
        timeout_s=20,
    )
    if proc.wait(timeout=30) != 0:
        raise SystemExit(f"REGISTER of {EXT} failed; see {workdir / 'register'}")


def run_rates(
    target: Target,
    rates: list[int],
    duration: int,
    workdir: Path,
    args: argparse.Namespace,
    *,
    profile: bool = True,
) -> list[Step]:
    """One step per rate, printed as it ends; stops at the first unclean step unless
    --keep-going. `profile`: py-spy at the step whose rate --profile names."""
    steps: list[Step] = []
    for rate in rates:
        step = run_step(target, rate, duration, workdir, profile and args.profile == rate)
        steps.append(step)
        print_table([step])
        time.sleep(3)
        if not step.clean and not args.keep_going:
            break
    return steps


def print_table(steps: list[Step]) -> None:
    multi = any(s.dispatcher_cpu_pct is not None or s.cpu_pct_each for s in steps)
    head = (
        "| target | rate/s | calls | ok | failed | retrans | UAS ok/failed | "
        "setup p50/p95/p99/max ms | CPU % core | RSS MB |"
    )
    if multi:
        head += " CPU % per flowpbx | Kamailio CPU % |"
    print(head)
    print("|" + "---|" * (12 if multi else 10))
    for s in steps:
        uas = "-" if s.uas_ok is None else f"{s.uas_ok}/{s.uas_failed}"
        sm = s.setup_ms
        setup = f"{sm.get('p50')}/{sm.get('p95')}/{sm.get('p99')}/{sm.get('max')}"
        row = (
            f"| {s.target} | {s.rate} | {s.attempted} | {s.ok} | {s.failed} | {s.retrans} | "
            f"{uas} | {setup} | {s.cpu_pct} | {s.rss_mb} |"
        )
        if multi:
            each = "/".join(str(c) for c in s.cpu_pct_each) if s.cpu_pct_each else "-"
            disp = "-" if s.dispatcher_cpu_pct is None else s.dispatcher_cpu_pct
            row += f" {each} | {disp} |"
        print(row)
    print()
    for name in dict.fromkeys(s.target for s in steps):
        clean = [s.rate for s in steps if s.target == name and s.clean]
        print(f"{name}: highest clean rate {max(clean) if clean else 'none'}/s")


KAMAILIO_CFG = BENCH_DIR / "kamailio" / "dispatcher.cfg"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"


def _pg(statement: str, db: str = "postgres") -> Any:
    """Run one statement on the PostgreSQL server of SPEC §9 (127.0.0.1:5432, trust auth);
    returns the first column of its first row."""
    import asyncio

    import asyncpg

    async def go() -> Any:
        dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + db
        conn = await asyncio.wait_for(asyncpg.connect(dsn), timeout=3)
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()

    return asyncio.run(go())


def shared_database(mode: str) -> str | None:
    """A fresh PostgreSQL database for all flowpbx processes (its name), or None for SQLite.

    mode: "postgres" (fail if PostgreSQL is not there), "sqlite", or "auto" (PostgreSQL when
    it answers)."""
    if mode == "sqlite":
        return None
    name = f"flowpbx_bench_{os.getpid()}_{int(time.time())}"
    try:
        _pg(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        if mode == "postgres":
            raise SystemExit(f"PostgreSQL at 127.0.0.1:5432: {exc!r}") from exc
        print(f"# PostgreSQL unreachable ({exc!r}): one SQLite database per flowpbx process")
        return None
    return name


def rtp_ranges(n: int, lo: int = 10000, hi: int = 19999) -> list[str]:
    """Split lo-hi into n ranges of even length (one per flowpbx process)."""
    size = ((hi - lo + 1) // n) & ~1
    return [f"{lo + i * size}-{lo + (i + 1) * size - 1}" for i in range(n)]


def start_kamailio(
    workdir: Path, port: int, flowpbx: list[tuple[str, int]], children: int, stateful: bool
) -> subprocess.Popen[bytes]:
    """Kamailio from benchmarks/kamailio/dispatcher.cfg, listening (and sending) on *port*."""
    kdir = workdir / "kamailio"
    kdir.mkdir(parents=True, exist_ok=True)
    lst = kdir / "dispatcher.list"
    lst.write_text("".join(f"1 sip:{host}:{p} 0 0\n" for host, p in flowpbx))
    cfg = kdir / "kamailio.cfg"
    cfg.write_text(
        KAMAILIO_CFG.read_text()
        .replace("@LISTEN_PORT@", str(port))
        .replace("@LIST_FILE@", str(lst))
        .replace("@CHILDREN@", str(children))
    )
    args = ["kamailio", "-DD", "-E", "-f", str(cfg), "-P", str(kdir / "kamailio.pid")]
    args += ["-Y", str(kdir), "-m", "256", "-M", "16"]
    if stateful:
        args += ["-A", "WITH_TM"]
    proc = spawn(args, kdir / "kamailio.log", cwd=kdir)
    try:
        # An OPTIONS to Kamailio is dispatched to a flowpbx: an answer means the chain is up.
        wait_for_udp_sip("127.0.0.1", port, 15)
    except TimeoutError as e:
        stop_process(proc)
        raise SystemExit(f"Kamailio did not come up: {e}; see {kdir / 'kamailio.log'}") from e
    return proc


def run_play_kamailio(
    args: argparse.Namespace, rates: list[int], duration: int, workdir: Path
) -> tuple[list[Step], dict[str, Any]]:
    """N flowpbx processes (play flow) behind one Kamailio dispatcher; SIPp calls Kamailio."""
    name = "play_kamailio"
    n = args.processes
    kam_port = free_udp_port()
    db = shared_database(args.db)
    servers: list[BenchServer] = []
    kamailio: subprocess.Popen[bytes] | None = None
    steps: list[Step] = []
    gc: dict[str, Any] = {}
    try:
        for i, ports in enumerate(rtp_ranges(n)):
            server = BenchServer(workdir / f"pbx-{name}-{i}", rtp_ports=ports)
            if db is not None:
                server.env["FLOWPBX_DATABASE_URL"] = PG_URL.format(db=db)
            if db is None or i == 0:
                # The first process imports the configuration into the shared database
                # (with SQLite every process imports it into its own).
                prompt = server.config_file("one-second.wav")
                make_tone_wav(prompt, 440.0, 1.0)
                server.config = config(prompt, kam_port)
            else:
                # Audio files live in each process's data dir; the shared database names
                # them relative to it.
                shutil.copytree(servers[0].data_dir / "audio", server.data_dir / "audio")
            servers.append(server)
            server.start()
        print(
            f"# {n} flowpbx processes: pids {[s.pid for s in servers]}, database "
            f"{'PostgreSQL ' + db if db else 'SQLite per process'}"
        )
        kamailio = start_kamailio(
            workdir, kam_port, [s.sip for s in servers], args.kamailio_children, args.kamailio_tm
        )
        print(
            f"# Kamailio on 127.0.0.1:{kam_port}: {len(group_pids(kamailio.pid))} processes, "
            f"{args.kamailio_children} UDP workers, "
            f"{'t_relay (stateful)' if args.kamailio_tm else 'forward (stateless)'}"
        )
        target = Target(
            name=name,
            remote=("127.0.0.1", kam_port),
            service=DID_PLAY,
            scenario=SIPP_DIR / "cps_provider_play.xml",
            provider_port=free_udp_port(),
            pid=servers[0].pid,
            uas_port=None,
            more_pids=tuple(s.pid for s in servers[1:]),
            dispatcher_pgid=kamailio.pid,
        )
        steps += run_rates(target, rates, duration, workdir, args)
    finally:
        stop_process(kamailio)
        for server in servers:
            server.stop()
        if db is not None:
            with contextlib.suppress(Exception):
                rows = _pg("SELECT count(*) FROM call_history", db)
                print(f"# call_history rows in the shared database: {rows}")
            with contextlib.suppress(Exception):
                _pg(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    for i, server in enumerate(servers):
        gc[f"{name}-{i}"] = server.gc_summary()
        print(f"flowpbx {i} GC pauses over the {name} steps: {gc[f'{name}-{i}']}")
    return steps, gc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rates", default="100,200,300,400,500")
    ap.add_argument("--duration", type=int, default=60, help="seconds per step")
    ap.add_argument("--quick", action="store_true", help="10 s steps")
    ap.add_argument("--targets", default="play,call_sip,sippy")
    ap.add_argument("--sippy", default=DEFAULT_SIPPY, help="b2bua_simple in its own venv")
    ap.add_argument("--profile", type=int, default=0, help="py-spy flowpbx at this rate")
    ap.add_argument("--keep-going", action="store_true", help="continue past a failing step")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--processes", type=int, default=2, help="flowpbx processes (play_kamailio)")
    ap.add_argument(
        "--kamailio-children",
        type=int,
        default=os.cpu_count() or 2,
        help="Kamailio UDP workers (play_kamailio; default: one per core)",
    )
    ap.add_argument(
        "--kamailio-tm", action="store_true", help="Kamailio relays with t_relay (stateful)"
    )
    ap.add_argument(
        "--db",
        choices=("auto", "postgres", "sqlite"),
        default="auto",
        help="play_kamailio: one shared PostgreSQL database (auto: when reachable) or SQLite each",
    )
    args = ap.parse_args()
    duration = 10 if args.quick else args.duration
    rates = [int(r) for r in args.rates.split(",")]
    targets = args.targets.split(",")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="flowpbx-cps-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# cps benchmark — {machine()}\n# workdir {workdir}\n# {' '.join(sys.argv)}\n")

    steps: list[Step] = []
    gc: dict[str, Any] = {}
    for name in [t for t in targets if t in ("play", "call_sip")]:
        # A fresh server per flow, so one flow's backlog (history rows, heap) does not weigh
        # on the other's figure.
        trunk_port = free_udp_port()
        uas_port = free_udp_port()
        server = BenchServer(workdir / f"pbx-{name}")
        prompt = server.config_file("one-second.wav")
        make_tone_wav(prompt, 440.0, 1.0)
        server.config = config(prompt, trunk_port)
        server.start()
        try:
            if name == "call_sip":
                register(server, uas_port, workdir)
            target = Target(
                name=name,
                remote=server.sip,
                service=DID_PLAY if name == "play" else DID_BRIDGE,
                scenario=SIPP_DIR
                / ("cps_provider_play.xml" if name == "play" else "cps_provider_bye.xml"),
                provider_port=trunk_port,
                pid=server.pid,
                uas_port=uas_port if name == "call_sip" else None,
            )
            steps += run_rates(target, rates, duration, workdir, args)
        finally:
            server.stop()
        gc[name] = server.gc_summary()
        print(f"flowpbx GC pauses over the {name} steps: {gc[name]}")
    if "play_kamailio" in targets:
        more, more_gc = run_play_kamailio(args, rates, duration, workdir)
        steps += more
        gc |= more_gc
    if "sippy" in targets:
        if not Path(args.sippy).exists() and shutil.which(args.sippy) is None:
            raise SystemExit(f"Sippy not found at {args.sippy} (see --help)")
        sippy_port, uas_port = free_udp_port(), free_udp_port()
        out = (workdir / "sippy.log").open("wb")
        sippy = subprocess.Popen(
            [
                args.sippy,
                "-f",
                "-l",
                "127.0.0.1",
                "-p",
                str(sippy_port),
                "-n",
                f"127.0.0.1:{uas_port}",
            ],
            env={**os.environ, "SIPLOG_BEND": "none"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=raise_priority,
        )
        out.close()
        time.sleep(2)
        try:
            target = Target(
                name="sippy",
                remote=("127.0.0.1", sippy_port),
                service=EXT,
                scenario=SIPP_DIR / "cps_provider_bye.xml",
                provider_port=free_udp_port(),
                pid=sippy.pid,
                uas_port=uas_port,
            )
            steps += run_rates(target, rates, duration, workdir, args, profile=False)
        finally:
            stop_process(sippy)
    print()
    print_table(steps)
    results = BENCH_DIR / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = results / f"cps-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "machine": machine(),
                "argv": sys.argv,
                "bench_env": {k: v for k, v in os.environ.items() if k.startswith("FLOWPBX_BENCH")},
                "steps": [asdict(s) | {"clean": s.clean} for s in steps],
                "flowpbx_gc": gc,
            },
            indent=1,
        )
    )
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
