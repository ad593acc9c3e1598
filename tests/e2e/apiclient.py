"""The e2e tests' client of a running flowpbx's HTTP API (stdlib urllib, JSON in and out):
a call, signing in, an admin made with the command line, and the figures of /metrics."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.e2e.server import FlowpbxServer


def api_status(
    server: FlowpbxServer, method: str, path: str, body: Any = None, token: str = ""
) -> tuple[int, Any]:
    """``method path`` with *body* as JSON (and a bearer *token*): (status, the body decoded
    as JSON, or its text when it is not JSON, or None when empty); a 4xx/5xx is answered
    too, not raised."""
    request = urllib.request.Request(
        server.http + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            status, data = int(r.status), r.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
        e.close()
    try:
        return status, json.loads(data or b"null")
    except ValueError:
        return status, data.decode(errors="replace")


def api(server: FlowpbxServer, method: str, path: str, body: Any = None, token: str = "") -> Any:
    """The decoded JSON answer of ``method path`` (see api_status); a 4xx/5xx fails."""
    status, answer = api_status(server, method, path, body, token)
    assert status < 400, f"{method} {path}: {status} {answer}"
    return answer


def login(server: FlowpbxServer, username: str, password: str) -> str:
    """An API token for *username*."""
    answer = api(server, "POST", "/api/v1/auth/login", {"username": username, "password": password})
    return str(answer["token"])


def admin_token(server: FlowpbxServer, username: str, password: str) -> str:
    """Create admin *username* with the command line and sign in: its API token."""
    server.cli("user", "create", username, "--password", password, "--role", "admin")
    return login(server, username, password)


def metrics(server: FlowpbxServer, token: str) -> dict[str, float]:
    """The unlabelled figures of /metrics, by full name (``flowpbx_...``)."""
    request = urllib.request.Request(
        server.http + "/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        text = r.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            values[name] = float(value)
    return values


def wait_metrics(
    server: FlowpbxServer,
    token: str,
    ok: Callable[[dict[str, float]], bool],
    what: str = "",
    timeout: float = 90.0,
    interval: float = 0.25,
) -> dict[str, float]:
    """Poll /metrics until ``ok(figures)`` or *timeout*: the last figures. With *what*, a
    timeout fails the test saying *what* (else the caller asserts on the figures)."""
    deadline = time.monotonic() + timeout
    current = metrics(server, token)
    while not ok(current) and time.monotonic() < deadline:
        time.sleep(interval)
        current = metrics(server, token)
    if what and not ok(current):
        raise AssertionError(f"{what}: {current}\n{server.logs()}")
    return current
