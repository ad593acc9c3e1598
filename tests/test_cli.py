"""The `flowpbx` command run as a real subprocess, as a newcomer would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flowpbx.store.db import head_revision

FLOWPBX = Path(sys.executable).with_name("flowpbx")


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOWPBX_")}
    environ.update({"FLOWPBX_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run(
        [str(FLOWPBX), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        cwd=tmp_path,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, proc
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert text in lines[0], lines[0]


def test_entry_point_exists() -> None:
    assert FLOWPBX.is_file(), "run `pip install -e .` so the flowpbx script exists"


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("db",),
        ("user",),
        ("import",),
        ("export",),
        ("demo",),
        ("serve",),
        ("db", "upgrade"),
        ("user", "create"),
        ("tls-cert",),
    ],
)
def test_every_command_has_help(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc = run(tmp_path, *args, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: flowpbx")


def test_usage_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    assert_one_line_error(run(tmp_path, "frobnicate"), 2, "invalid choice")
    assert_one_line_error(run(tmp_path, "user", "create"), 2, "required: name")
    assert_one_line_error(run(tmp_path, "export", "--format", "xml"), 2, "invalid choice")


def test_runtime_errors_are_one_line_exit_1(tmp_path: Path) -> None:
    assert_one_line_error(run(tmp_path, "export"), 1, "run `flowpbx db upgrade`")
    assert_one_line_error(
        run(tmp_path, "db", "upgrade", FLOWPBX_SIP_LISTEN="nonsense"), 1, "FLOWPBX_SIP_LISTEN"
    )
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    assert_one_line_error(
        run(tmp_path, "db", "upgrade", FLOWPBX_DATABASE_URL=unreachable), 1, "error:"
    )


def test_newcomer_path_demo_export_import(tmp_path: Path) -> None:
    up = run(tmp_path, "db", "upgrade")
    assert up.returncode == 0 and f"revision {head_revision()}" in up.stdout
    demo = run(tmp_path, "demo")
    assert demo.returncode == 0, demo.stderr
    for text in (
        "sip:127.0.0.1:5060",
        "http://127.0.0.1:8000/",
        "demo-pass-101",
        "demo-pass-102",
        "demo-pass-103",
        "admin / demo-admin",
    ):
        assert text in demo.stdout
    assert run(tmp_path, "demo").returncode == 0  # idempotent

    exported = run(tmp_path, "export")
    assert exported.returncode == 0, exported.stderr
    doc = yaml.safe_load(exported.stdout)
    assert [e["number"] for e in doc["extensions"]] == ["101", "102", "103"]
    as_json = json.loads(run(tmp_path, "export", "--format", "json").stdout)
    assert as_json == doc

    path = tmp_path / "company.yaml"
    path.write_text(exported.stdout)
    again = run(tmp_path, "import", str(path))
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout and "unchanged" in again.stdout

    doc["extensions"].append({"number": "1", "name": "Too short", "password": "secret"})
    path.write_text(yaml.safe_dump(doc))
    assert_one_line_error(
        run(tmp_path, "import", str(path)), 1, "extensions[3].number: must be 2-6 digits"
    )


def test_user_create(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    ok = run(tmp_path, "user", "create", "ops", "--password", "long-password-1", "--role", "admin")
    assert ok.returncode == 0 and "created" in ok.stdout
    dup = run(tmp_path, "user", "create", "ops", "--password", "long-password-1", "--role", "admin")
    assert_one_line_error(dup, 1, "already exists")
    assert_one_line_error(
        run(tmp_path, "user", "create", "x", "--password", "123"), 1, "at least 10"
    )


def test_tls_cert_makes_a_self_signed_pair_once_and_prints_its_fingerprint(
    tmp_path: Path,
) -> None:
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    first = run(tmp_path, "tls-cert", FLOWPBX_SIP_LISTEN="127.0.0.1:5060")
    assert first.returncode == 0, first.stderr
    cert, key = tmp_path / "data" / "tls" / "cert.pem", tmp_path / "data" / "tls" / "key.pem"
    assert "new, self-signed" in first.stdout
    assert key.stat().st_mode & 0o077 == 0, "the key is readable by its owner only"
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    fingerprint = parsed.fingerprint(hashes.SHA256()).hex(":").upper()
    assert f"SHA-256 fingerprint {fingerprint}" in first.stdout
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)  # a matching pair

    again = run(tmp_path, "tls-cert")
    assert again.returncode == 0, again.stderr
    assert "existing" in again.stdout and fingerprint in again.stdout
    key.unlink()
    assert_one_line_error(run(tmp_path, "tls-cert"), 1, "only one of")
    assert_one_line_error(
        run(tmp_path, "db", "upgrade", FLOWPBX_TLS_CERT=str(cert)), 1, "FLOWPBX_TLS_KEY"
    )
    assert_one_line_error(
        run(tmp_path, "db", "upgrade", FLOWPBX_SIP_TLS_HANDSHAKE_S="0"), 1,
        "FLOWPBX_SIP_TLS_HANDSHAKE_S",
    )  # fmt: skip
