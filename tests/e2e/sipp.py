"""SIPp as a subprocess: one scenario, one bound address, logs kept for assertion messages.

``Sipp(scenario, workdir, remote=("127.0.0.1", 5060), ...)`` runs
``sipp -sf tests/sipp/<scenario> -i 127.0.0.1 -p PORT -mi 127.0.0.1 -mp MEDIA -m CALLS
-trace_msg -trace_err`` in its own working directory (so scenario-relative files such as
``provider_tone.pcap`` resolve there), with ``-set NAME VALUE`` for each variable and
``-key NAME VALUE`` for each keyword. ``wait(timeout)`` returns SIPp's exit code (0 = every
call succeeded); ``check(timeout)`` raises AssertionError with the message and error logs
when it is not 0. SIPp is always killed at teardown, and ``-timeout`` makes it exit on its
own even if a test process dies.

Errors: AssertionError from ``check``; TimeoutError from ``wait`` (SIPp is killed first).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.e2e.procs import Managed, stop_group
from tests.netutil import free_port_block, free_udp_port

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "sipp"
DTMF_PCAP_DIR = Path("/usr/share/sip-tester")


def dtmf_pcap(digit: str) -> Path:
    """SIPp's bundled RFC 4733 pcap for one key: 0-9, '*' or '#'."""
    name = {"*": "star", "#": "pound"}.get(digit, digit)
    path = DTMF_PCAP_DIR / f"dtmf_2833_{name}.pcap"
    if not path.exists():
        raise FileNotFoundError(path)
    return path


