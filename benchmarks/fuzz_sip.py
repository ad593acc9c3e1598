"""Fuzz run: at least 100,000 mutated SIP messages over UDP (and some over TCP) against a
running flowpbx (SPEC §7, issue 10).

    .venv/bin/python benchmarks/fuzz_sip.py [--udp 100000] [--tcp 20000] [--seed 1]

Messages come from the RFC 4475 torture set and the project's golden messages, mutated by
tests/fuzz/sipfuzz.py (hostile numbers in every numeric header and SDP field, several
credentials per request among the mutations); every 200 messages a valid OPTIONS must get
200. The server is a real ``flowpbx serve`` (tests/e2e/server.py) with 127.0.0.1 as a
trusted network, so bans and rate limits let every message through to the parser, and a
trunk at the fuzzer's second port whose number's flow hangs up, so fuzzed SDP reaches the
SDP parser and the RTP port pool. The run is made in two equal halves: RSS and open
descriptors are read before, after the first half, after the second half and after the
transactions have expired (64 s, Timer H/J), so growth that continues from one half to the
next (a leak) shows apart from one-time warm-up. At the end /metrics gives the live server
transactions, RTP ports in use, transactions reaped by the guard timer and handler errors.

Prints a markdown block for benchmarks/RESULTS.md ("## Fuzz") and writes the figures to
benchmarks/results/fuzz-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.queue_support import admin_token  # noqa: E402
from tests.e2e.server import FlowpbxServer  # noqa: E402
from tests.fuzz.sipfuzz import (  # noqa: E402
    FuzzStats,
    fuzz_config,
    fuzz_tcp,
    fuzz_udp,
    open_fds,
    options_status,
    rss_kib,
)
from tests.netutil import free_udp_port  # noqa: E402

METRICS = (
    "sip_server_transactions",
    "sip_client_transactions",
    "rtp_ports_in_use",
    "sip_reaped",
    "sip_handler_errors",
)
ENV = {"FLOWPBX_SIP_TRUSTED_NETWORKS": "127.0.0.1/32"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--udp", type=int, default=100_000)
    ap.add_argument("--tcp", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--settle", type=float, default=64.0, help="seconds to wait at the end")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="flowpbx-fuzz-") as tmp:
        trunk_port = free_udp_port()
        server = FlowpbxServer(tmp, fuzz_config(trunk_port), extra_env=ENV)
        server.start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            ok0 = options_status(server.sip)
            points = [("start", rss_kib(pid), open_fds(pid))]
            stats = FuzzStats()
            last = time.monotonic()

            def progress(s: FuzzStats) -> None:
                nonlocal last
                if time.monotonic() - last > 10:
                    last = time.monotonic()
                    print(f"  {s.sent} UDP sent, {s.responses} answers", file=sys.stderr)

            for half in (1, 2):
                fuzz_udp(
                    server.sip,
                    args.udp // 2,
                    seed=args.seed * 10 + half,
                    stats=stats,
                    progress=progress,
                    trunk_port=trunk_port,
                )
                if stats.dead is None and args.tcp:
                    fuzz_tcp(server.sip, args.tcp // 2, seed=args.seed * 10 + half, stats=stats)
                points.append((f"after half {half}", rss_kib(pid), open_fds(pid)))
                if stats.dead is not None:
                    break
            time.sleep(args.settle)
            points.append((f"after {args.settle:g} s idle", rss_kib(pid), open_fds(pid)))
            ok_end = options_status(server.sip)
            live = _metrics(server)
            log = server.stderr_path.read_text(errors="replace")
            log += server.stdout_path.read_text(errors="replace")
            tracebacks = log.count("Traceback")
        finally:
            server.stop()

    figures = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "udp_sent": stats.sent,
        "tcp_sent": stats.sent_tcp,
        "tcp_connections": stats.tcp_reconnects,
        "answers": stats.responses,
        "statuses": dict(sorted(stats.statuses.items())),
        "liveness_checks": stats.checks,
        "dead": stats.dead,
        "seconds": round(stats.seconds, 1),
        "options_before": ok0,
        "options_after": ok_end,
        "tracebacks_in_log": tracebacks,
        "rss_kib": {label: rss for label, rss, _ in points},
        "open_fds": {label: fds for label, _, fds in points},
        "metrics_after_idle": live,
    }
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    (out_dir / f"fuzz-{stamp}.json").write_text(json.dumps(figures, indent=2) + "\n")

    print(
        f"- UDP messages: {stats.sent:,}; TCP messages: {stats.sent_tcp:,} "
        f"over {stats.tcp_reconnects} connections; {stats.seconds:.0f} s of sending"
    )
    print(f"- liveness OPTIONS checks passed: {stats.checks}; stopped early: {stats.dead}")
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(stats.statuses.items()))
    print(f"- answers: {stats.responses:,} ({codes})")
    print(f"- valid OPTIONS before/after: {ok0!r} / {ok_end!r}; 'Traceback' in log: {tracebacks}")
    print(
        "- RSS / open fds: "
        + "; ".join(f"{label} {rss / 1024:.1f} MiB / {fds}" for label, rss, fds in points)
    )
    print("- /metrics after the idle wait: " + ", ".join(f"{k} {v:g}" for k, v in live.items()))
    good = stats.dead is None and tracebacks == 0 and (ok_end or "").startswith("SIP/2.0 200")
    return 0 if good else 1


def _metrics(server: FlowpbxServer) -> dict[str, float]:
    token = admin_token(server)
    request = urllib.request.Request(
        server.http + "/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        lines = r.read().decode().splitlines()
    out: dict[str, float] = {}
    for line in lines:
        name, _, value = line.partition(" ")
        if name.removeprefix("flowpbx_") in METRICS:
            out[name.removeprefix("flowpbx_")] = float(value)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
