"""A headless baresip softphone driven over its ctrl_tcp socket, for end-to-end tests.

``Baresip(workdir, name=..., user=..., registrar=..., password=..., tone_hz=...)`` writes
``config`` and ``accounts`` into its own directory, makes a 60 s tone WAV as the audio
source (the call ends when the aufile source runs out, so it is long), starts
``baresip -f DIR`` and connects to ctrl_tcp. Commands and events are netstrings carrying
JSON (``{"command": "dial", "params": "sip:...", "token": "..."}``; events such as
``{"event": true, "type": "CALL_ESTABLISHED", ...}``). Received audio is dumped by the
sndfile module to ``snd_path/dump-*-dec.wav`` (names have 1 s resolution, so each
instance has its own snd_path). baresip builds that name, peer URIs included, in a
256-byte buffer and silently truncates it, so snd_path is a short directory under /tmp
(``DIR/rec`` links to it), removed when the test process exits.

Errors: BaresipError (a RuntimeError) when baresip does not start or a command fails;
TimeoutError from ``wait_event`` (its message lists the events seen so far).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.audio_analysis import Int16Array, load_wav, make_tone_wav
from tests.e2e.procs import Managed, stop_group
from tests.netutil import free_port_block, free_tcp_port, wait_for_tcp

MODULE_PATH = "/usr/lib/baresip/modules"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class BaresipError(RuntimeError):
    """baresip failed to start, died, or refused a command."""


@dataclass
class _Reader:
    """Background netstring reader: events to a queue, responses by token."""

    sock: socket.socket
    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)
    closed: bool = False

    def run(self) -> None:
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while True:
                    colon = buf.find(b":")
                    if colon < 0 or not buf[:colon].isdigit():
                        break
                    n = int(buf[:colon])
                    if len(buf) < colon + 1 + n + 1:
                        break
                    body = buf[colon + 1 : colon + 1 + n]
                    buf = buf[colon + 1 + n + 1 :]  # skip the trailing ","
                    try:
                        msg = json.loads(body)
                    except ValueError:
                        continue
                    if msg.get("event"):
                        self.events.put(msg)
                    elif msg.get("response"):
                        with self.cond:
                            self.responses[str(msg.get("token", ""))] = msg
                            self.cond.notify_all()
        except OSError:
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()


class Baresip(Managed):
    """One baresip user agent with one account, auto-answering, sending a pure tone."""

    def __init__(
        self,
        workdir: str | Path,
        *,
        name: str = "ua",
        user: str = "101",
        registrar: tuple[str, int] | None = None,
        password: str | None = None,
        tone_hz: float = 1000.0,
        tone_seconds: float = 60.0,
        answermode: str = "auto",
        regint: int = 600,
        quit_after_s: int = 300,
        mediaenc: str | None = None,
        tls_ca: Path | None = None,
        tls_certificate: Path | None = None,
    ) -> None:
        self.dir = Path(workdir) / f"baresip-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.user = user
        self.registrar = registrar
        self.password = password
        self.tone_hz = tone_hz
        self.tone_seconds = tone_seconds
        self.answermode = answermode
        self.regint = regint if registrar else 0
        self.quit_after_s = quit_after_s
        self.mediaenc = mediaenc  # "srtp-mand", "srtp": SDES-SRTP (its srtp module)
        # SIP over TLS to the registrar: the CA that signed its certificate, and our own
        # certificate + key in one PEM (baresip listens on TLS too)
        self.tls_ca = tls_ca
        self.tls_certificate = tls_certificate
        self.snd_path = Path(tempfile.mkdtemp(prefix="bsrec-"))
        atexit.register(shutil.rmtree, self.snd_path, True)
        with contextlib.suppress(OSError):
            (self.dir / "rec").symlink_to(self.snd_path)
        self.sip_port = free_port_block(2)  # baresip opens TCP/TLS on port+1 too
        self.ctrl_port = free_tcp_port()
        self.rtp_lo = free_port_block(20)
        self.rtp_hi = self.rtp_lo + 19
        self.log_path = self.dir / "baresip.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.reader: _Reader | None = None
        self.seen: list[dict[str, Any]] = []
        self._token = 0

    # ------------------------------------------------------------------ setup
    @property
    def aor(self) -> str:
        """The address other peers dial to reach this UA directly (no registrar)."""
        return f"sip:{self.user}@127.0.0.1:{self.sip_port}"

    def _write_files(self) -> None:
        wav = make_tone_wav(
            self.dir / f"tone{int(self.tone_hz)}.wav", self.tone_hz, self.tone_seconds
        )
        config = f"""\
