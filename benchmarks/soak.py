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
    return f"soak-{ext}-pass"


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


def metrics(server: BenchServer) -> dict[str, float]:
    """Numeric lines of /metrics (Prometheus text), when it is reachable without a token."""
    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(server.http + "/metrics", timeout=5) as r:
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=3.0, help="new calls per second")
    args = ap.parse_args()
    seconds = int(args.minutes * 60)
    warmup_s = 20
    total_calls = int(args.rate * (seconds + warmup_s))

    with tempfile.TemporaryDirectory(prefix="flowpbx-soak-") as tmp:
        work = Path(tmp)
        trunk_port, uas_port = free_udp_port(), free_udp_port()
        server = BenchServer(work, config(trunk_port))
        make_tone_wav(server.config_file("menu.wav"), 600.0, 1.0)
        server.start()
        samples: list[dict[str, Any]] = []
        try:
            pid = server.pid
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
            while provider.poll() is None:
                time.sleep(1)
                t = time.monotonic() - t0 - warmup_s
                if t >= len(samples) * 30:
                    samples.append({"t_s": round(t), "rss_kib": rss_kb(pid), "fds": fds(pid)})
            load_end = time.monotonic() - t0
            time.sleep(40)
            after_fds = fds(pid)
            after = {"t_s": "40 s after", "rss_kib": rss_kb(pid), "fds": after_fds}
            samples.append(after)
            live = metrics(server)
            stop_process(uas)
            p = sipp_stats(work / "provider" / "stat.csv")
            u = sipp_stats(work / "uas" / "stat.csv")
            log = server.stderr_path.read_text(errors="replace")
            history = outcomes(server.db_path)
        finally:
            server.stop()

    figures = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "rate_per_s": args.rate,
        "load_seconds": round(load_end, 1),
        "provider": {k: p.get(k) for k in ("SuccessfulCall", "FailedCall", "Retransmissions")},
        "uas": {k: u.get(k) for k in ("SuccessfulCall", "FailedCall", "Retransmissions")},
        "samples": samples,
        "metrics_after": {k: v for k, v in live.items() if "call" in k or "rtp" in k},
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
