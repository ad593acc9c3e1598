"""`flowpbx simulate` against a real (SQLite) store with the example company imported.

One test runs the installed `flowpbx` script as a subprocess; the others call the same
`main()` in-process (the machine may be busy: each subprocess costs seconds)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowpbx.cli import main

FLOWPBX = Path(sys.executable).with_name("flowpbx")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def flowpbx(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOWPBX_")}
    environ["FLOWPBX_DATA_DIR"] = str(data)
    return subprocess.run(
        [str(FLOWPBX), *args], capture_output=True, text=True, env=environ, timeout=120
    )


def in_process(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`main(args)` with FLOWPBX_DATA_DIR set, its output captured like a subprocess's."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("FLOWPBX_")]:
            mp.delenv(key)
        mp.setenv("FLOWPBX_DATA_DIR", str(data))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data")
    for args in (
        ("db", "upgrade"),
        ("import", str(EXAMPLES / "support_line.yaml")),
        ("import", str(EXAMPLES / "crm_line.yaml")),
    ):
        proc = in_process(data, *args)
        assert proc.returncode == 0, proc.stderr
    return data


def test_simulate_prints_the_trace(data: Path) -> None:
    proc = flowpbx(
        data, "simulate", "Support", "--caller", "+37129222222",
        "--at", "2026-05-04T10:00:00+03:00", "--keys", "0", "--answer", "210=busy",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "flow 'Support' (revision 1): +37129222222 calls +37167200001 at 2026-05-04T10:00:00+03:00"
    )
    steps = [line.split()[1:4] for line in lines[1:] if line.strip()[0].isdigit()]
    assert steps[:6] == [
        ["start", "numbers", "→"],
        ["missed_mail", "email", "→"],
        ["hours", "time_routing", "→"],
        ["welcome", "play", "→"],
        ["menu", "menu", "→"],
        ["lead", "call_sip", "→"],
    ]
    assert "→ true" in lines[3] and "local_time='Mon 2026-05-04 10:00 EEST'" in lines[3]
    assert "→ busy" in lines[6] and "dial=busy" in lines[6]
    assert "heard: greeting, menu, voicemail-greeting" in proc.stdout
    assert lines[-1].startswith("outcome: hangup")


def test_simulate_http_history_and_json(data: Path) -> None:
    proc = in_process(
        data, "simulate", "Sales", "--caller", "+37129333333", "--at", "2026-05-04T10:00Z",
        "--http", "notify_crm=timeout", "--history", "302=3", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sim = json.loads(proc.stdout)
    assert sim["outcome"] == "answered" and sim["answered_by"] == "302"
    assert [t["node"] for t in sim["trace"]][:4] == ["start", "lookup", "notify_crm", "returning"]
    assert sim["trace"][2]["output"] == "default"
    assert sim["requests"][1]["node"] == "notify_crm"
    proc = in_process(data, "simulate", "Sales", "--http", "notify_crm=2", "--draft")
    assert proc.returncode == 0, proc.stderr
    assert "blocked" in proc.stdout and "heard: goodbye" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Nope",), "no flow named 'Nope'"),
        (("Sales", "--http", "notify_crm"), "--http takes KEY=VALUE"),
        (("Sales", "--keys", "12x"), "keys may only contain"),
        (("Sales", "--at", "yesterday"), "--at: not an ISO 8601 time"),
        (("Sales", "--answer", "301=maybe"), "answer for '301' must be one of"),
    ],
)
def test_simulate_errors_are_one_line(data: Path, args: tuple[str, ...], message: str) -> None:
    proc = in_process(data, "simulate", *args)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr
