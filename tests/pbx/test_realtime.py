"""FLOWPBX_REALTIME_PRIORITY: parsed, validated, applied to the process (SCHED_RR)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from flowpbx.pbx import runtime
from flowpbx.settings import Settings, SettingsError


def test_default_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWPBX_REALTIME_PRIORITY", raising=False)
    assert Settings.from_env().realtime_priority == 0
    assert runtime.apply_realtime(0) is False


@pytest.mark.parametrize("text", ["-1", "100", "high", "1.5", ""])
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("FLOWPBX_REALTIME_PRIORITY", text)
    with pytest.raises(SettingsError, match="FLOWPBX_REALTIME_PRIORITY"):
        Settings.from_env()


def test_value_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPBX_REALTIME_PRIORITY", "7")
    assert Settings.from_env().realtime_priority == 7


def test_refused_is_logged_and_serving_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(pid: int, policy: int, param: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with caplog.at_level(logging.WARNING, logger="flowpbx.pbx"):
        assert runtime.apply_realtime(5) is False
    assert "FLOWPBX_REALTIME_PRIORITY=5 not applied" in caplog.text


def test_applied_to_the_process_and_its_later_threads() -> None:
    """In a child process (the test process keeps its own policy): the calling thread and a
    thread started afterwards both run under SCHED_RR at the priority given."""
    code = (
        "import os, threading\n"
        "from flowpbx.pbx.runtime import apply_realtime\n"
        "ok = apply_realtime(3)\n"
        "seen = []\n"
        "t = threading.Thread(target=lambda: seen.append((os.sched_getscheduler(0),"
        " os.sched_getparam(0).sched_priority)))\n"
        "t.start(); t.join()\n"
        "print(ok, os.sched_getscheduler(0), os.sched_getparam(0).sched_priority, *seen[0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    ).stdout.split()
    if out[0] == "False":  # no CAP_SYS_NICE where this runs: the refusal path is tested above
        assert out[1] == str(os.SCHED_OTHER)
        return
    assert out == ["True", str(os.SCHED_RR), "3", str(os.SCHED_RR), "3"]
