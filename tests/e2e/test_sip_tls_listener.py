"""The SIP TLS listening point against what it must refuse, and certificate renewal (issue
17), over real sockets against a running flowpbx:

- a client speaking plain SIP on the TLS port gets no answer and is closed (a handshake
  failure, counted in /metrics);
- a client that connects and never finishes its handshake is closed after the handshake
  timeout (a setting, short here) and counted;
- a TLS 1.1 client is refused; TLS 1.2 and 1.3 are served;
- a certificate and key that do not match stop `flowpbx serve` with a message naming them;
- an expired certificate is logged and shown on /metrics (``sip_tls_cert_expires_in_s``),
  phones refuse it, and a renewal on SIGHUP fixes it without a restart;
- a renewed certificate is served to new connections after SIGHUP, and after the files
  change without a signal; open connections keep working; a broken renewal (key not
  matching) leaves the old certificate in service.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import warnings
from pathlib import Path

import pytest

from tests.e2e.apiclient import admin_token, metrics, wait_metrics
from tests.e2e.conftest import Harness
from tests.e2e.server import FLOWPBX, FlowpbxServer
from tests.e2e.tls_support import (
    CertAuthority,
    cert_fingerprint,
    make_ca,
    options,
    peer_fingerprint,
    read_message,
    tls_connect,
)
from tests.netutil import free_tcp_port

pytestmark = pytest.mark.e2e

CAP = 3  # connections one source may hold (handshaking or established)


def tls_server(
    e2e: Harness, ca: CertAuthority, *, stem: str = "pbx", expired: bool = False, **env: str
) -> tuple[FlowpbxServer, int, Path, Path]:
    pki = ca.cert_path.parent
    cert, key = ca.issue(pki, stem, ["127.0.0.1", "localhost"], expired=expired)
    # the files flowpbx reads (renewal replaces them in place)
    live_cert, live_key = pki / "live.crt", pki / "live.key"
    shutil.copy(cert, live_cert)
    shutil.copy(key, live_key)
    port = free_tcp_port()
    server = FlowpbxServer(
        e2e.tmp_path,
        {},
        extra_env={
            "FLOWPBX_TLS_CERT": str(live_cert),
            "FLOWPBX_TLS_KEY": str(live_key),
            "FLOWPBX_SIP_TLS_LISTEN": f"127.0.0.1:{port}",
            **env,
        },
    )
    e2e.adopt(server)
    server.start()
    return server, port, live_cert, live_key


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Read until the server closes (True) or ``timeout`` passes (False); what it sent must
    not be a SIP answer."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65535):
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        return False
    assert b"SIP/2.0" not in data, data[:200]
    return True


def wait_metric(server: FlowpbxServer, token: str, name: str, least: float) -> float:
    figures = wait_metrics(server, token, lambda f: f.get(name, 0.0) >= least, timeout=15)
    return figures.get(name, 0.0)


def test_plain_sip_stalled_handshakes_and_old_tls_are_refused(e2e: Harness) -> None:
    ca = make_ca(e2e.tmp_path / "pki")
    server, port, _, _ = tls_server(
        e2e, ca, FLOWPBX_SIP_TLS_HANDSHAKE_S="1.5", FLOWPBX_SIP_TCP_MAX_PER_SOURCE=str(CAP)
    )
    token = admin_token(server, "tls-admin", "tls-admin-pw")
    before = metrics(server, token)
    assert before["flowpbx_sip_tls_handshake_timeouts"] == 0
    assert before["flowpbx_sip_tls_handshake_failures"] == 0

    # plain SIP on the TLS port: not answered, closed
    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
        plain.sendall(options(plain, "TCP"))
        assert closed_by_server(plain, 10)
    assert wait_metric(server, token, "flowpbx_sip_tls_handshake_failures", 1) >= 1

    # a handshake that never comes: closed after the handshake timeout, counted
    with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
        started = time.monotonic()
        assert closed_by_server(stalled, 15), "a stalled handshake must be closed"
        assert time.monotonic() - started >= 1.0
    # a handshake begun (ClientHello) and then abandoned mid-way is the same
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    half = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    half.check_hostname, half.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = half.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    raw.sendall(outgoing.read())  # ClientHello only; the server's answer is never read
    with raw:
        assert closed_by_server_ignoring_tls(raw, 15)
    assert wait_metric(server, token, "flowpbx_sip_tls_handshake_timeouts", 2) >= 2

    # TLS 1.1 is refused, 1.2 served
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():  # an old version on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1_1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client would refuse 1.1 by itself otherwise
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw11,
        pytest.raises(ssl.SSLError),
    ):
        old.wrap_socket(raw11, server_hostname="127.0.0.1")
    tls12 = ssl.create_default_context(cafile=str(ca.cert_path))
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with tls12.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="127.0.0.1"
    ) as s12:
        assert s12.version() == "TLSv1.2"
        s12.sendall(options(s12))
        assert read_message(s12).startswith(b"SIP/2.0 200")
    assert wait_metric(server, token, "flowpbx_sip_tls_handshake_failures", 2) >= 2
    # and SIP over TLS still answers
    with tls_connect(("127.0.0.1", port), ca.cert_path) as good:
        good.sendall(options(good))
        answer = read_message(good)
        assert answer.startswith(b"SIP/2.0 200"), answer

    # stalled handshakes count against the source's cap: the one over it is closed at once
    with contextlib.ExitStack() as stack:
        held = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
            for _ in range(CAP)
        ]
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
            assert closed_by_server_ignoring_tls(extra, 1.0), "over the cap: closed at once"
        assert metrics(server, token)["flowpbx_sip_tls_refused_per_source"] >= 1
        # another source still gets in while this one is at its cap
        other = ssl.create_default_context(cafile=str(ca.cert_path))
        raw2 = socket.create_connection(
            ("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0)
        )
        with other.wrap_socket(raw2, server_hostname="127.0.0.1") as s2:
            s2.sendall(options(s2))
            assert read_message(s2).startswith(b"SIP/2.0 200")
        assert all(closed_by_server_ignoring_tls(h, 15) for h in held)
    deadline = time.monotonic() + 10  # nothing left half-open: the gauges come back to 0
    while metrics(server, token)["flowpbx_sip_tls_handshaking"] and time.monotonic() < deadline:
        time.sleep(0.2)
    figures = metrics(server, token)
    assert figures["flowpbx_sip_tls_handshaking"] == 0, figures


def closed_by_server_ignoring_tls(sock: socket.socket, timeout: float) -> bool:
    """Like `closed_by_server`, for a socket that receives TLS records (binary)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65535):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        return False
    return True


