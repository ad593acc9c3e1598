"""Fixtures for the web UI tests: a built UI, a running flowpbx, and real Chromium.

- ``web_dist``: web/dist built (``make web`` builds it in ``make test``; when it is missing
  the fixture runs ``npm ci`` and ``npm run build`` itself).
- ``ui_server``: one ``flowpbx serve`` (tests/e2e/server.py) for the session, configured with
  a small company, an admin ``admin`` / ``pw-admin-1`` and a viewer ``watcher``; webhooks
  may reach loopback addresses (FLOWPBX_HTTP_ALLOW_PRIVATE=1, for the "test request" button).
- ``browser``: Debian's Chromium (/usr/bin/chromium) driven by Playwright, headless.
- ``page``: a fresh browser context and page (1920x1080); ``logged_in`` signs in first.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.server import FlowpbxServer

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
# Screenshots land in the git-ignored build folder; `make screenshots` copies them to docs/.
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ADMIN = ("admin", "pw-admin-1")

COMPANY: dict[str, Any] = {
    "extensions": [
        {"number": "101", "name": "Alice", "password": "s3cret-101-web", "mailbox": "100"},
        {"number": "102", "name": "Bob", "password": "s3cret-102-web"},
    ],
    "trunks": [{"name": "provider", "host": "127.0.0.1", "port": 5070, "transport": "udp"}],
    "numbers": [{"number": "+37167000001", "trunk": "provider"}],
    "mailboxes": [{"number": "100", "name": "Main", "pin": "1234"}],
    "schedules": [
        {
            "name": "office",
            "timezone": "Europe/Riga",
            "hours": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": ["2026-12-25"],
        }
    ],
}

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def web_dist() -> Path:
    index = WEB / "dist" / "index.html"
    if not index.is_file():
        npm = shutil.which("npm")
        assert npm, "npm is needed to build the web UI"
        if not (WEB / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
        subprocess.run([npm, "run", "build"], cwd=WEB, check=True)
    return index.parent


@pytest.fixture(scope="session")
def ui_server(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowpbxServer]:
    env = {
        "FLOWPBX_WEB_DIR": str(web_dist),
        # the "test request" button reaches a local HTTP server in the tests
        "FLOWPBX_HTTP_ALLOW_PRIVATE": "1",
    }
    server = FlowpbxServer(tmp_path_factory.mktemp("web"), COMPANY, extra_env=env)
    try:
        server.start()
        server.cli("user", "create", ADMIN[0], "--password", ADMIN[1], "--role", "admin")
        server.cli("user", "create", "watcher", "--password", "pw-viewer-1", "--role", "viewer")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert os.path.exists(CHROMIUM), "Chromium missing: run `make sysdeps`"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, ui_server: FlowpbxServer) -> Iterator[Page]:
    context = browser.new_context(base_url=ui_server.http, viewport={"width": 1920, "height": 1080})
    p = context.new_page()
    try:
        yield p
    finally:
        context.close()


def api_token(page: Page, user: str = ADMIN[0], password: str = ADMIN[1]) -> str:
    """A bearer token for setting things up over the API beside the browser."""
    r = page.request.post("/api/v1/auth/login", data={"username": user, "password": password})
    assert r.ok, r.text()
    token: str = r.json()["token"]
    return token


def login(page: Page, user: str = ADMIN[0], password: str = ADMIN[1]) -> None:
    page.goto("/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


@pytest.fixture
def logged_in(page: Page) -> Page:
    login(page)
    return page


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def tone_wav(path: Path, freq: float = 440.0, seconds: float = 1.0) -> Path:
    rate = 8000
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * i / rate)))
        for i in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path
