"""Changes made with the command line land in the audit log as actor ``cli`` (a real
``flowpbx`` process on a SQLite file), without the password, and the API lists them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import yaml

from tests.test_cli import run


def test_cli_user_create_and_import_are_audited_as_cli(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    ok = run(tmp_path, "user", "create", "ops", "--password", "cli-pass-4821", "--role", "admin")
    assert ok.returncode == 0, ok.stderr
    doc = {"extensions": [{"number": "101", "name": "Alice", "password": "ext-pass-9931"}]}
    path = tmp_path / "company.yaml"
    path.write_text(yaml.safe_dump(doc))
    imported = run(tmp_path, "import", str(path))
    assert imported.returncode == 0, imported.stderr
    with sqlite3.connect(tmp_path / "data" / "flowpbx.db") as db:
        rows = db.execute(
            "SELECT actor, action, entity, key, details FROM audit_log ORDER BY id"
        ).fetchall()
    assert [r[:4] for r in rows] == [
        ("cli", "create", "user", "ops"),
        ("cli", "import", "config", ""),
    ]
    assert '"extensions": 1' in rows[1][4] and "company.yaml" in rows[1][4]
    text = repr(rows)
    assert "cli-pass-4821" not in text and "ext-pass-9931" not in text