def test_certificate_renewal_on_sighup_and_on_file_change(e2e: Harness) -> None:
    ca = make_ca(e2e.tmp_path / "pki")
    server, port, live_cert, live_key = tls_server(e2e, ca, FLOWPBX_TLS_RELOAD_CHECK_S="0.5")
    token = admin_token(server, "tls-admin", "tls-admin-pw")
    first = cert_fingerprint(live_cert)
    held = tls_connect(("127.0.0.1", port), ca.cert_path)
    assert peer_fingerprint(held) == first

    # renewal 1: the files change; no signal
    cert2, key2 = ca.issue(ca.cert_path.parent, "renewed", ["127.0.0.1"])
    shutil.copy(key2, live_key)
    shutil.copy(cert2, live_cert)
    second = cert_fingerprint(cert2)
    assert wait_metric(server, token, "flowpbx_sip_tls_cert_reloads", 1) >= 1
    deadline = time.monotonic() + 10
    seen = first
    while seen != second and time.monotonic() < deadline:
        with tls_connect(("127.0.0.1", port), ca.cert_path) as s:
            seen = peer_fingerprint(s)
        time.sleep(0.2)
    assert seen == second, "new connections must get the renewed certificate"
    held.sendall(options(held))  # the connection opened before renewal still works
    assert read_message(held).startswith(b"SIP/2.0 200")
    held.close()

    # a broken renewal (a key of another certificate): the renewed one stays in service
    _, other_key = ca.issue(ca.cert_path.parent, "other", ["127.0.0.1"])
    shutil.copy(other_key, live_key)
    time.sleep(1.5)
    with tls_connect(("127.0.0.1", port), ca.cert_path) as s:
        assert peer_fingerprint(s) == second
    assert "not reloaded" in server.logs()