class Sipp(Managed):
    """One SIPp process running one scenario from tests/sipp/ (or an absolute path)."""

    def __init__(
        self,
        scenario: str | Path,
        workdir: str | Path,
        *,
        remote: tuple[str, int] | None = None,
        local_port: int | None = None,
        media_port: int | None = None,
        calls: int = 1,
        service: str | None = None,
        auth: tuple[str, str] | None = None,
        variables: Mapping[str, str | int | float] | None = None,
        keys: Mapping[str, str | int | float] | None = None,
        files: Mapping[str, str | Path] | None = None,
        extra_args: Sequence[str] = (),
        name: str | None = None,
        global_timeout_s: int = 120,
    ) -> None:
        self.scenario = Path(scenario) if Path(scenario).is_absolute() else SCENARIO_DIR / scenario
        if not self.scenario.exists():
            raise FileNotFoundError(self.scenario)
        self.name = name or self.scenario.stem
        self.dir = Path(workdir) / f"sipp-{self.name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.remote = remote
        self.local_port = local_port or free_udp_port()
        self.media_port = media_port or free_port_block(4)  # RTP, RTCP, and +2 echo pair
        self.calls = calls
        self.service = service
        self.auth = auth
        self.variables = dict(variables or {})
        self.keys = dict(keys or {})
        self.extra_args = list(extra_args)
        self.global_timeout_s = global_timeout_s
        self.message_log = self.dir / "messages.log"
        self.error_log = self.dir / "errors.log"
        self.stdout_log = self.dir / "stdout.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        for target_name, source in (files or {}).items():
            self.add_file(target_name, source)

    def add_file(self, target_name: str, source: str | Path) -> Path:
        """Copy a file into SIPp's working directory (scenarios name pcaps relatively)."""
        target = self.dir / target_name
        shutil.copyfile(source, target)
        return target

    def argv(self) -> list[str]:
        args = [
            "sipp",
            "-sf",
            str(self.scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.local_port),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(self.media_port),
            "-m",
            str(self.calls),
            "-nostdin",
            "-timeout",
            f"{self.global_timeout_s}s",
            "-timeout_error",
            "-trace_msg",
            "-message_file",
            str(self.message_log),
            "-trace_err",
            "-error_file",
            str(self.error_log),
        ]
        if self.service is not None:
            args += ["-s", self.service]
        if self.auth is not None:
            args += ["-au", self.auth[0], "-ap", self.auth[1]]
            # SIPp's digest-uri is sip:REMOTE by default; flowpbx wants the Request-URI
            # (RFC 3261 §22.4), which is sip:SERVICE@REMOTE in the scenarios addressed to one
            if (
                self.service is not None
                and self.remote is not None
                and ("sip:[service]@[remote_ip]:[remote_port] SIP/2.0" in self.scenario.read_text())
            ):
                args += ["-auth_uri", f"{self.service}@{self.remote[0]}:{self.remote[1]}"]
        for k, v in self.variables.items():
            args += ["-set", k, str(v)]
        for k, v in self.keys.items():
            args += ["-key", k, str(v)]
        args += self.extra_args
        if self.remote is not None:
            args.append(f"{self.remote[0]}:{self.remote[1]}")
        return args

    def start(self) -> Sipp:
        out = self.stdout_log.open("wb")
        self.proc = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
        )
        out.close()
        return self

    def wait_ready(self, timeout: float = 5.0) -> None:
        """For a UAS: wait until SIPp has bound its SIP port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"SIPp {self.name} exited early\n{self.logs()}")
            tcp = "t1" in self.extra_args or "tn" in self.extra_args
            if (_tcp_listening if tcp else _udp_bound)(self.local_port):
                return
            time.sleep(0.05)
        raise TimeoutError(f"SIPp {self.name} did not bind {self.local_port}\n{self.logs()}")

    def wait(self, timeout: float) -> int:
        """Wait for SIPp to finish; returns its exit code, or kills it and raises TimeoutError."""
        if self.proc is None:
            if self.returncode is None:
                raise RuntimeError("SIPp was not started")
            return self.returncode
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TimeoutError(
                f"SIPp {self.name} still running after {timeout} s\n{self.logs()}"
            ) from None
        self.proc = None
        return self.returncode

    def check(self, timeout: float, expect: int = 0) -> None:
        """Assert SIPp exits with *expect* (0 = all calls succeeded); logs in the message."""
        rc = self.wait(timeout)
        assert rc == expect, f"SIPp {self.name} exit code {rc}, expected {expect}\n{self.logs()}"

    def messages(self) -> str:
        """Everything SIPp sent and received (-trace_msg)."""
        try:
            return self.message_log.read_text(errors="replace")
        except OSError:
            return ""

    def _received_start_lines(self) -> list[str]:
        """First line of every SIP message SIPp received, in order."""
        out: list[str] = []
        lines = self.messages().splitlines()
        for i, line in enumerate(lines):
            if "message received" in line:
                for nxt in lines[i + 1 : i + 4]:
                    if nxt.strip():
                        out.append(nxt.strip())
                        break
        return out

    def received_status_codes(self) -> list[int]:
        """Status codes of the SIP responses SIPp received, in order."""
        return [
            int(line[8:11])
            for line in self._received_start_lines()
            if line.startswith("SIP/2.0 ") and line[8:11].isdigit()
        ]

    def received_requests(self) -> list[str]:
        """Methods of the SIP requests SIPp received, in order."""
        return [
            line.split(" ", 1)[0]
            for line in self._received_start_lines()
            if line.endswith("SIP/2.0") and not line.startswith("SIP/2.0")
        ]

    def logs(self, tail: int = 120) -> str:
        parts = [f"--- SIPp {self.name}: {' '.join(self.argv())}"]
        for label, path in (("errors", self.error_log), ("messages", self.message_log)):
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            parts.append(f"--- SIPp {self.name} {label} (last {tail} lines) ---")
            parts.extend(lines[-tail:])
        try:
            tail_out = self.stdout_log.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- SIPp {self.name} stdout (last 15 lines) ---")
            parts.extend(tail_out)
        except OSError:
            pass
        return "\n".join(parts)

    def stop(self) -> None:
        """Kill SIPp if it still runs (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            self.returncode = stop_group(proc, grace=3)


def _udp_bound(port: int) -> bool:
    """True when some process holds 127.0.0.1:port on UDP (from /proc/net/udp)."""
    want = f"0100007F:{port:04X}"
    with contextlib.suppress(OSError), open("/proc/net/udp") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 1 and fields[1] == want:
                return True
    return False


def _tcp_listening(port: int) -> bool:
    """True when some process listens on 127.0.0.1:port over TCP (from /proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    with contextlib.suppress(OSError), open("/proc/net/tcp") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 3 and fields[1] == want and fields[3] == "0A":  # LISTEN
                return True
    return False