sip_listen\t\t127.0.0.1:{self.sip_port}
net_interface\t\t127.0.0.1
audio_player\t\taubridge,nil
audio_alert\t\taubridge,nil
audio_source\t\taufile,{wav}
rtp_ports\t\t{self.rtp_lo}-{self.rtp_hi}
module_path\t\t{MODULE_PATH}
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\taubridge.so
module\t\t\tsndfile.so
module\t\t\tctrl_tcp.so
{"module" + chr(9) * 3 + "srtp.so" + chr(10) if self.mediaenc else ""}module_tmp\t\taccount.so
module_app\t\tmenu.so
ctrl_tcp_listen\t\t127.0.0.1:{self.ctrl_port}
snd_path\t\t{self.snd_path}
"""
        if self.tls_ca is not None:
            config += f"sip_cafile\t\t{self.tls_ca}\n"
        if self.tls_certificate is not None:
            config += f"sip_certificate\t\t{self.tls_certificate}\n"
        (self.dir / "config").write_text(config)
        if self.registrar:
            host, port = self.registrar
            tls = ";transport=tls" if self.tls_ca is not None else ""
            account = f"<sip:{self.user}@{host}:{port}{tls}>"
            params = [f"regint={self.regint}"]
            if self.password is not None:
                params.append(f"auth_pass={self.password}")
        else:
            account = f"<sip:{self.user}@127.0.0.1:{self.sip_port}>"
            params = ["regint=0"]
        params += [f"answermode={self.answermode}", "audio_codecs=PCMU"]
        if self.mediaenc:
            params.append(f"mediaenc={self.mediaenc}")
        (self.dir / "accounts").write_text(account + ";" + ";".join(params) + "\n")
        (self.dir / "contacts").write_text("")

    def start(self, timeout: float = 10.0) -> Baresip:
        self._write_files()
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            ["baresip", "-f", str(self.dir), "-t", str(self.quit_after_s)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_tcp("127.0.0.1", self.ctrl_port, timeout)
            self.sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=5)
            self.sock.settimeout(None)
        except (TimeoutError, OSError) as e:
            self.stop()
            raise BaresipError(f"baresip {self.name} did not start: {e}\n{self.log()}") from e
        self.reader = _Reader(self.sock)
        threading.Thread(target=self.reader.run, name=f"baresip-{self.name}", daemon=True).start()
        return self

    # ------------------------------------------------------------------ control
    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """Send a ctrl_tcp command and wait for its response; BaresipError if not ok."""
        if self.sock is None or self.reader is None:
            raise BaresipError("baresip is not running")
        self._token += 1
        token = f"t{self._token}"
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")
        deadline = time.monotonic() + timeout
        with self.reader.cond:
            while token not in self.reader.responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.reader.closed:
                    raise BaresipError(f"no response to {command} {params!r}\n{self.log()}")
                self.reader.cond.wait(left)
            resp = self.reader.responses.pop(token)
        if not resp.get("ok"):
            raise BaresipError(f"{command} {params!r} failed: {resp}")
        return resp

    def dial(self, uri: str) -> dict[str, Any]:
        return self.command("dial", uri)

    def hangup(self) -> dict[str, Any]:
        return self.command("hangup")

    def wait_event(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the next event of type *name* (earlier events of that type count too)."""
        for i, ev in enumerate(self.seen):
            if ev.get("type") == name and not ev.get("_consumed"):
                self.seen[i] = {**ev, "_consumed": True}
                return ev
        if self.reader is None:
            raise BaresipError("baresip is not running")
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                ev = self.reader.events.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.proc is not None and self.proc.poll() is not None:
                    break
                continue
            if ev.get("type") == name:
                self.seen.append({**ev, "_consumed": True})
                return ev
            self.seen.append(ev)
        types = [e.get("type") for e in self.seen]
        raise TimeoutError(
            f"baresip {self.name}: no {name} within {timeout} s; events so far {types}\n"
            + self.log()
        )

    def registration_info(self) -> str:
        """``reginfo`` output without colour codes, e.g. '> sip:101@127.0.0.1:5060  OK'."""
        data = str(self.command("reginfo").get("data", ""))
        return _ANSI.sub("", data)

    def wait_registered(self, timeout: float = 10.0) -> None:
        """Wait until the account is registered. The first REGISTER usually completes
        before the ctrl_tcp client connects (so its REGISTER_OK event is never seen);
        ``reginfo`` is polled instead."""
        deadline = time.monotonic() + timeout
        info = ""
        while time.monotonic() < deadline:
            info = self.registration_info()
            if re.search(r"\sOK\s", info):
                return
            time.sleep(0.1)
        raise TimeoutError(f"baresip {self.name} not registered: {info.strip()}\n{self.log()}")

    def events(self) -> list[dict[str, Any]]:
        """All events received so far (drains the queue without waiting)."""
        if self.reader is not None:
            while True:
                try:
                    self.seen.append(self.reader.events.get_nowait())
                except queue.Empty:
                    break
        return list(self.seen)

    # ------------------------------------------------------------------ results
    def dump_files(self, kind: str = "dec") -> list[Path]:
        return sorted(self.snd_path.glob(f"*-{kind}.wav"), key=lambda p: p.stat().st_mtime)

    def received_wav(self, timeout: float = 5.0) -> tuple[int, Int16Array]:
        """The newest decoded-audio dump (what this UA heard) as (rate, samples)."""
        deadline = time.monotonic() + timeout
        while True:
            files = self.dump_files("dec")
            if files and files[-1].stat().st_size > 44:
                return load_wav(files[-1])
            if time.monotonic() >= deadline:
                raise BaresipError(f"no received-audio dump in {self.snd_path}\n{self.log()}")
            time.sleep(0.1)

    def log(self, tail: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return f"--- baresip {self.name} log (last {tail} lines) ---\n" + "\n".join(lines[-tail:])

    # ------------------------------------------------------------------ teardown
    def stop(self) -> None:
        """Quit baresip (idempotent): ctrl 'quit', then SIGTERM, then SIGKILL."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                body = json.dumps({"command": "quit", "params": "", "token": "quit"}).encode()
                self.sock.sendall(str(len(body)).encode() + b":" + body + b",")
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                stop_group(proc, grace=3)
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