def test_sighup_reloads_the_certificate(e2e: Harness) -> None:
    ca = make_ca(e2e.tmp_path / "pki")
    # the file check is too slow to matter here: only SIGHUP can make the change visible
    server, port, live_cert, live_key = tls_server(e2e, ca, FLOWPBX_TLS_RELOAD_CHECK_S="3600")
    cert2, key2 = ca.issue(ca.cert_path.parent, "renewed", ["127.0.0.1"])
    shutil.copy(key2, live_key)
    shutil.copy(cert2, live_cert)
    with tls_connect(("127.0.0.1", port), ca.cert_path) as s:
        assert peer_fingerprint(s) != cert_fingerprint(cert2)
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    seen = ""
    while time.monotonic() < deadline:
        with tls_connect(("127.0.0.1", port), ca.cert_path) as s:
            seen = peer_fingerprint(s)
        if seen == cert_fingerprint(cert2):
            break
        time.sleep(0.2)
    assert seen == cert_fingerprint(cert2)
    assert server.proc.poll() is None, "SIGHUP must not stop flowpbx"


def test_a_key_that_does_not_match_the_certificate_stops_serve_clearly(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "pki")
    cert, _ = ca.issue(tmp_path / "pki", "a", ["127.0.0.1"])
    _, key = ca.issue(tmp_path / "pki", "b", ["127.0.0.1"])
    server = FlowpbxServer(
        tmp_path,
        {},
        extra_env={
            "FLOWPBX_TLS_CERT": str(cert),
            "FLOWPBX_TLS_KEY": str(key),
            "FLOWPBX_SIP_TLS_LISTEN": f"127.0.0.1:{free_tcp_port()}",
        },
    )
    server.data_dir.mkdir(parents=True, exist_ok=True)
    server.cli("db", "upgrade")
    r = subprocess.run(
        [str(FLOWPBX), "serve"], env=server.env, cwd=server.root, capture_output=True,
        timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0, out
    assert str(cert) in out and str(key) in out, out
    assert "Traceback" not in out, out


def test_an_expired_certificate_is_reported_refused_by_phones_and_renewed_live(
    e2e: Harness,
) -> None:
    ca = make_ca(e2e.tmp_path / "pki")
    server, port, live_cert, live_key = tls_server(
        e2e, ca, expired=True, FLOWPBX_TLS_RELOAD_CHECK_S="3600"
    )
    token = admin_token(server, "tls-admin", "tls-admin-pw")
    assert "has expired" in server.logs()
    assert metrics(server, token)["flowpbx_sip_tls_cert_expires_in_s"] < 0
    # a phone verifying the certificate refuses it (and so a name that does not match)
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        tls_connect(("127.0.0.1", port), ca.cert_path)
    good_cert, good_key = ca.issue(ca.cert_path.parent, "good", ["sip.example.net"])
    shutil.copy(good_key, live_key)
    shutil.copy(good_cert, live_cert)
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while (
        metrics(server, token)["flowpbx_sip_tls_cert_expires_in_s"] < 0
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert metrics(server, token)["flowpbx_sip_tls_cert_expires_in_s"] > 86400
    with pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch|match"):
        tls_connect(("127.0.0.1", port), ca.cert_path)  # names sip.example.net, not the IP
    with tls_connect(("127.0.0.1", port), ca.cert_path, server_hostname="sip.example.net") as phone:
        phone.sendall(options(phone))
        assert read_message(phone).startswith(b"SIP/2.0 200")
