"""The web UI's own unit tests (Vitest: flow <-> canvas mapping, schema forms) in the suite."""

from __future__ import annotations

import shutil
import subprocess

from tests.web.conftest import WEB


def test_vitest_unit_tests_pass() -> None:
    npm = shutil.which("npm")
    assert npm, "npm is needed for the web UI tests"
    if not (WEB / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    r = subprocess.run(
        [npm, "test", "--silent", "--", "--reporter=dot"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert " failed" not in r.stdout
