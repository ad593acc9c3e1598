"""``FlowpbxServer``: a real ``flowpbx serve`` process on free loopback ports.

Lifecycle: pick ports -> environment (FLOWPBX_SIP_LISTEN, FLOWPBX_HTTP_LISTEN,
FLOWPBX_RTP_PORTS, FLOWPBX_DATA_DIR) -> write config.yaml (SPEC §2.1) -> ``flowpbx db
upgrade`` -> ``flowpbx import config.yaml`` (or ``flowpbx demo``) -> ``flowpbx serve`` with
stdout/stderr in files -> ready when a SIP OPTIONS gets any answer and GET /api/v1/health
is 200. ``stop()`` sends SIGTERM, then SIGKILL after 5 s. ``db_query`` reads the SQLite
database (data/flowpbx.db) read-only, for the registrations and call_history tables.

Errors: ServerError (a RuntimeError) when a CLI step fails or the server does not come up;
its message carries the command's output or the server log.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.procs import Managed, stop_group
from tests.netutil import free_port_block, free_tcp_port, wait_for_udp_sip

FLOWPBX = Path(sys.executable).parent / "flowpbx"


class ServerError(RuntimeError):
    """A flowpbx CLI step failed or the server did not become ready."""


class FlowpbxServer(Managed):
    """One flowpbx instance in *tmp_path*, configured from *config* (SPEC §2.1 shape)."""

    def __init__(
        self,
        tmp_path: str | Path,
        config: dict[str, Any] | None = None,
        *,
        demo: bool = False,
        rtp_port_count: int = 100,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(tmp_path) / "flowpbx"
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.root / "data"
        self.config_dir = self.root / "config"
        self.config_dir.mkdir(exist_ok=True)
        self.config = config
        self.demo = demo
        self.sip_port = free_port_block(2, align=1)  # UDP and TCP on the same number
        self.http_port = free_tcp_port()
        self.rtp_lo = free_port_block(rtp_port_count)
        self.rtp_hi = self.rtp_lo + rtp_port_count - 1
        self.env = {
            **os.environ,
            "FLOWPBX_SIP_LISTEN": f"127.0.0.1:{self.sip_port}",
            "FLOWPBX_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "FLOWPBX_RTP_PORTS": f"{self.rtp_lo}-{self.rtp_hi}",
            "FLOWPBX_DATA_DIR": str(self.data_dir),
            **(extra_env or {}),
        }
        self.env.pop("FLOWPBX_DATABASE_URL", None)
        self.stdout_path = self.root / "serve.stdout.log"
        self.stderr_path = self.root / "serve.stderr.log"
        self.cli_log: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ addresses
    @property
    def sip(self) -> tuple[str, int]:
        return ("127.0.0.1", self.sip_port)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "flowpbx.db"

    # ------------------------------------------------------------------ CLI
    def cli(self, *args: str, timeout: float = 60.0, check: bool = True) -> str:
        """Run ``flowpbx ARGS`` with this server's environment; returns stdout+stderr."""
        cmd = [str(FLOWPBX), *args]
        try:
            r = subprocess.run(
                cmd,
                env=self.env,
                cwd=self.root,
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            raise ServerError(f"{' '.join(cmd)} timed out after {timeout} s") from e
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.cli_log.append(f"$ flowpbx {' '.join(args)}  (exit {r.returncode})\n{out}")
        if check and r.returncode != 0:
            raise ServerError(f"flowpbx {' '.join(args)} exited {r.returncode}:\n{out}")
        return out

    def write_config(self) -> Path:
        path = self.config_dir / "config.yaml"
        path.write_text(yaml.safe_dump(self.config or {}, sort_keys=False, allow_unicode=True))
        return path

    def config_file(self, relative: str) -> Path:
        """Where a file named in the config (relative to config.yaml) must be written."""
        path = self.config_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 30.0) -> FlowpbxServer:
        self.data_dir.mkdir(exist_ok=True)
        self.cli("db", "upgrade")
        if self.demo:
            self.cli("demo")
        if self.config is not None:
            self.cli("import", str(self.write_config()))
        out = self.stdout_path.open("wb")
        err = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [str(FLOWPBX), "serve"],
            env=self.env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        out.close()
        err.close()
        deadline = time.monotonic() + timeout
        try:
            wait_for_udp_sip("127.0.0.1", self.sip_port, timeout)
            while True:
                if self.proc.poll() is not None:
                    raise ServerError(f"flowpbx serve exited {self.proc.returncode}")
                if self.health() == 200:
                    break
                if time.monotonic() > deadline:
                    raise ServerError(f"/api/v1/health not 200 within {timeout} s")
                time.sleep(0.1)
        except (TimeoutError, ServerError) as e:
            self.stop()
            raise ServerError(f"flowpbx did not come up: {e}\n{self.logs()}") from e
        return self

    def health(self) -> int:
        try:
            with urllib.request.urlopen(self.http + "/api/v1/health", timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError:
            return 0

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 5 s (idempotent); returns the exit code."""
        proc, self.proc = self.proc, None
        return None if proc is None else stop_group(proc, grace=5)

    # ------------------------------------------------------------------ inspection
    def db_query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a read-only query on the server's SQLite database; rows as dicts."""
        uri = f"file:{self.db_path}?mode=ro"
        con = sqlite3.connect(uri, uri=True, timeout=5)
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, tuple(params)).fetchall()]
        finally:
            con.close()

    def wait_rows(
        self, sql: str, params: Sequence[Any] = (), *, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Poll *sql* until it returns at least *count* rows (history is written at call end)."""
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while True:
            with contextlib.suppress(sqlite3.OperationalError):
                rows = self.db_query(sql, params)
                if len(rows) >= count:
                    return rows
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{sql!r} gave {len(rows)} rows, wanted {count}: {rows}\n{self.logs()}"
                )
            time.sleep(0.2)

    def history(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Finished calls' call_history rows (not ``in_progress`` ones), oldest first, with
        ``trace`` decoded from JSON."""
        rows = self.wait_rows(
            "SELECT * FROM call_history WHERE outcome != 'in_progress' ORDER BY rowid",
            timeout=timeout,
        )
        for row in rows:
            if isinstance(row.get("trace"), str | bytes):
                row["trace"] = json.loads(row["trace"])
        return rows

    def logs(self, tail: int = 150) -> str:
        parts = ["--- flowpbx CLI ---", *self.cli_log]
        for label, path in (("stderr", self.stderr_path), ("stdout", self.stdout_path)):
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            parts.append(f"--- flowpbx serve {label} (last {tail} lines) ---")
            parts.extend(lines[-tail:])
        return "\n".join(parts)
