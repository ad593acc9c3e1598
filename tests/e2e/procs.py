"""Stopping the processes the e2e tests start (flowpbx, SIPp, baresip, dumpcap, scanners).

Every peer is started in its own session (``start_new_session=True``), so its process group
is its pid: ``stop_group`` signals the whole group (a shell wrapper and its child alike),
waits, and falls back to SIGKILL. ``kill9`` is the crash the durability tests stage.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from types import TracebackType
from typing import Any, Protocol, Self


class _HasProc(Protocol):
    proc: subprocess.Popen[Any] | None


def signal_group(proc: subprocess.Popen[Any], signum: int) -> None:
    """Send *signum* to *proc*'s process group (nothing if it is already gone)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


def stop_group(
    proc: subprocess.Popen[Any],
    *,
    first: int = signal.SIGTERM,
    grace: float = 5.0,
    kill_wait: float = 5.0,
) -> int | None:
    """Stop *proc* if it still runs: *first* (SIGTERM) to its group, up to *grace* seconds,
    then SIGKILL to the group and up to *kill_wait* seconds. Its exit code."""
    if proc.poll() is None:
        signal_group(proc, first)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=kill_wait)
    return proc.returncode


def kill9(owner: _HasProc) -> None:
    """A crash: SIGKILL to the running process of *owner* (a FlowpbxServer, say) and its
    group, with no chance to clean up; *owner* forgets it. Asserts it died by the signal."""
    proc, owner.proc = owner.proc, None
    assert proc is not None and proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


class Managed:
    """A peer used as a context manager: ``start()`` on entry (returning the peer), ``stop()``
    on exit, whatever happened in between."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
