"""Shared pieces of the benchmarks: a flowpbx server started for load, /proc figures,
SIPp statistics files, percentiles, the machine description.

The server is set up exactly as tests/e2e/server.py does it (db upgrade, import a config
YAML, serve on free loopback ports), but `serve` runs through benchmarks/serve_bench.py so
logging is at WARNING and garbage-collector pauses are recorded.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.server import FlowpbxServer, ServerError  # noqa: E402
from tests.netutil import wait_for_udp_sip  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
SIPP_DIR = BENCH_DIR / "sipp"
TICK = os.sysconf("SC_CLK_TCK")
#: Niceness for every process a benchmark starts (system under test, reference, SIPp). The
#: machines are shared with other work; -10 keeps unrelated background load from starving
#: the run, and the reference gets the same treatment as flowpbx. FLOWPBX_BENCH_NICE=0 to
#: measure without it.
NICE = int(os.environ.get("FLOWPBX_BENCH_NICE", "-10"))
#: FLOWPBX_BENCH_RT=N: also run every started process with the real-time round-robin policy
#: at priority N (below the RTP generator's 10), as a PBX's media service is run in
#: production. The reference gets the same.
RT_PRIORITY = int(os.environ.get("FLOWPBX_BENCH_RT", "0"))


def raise_priority() -> None:
    """preexec_fn for Popen: apply NICE (needs root for negative values; ignored otherwise).

    With the kernel's autogroup scheduling each session (start_new_session) is its own
    group and plain nice only ranks processes inside it, so the group's nice is set too.
    """
    with contextlib.suppress(OSError):
        os.nice(NICE)
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as f:
        f.write(str(NICE))
    if RT_PRIORITY > 0:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(RT_PRIORITY))


def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"nproc {os.cpu_count()}, {model}, Python {platform.python_version()}, {now}"


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process (all its threads) from /proc, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def group_pids(pgid: int) -> list[int]:
    """Every live process whose process group is *pgid* (a server that forks workers)."""
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def group_cpu_seconds(pgid: int) -> float:
    """utime+stime summed over the live processes of process group *pgid*, in seconds."""
    total = 0.0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += cpu_seconds(pid)
    return total


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def sipp_stats(path: Path) -> dict[str, int]:
    """The last row of a SIPp -trace_stat file: cumulative counters."""
    try:
        rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    header, last = rows[0], rows[-1]
    out: dict[str, int] = {}
    for name, value in zip(header, last, strict=False):
        if name.endswith("(C)"):
            with contextlib.suppress(ValueError):
                out[name[:-3]] = int(value)
    return out


def sipp_rtts(workdir: Path) -> list[float]:
    """Response times (ms) of repartition 1 from every *_rtt.csv SIPp wrote in workdir."""
    times: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        for line in path.read_text(errors="replace").splitlines()[1:]:
            parts = line.split(";")
            if (len(parts) >= 3 and parts[2].strip() in ("1", "rtd1", "RTD1")) or len(parts) >= 2:
                with contextlib.suppress(ValueError):
                    times.append(float(parts[1]))
    return times


class BenchServer(FlowpbxServer):
    """A FlowpbxServer whose `serve` is benchmarks/serve_bench.py (WARNING logs, GC timing)."""

    def __init__(self, *args: Any, rtp_ports: str = "10000-19999", **kwargs: Any) -> None:
        super().__init__(*args, rtp_port_count=2, **kwargs)
        # A wide range for thousands of legs; ports in use by others are skipped at bind.
        self.env["FLOWPBX_RTP_PORTS"] = rtp_ports
        # The load comes from one address (SIPp on loopback) and one test extension takes
        # hundreds of calls: trust loopback as an operator trusts its provider's network
        # (no per-source rate limits or bans) and lift the per-extension call cap.
        self.env["FLOWPBX_SIP_TRUSTED_NETWORKS"] = "127.0.0.0/8"
        self.env["FLOWPBX_SIP_MAX_CALLS_PER_EXTENSION"] = "0"
        self.env["FLOWPBX_SIP_MAX_CALLS_PER_TRUNK"] = "0"  # hundreds of calls from the trunk
        if RT_PRIORITY > 0:  # flowpbx's own setting (raise_priority applies it to the others)
            self.env["FLOWPBX_REALTIME_PRIORITY"] = str(RT_PRIORITY)
        self.gc_path = self.root / "gc.json"
        self.env["FLOWPBX_BENCH_GC"] = str(self.gc_path)

    def start(self, timeout: float = 30.0) -> BenchServer:
        self.data_dir.mkdir(exist_ok=True)
        self.cli("db", "upgrade")
        if self.config is not None:
            self.cli("import", str(self.write_config()))
        out = self.stdout_path.open("wb")
        err = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "serve_bench.py")],
            env=self.env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=raise_priority,
        )
        out.close()
        err.close()
        try:
            wait_for_udp_sip("127.0.0.1", self.sip_port, timeout)
        except TimeoutError as e:
            self.stop()
            raise ServerError(f"flowpbx did not come up: {e}\n{self.logs()}") from e
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def gc_summary(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            data: dict[str, Any] = json.loads(self.gc_path.read_text())
            return data
        return {}


def spawn(args: Sequence[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a peer or reference (SIPp, Kamailio, rtpengine) in its own session at the
    benchmark's priority, stdout and stderr into *log*."""
    out = log.open("wb")
    try:
        return subprocess.Popen(
            list(args),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=raise_priority,
        )
    finally:
        out.close()


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    """SIGTERM the process group of *proc* (which we started), SIGKILL after *grace*."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def wait_until(predicate: Any, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
