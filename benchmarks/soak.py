"""Soak: SIPp at a steady call rate through a flow with a menu and a live queue (issue 10).

    .venv/bin/python benchmarks/soak.py                      # 10 minutes at 3 calls/s
    .venv/bin/python benchmarks/soak.py --minutes 2 --rate 2 # a short try

The provider (SIPp, benchmarks/sipp/soak_provider.xml) calls a DID whose flow is
``numbers -> menu (1 s prompt) -> key 1 -> queue (members 200-2NN, fewest_calls) ->
hangup``; it presses 1 with SIP INFO after 1.5 s and hangs up after up to 4 s in the queue
or talking to the member who answered. The members are extensions registered by SIPp, all
with their Contact at one SIPp UAS (benchmarks/sipp/cps_uas.xml) that answers every call
it is offered and answers the BYE. Figures: calls attempted / succeeded / failed on both
sides; history outcomes (answered by a member or not); RSS and open descriptors of flowpbx
before the load (after a 20 s warm-up at the same rate), every 30 s during it, and 40 s
after it ended (SIP transactions expired); active calls and RTP ports in use at the end
(from /metrics). The run passes with 0 failed calls on both sides and no growth of
descriptors.

The live tables of /metrics (``flowpbx_mem_*``: transactions, dialogs, calls, tasks, bounded
caches; pbx/memory.py) are read with an admin token at the start of the load and after it.
``--tracemalloc SECONDS`` runs flowpbx with ``FLOWPBX_TRACEMALLOC_DUMP`` (a heap snapshot
every SECONDS, ``--frames`` deep) and prints the top-10 growth by allocation site between
the first snapshot of the load and the last one before the server is stopped (after the
calls and their SIP transactions ended), and the object types that grew most. tracemalloc
slows the server: its figures find causes, the RSS figures of record come from runs without
it.

Prints a markdown block for benchmarks/RESULTS.md ("## Soak"); JSON in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sqlite3
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import (
    BENCH_DIR,
    ROOT,
    SIPP_DIR,
    BenchServer,
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


def password(ext: str) -> str:
    return f"soak-{ext}-password"


def config(trunk_port: int) -> dict[str, Any]:
    return {
        "extensions": [
            {"number": ext, "name": f"Agent {ext}", "password": password(ext)} for ext in MEMBERS
        ],
        "trunks": [
            {
                "name": "provider",
                "host": "127.0.0.1",
                "port": trunk_port,
                "transport": "udp",
                "register": False,
            }
        ],
        "numbers": [{"number": DID, "trunk": "provider"}],
        "audio": [{"name": "menu-prompt", "file": "menu.wav"}],
        "flows": [
            {
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
        ],
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
    return out


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
        "top_sites": sites,
        "object_types_grown": dict(sorted(grew.items(), key=lambda kv: -kv[1])[:15]),
        "cyclic_garbage_last": dict(list(o_new.get("garbage", {}).items())[:15]),
        "garbage_cycles_last": o_new.get("garbage_cycles", {}),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=3.0, help="new calls per second")
    ap.add_argument("--tracemalloc", type=float, default=0.0, metavar="SECONDS",
                    help="heap snapshots every SECONDS inside flowpbx (diagnostics)")  # fmt: skip
    ap.add_argument("--frames", type=int, default=1, help="stack depth traced with --tracemalloc")
    ap.add_argument("--idle", type=float, default=40.0, help="seconds waited after the load")
    args = ap.parse_args()
    seconds = int(args.minutes * 60)
    warmup_s = 20
    total_calls = int(args.rate * (seconds + warmup_s))

    with tempfile.TemporaryDirectory(prefix="flowpbx-soak-") as tmp:
        work = Path(tmp)
        trunk_port, uas_port = free_udp_port(), free_udp_port()
        server = BenchServer(work, config(trunk_port))
        # outside the run's temporary directory: kept for a closer look afterwards
        dump_dir = Path(tempfile.mkdtemp(prefix="flowpbx-soak-tracemalloc-"))
        if args.tracemalloc:
            spec = f"{dump_dir}:{args.tracemalloc:g}:{args.frames}"
            server.env["FLOWPBX_TRACEMALLOC_DUMP"] = spec
        make_tone_wav(server.config_file("menu.wav"), 600.0, 1.0)
        server.start()
        samples: list[dict[str, Any]] = []
        try:
            pid = server.pid
            token = admin_token(server)
            for ext in MEMBERS:
                register(server, ext, uas_port, work)
            uas = sipp(
                SIPP_DIR / "cps_uas.xml",
                work / "uas",
                uas_port,
                extra=["-s", MEMBERS[0]],
                timeout_s=seconds + warmup_s + 120,
            )
            time.sleep(0.5)
            tables_before = tables(metrics(server, token))
            provider = sipp(
                BENCH_DIR / "sipp" / "soak_provider.xml",
                work / "provider",
                trunk_port,
                remote=server.sip,
                extra=["-s", DID, "-r", str(args.rate), "-m", str(total_calls)],
                timeout_s=seconds + warmup_s + 120,
            )
            t0 = time.monotonic()
            time.sleep(warmup_s)
            base_fds = fds(pid)
            base = {"t_s": 0, "rss_kib": rss_kb(pid), "fds": base_fds}
            samples.append(base)
            load_start_wall = time.time()
            tables_start = tables(metrics(server, token))
            while provider.poll() is None:
                time.sleep(1)
                t = time.monotonic() - t0 - warmup_s
                if t >= len(samples) * 30:
                    samples.append({"t_s": round(t), "rss_kib": rss_kb(pid), "fds": fds(pid)})
            load_end = time.monotonic() - t0
            time.sleep(args.idle)
            after_fds = fds(pid)
            after = {"t_s": f"{args.idle:g} s after", "rss_kib": rss_kb(pid), "fds": after_fds}
            samples.append(after)
            live = metrics(server, token)
            stop_wall = time.time()
            stop_process(uas)
            p = sipp_stats(work / "provider" / "stat.csv")
            u = sipp_stats(work / "uas" / "stat.csv")
            log = server.stderr_path.read_text(errors="replace")
            history = outcomes(server.db_path)
        finally:
            server.stop()
        heap = heap_growth(dump_dir, load_start_wall, stop_wall) if args.tracemalloc else {}

    figures = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "rate_per_s": args.rate,
        "load_seconds": round(load_end, 1),
        "provider": {k: p.get(k) for k in ("SuccessfulCall", "FailedCall", "Retransmissions")},
        "uas": {k: u.get(k) for k in ("SuccessfulCall", "FailedCall", "Retransmissions")},
        "samples": samples,
        "metrics_after": {k: v for k, v in live.items() if "call" in k or "rtp" in k},
        "tables_before_load": tables_before,
        "tables_after_warmup": tables_start,
        "tables_after": tables(live),
        "tracemalloc": heap,
        "history_outcomes": history,
        "tracebacks_in_log": log.count("Traceback"),
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"soak-{stamp}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    failed = p.get("FailedCall", 0) + u.get("FailedCall", 0)
    return 0 if failed == 0 and after_fds <= base_fds else 1


if __name__ == "__main__":
    raise SystemExit(main())
