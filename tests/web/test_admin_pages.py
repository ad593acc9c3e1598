"""The HTTP "test request" button, "Copy SIP settings", the users page and the audio
waveform, in real Chromium against a running flowpbx (issue 9)."""

from __future__ import annotations

import math
import re
import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.baresip import Baresip
from tests.e2e.server import FlowpbxServer
from tests.services.conftest import WebPeer, web
from tests.web.conftest import api_token, login, screenshot

__all__ = ["web"]  # the local HTTP server fixture, used by name


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def crm_flow(logged_in: Page, web: WebPeer) -> Iterator[str]:
    """A draft flow whose webhook and lookup point at the local HTTP server."""
    name = "CRM check"
    doc = {
        "name": name,
        "entry": "start",
        "nodes": {
            "start": {"type": "numbers", "params": {"numbers": []}, "next": {"next": "who"}},
            "who": {
                "type": "caller_lookup",
                "params": {"url": web.url("/name/{caller}")},
                "next": {"next": "hook"},
            },
            "hook": {
                "type": "http_notify",
                "params": {"url": web.url("/reply/2"), "method": "POST"},
                "next": {"2": "bye", "default": "bye"},
            },
            "bye": {"type": "hangup", "params": {}, "next": {}},
        },
    }
    token = api_token(logged_in)
    r = logged_in.request.post("/api/v1/flows", data=doc, headers=bearer(token))
    assert r.status == 201, r.text()
    try:
        yield name
    finally:
        logged_in.request.delete(f"/api/v1/flows/{name}", headers=bearer(token))


def test_http_test_request_button(logged_in: Page, web: WebPeer, crm_flow: str) -> None:
    page = logged_in
    web.names["+37120000077"] = "Anna Berzina"
    page.reload()  # the list was loaded before the fixture made the flow
    page.get_by_role("button", name=crm_flow).click()
    expect(page.get_by_role("heading", name=crm_flow)).to_be_visible()

    page.get_by_test_id("node-hook").locator(".el-head").click()
    panel = page.get_by_role("complementary", name="Settings")
    test = panel.get_by_role("region", name="Test request")
    test.get_by_role("button", name="Send test request").click()
    result = test.get_by_test_id("test-result")
    expect(result).to_contain_text(re.compile(r"HTTP 200 · \d+ ms · → output 2"))
    expect(result.get_by_test_id("test-body")).to_have_text("2")
    expect(result).to_contain_text(f"POST {web.url('/reply/2')}")
    got = web.wait_request()
    assert got.method == "POST" and got.path == "/reply/2"
    assert got.json()["caller"] == "+15555550100"  # the sample caller
    assert got.json()["flow"] == crm_flow
    screenshot(page, "editor-test-request")

    # The caller name lookup, with a sample caller the server knows.
    page.get_by_test_id("node-who").locator(".el-head").click()
    test = panel.get_by_role("region", name="Test request")
    test.get_by_label("Sample caller number").fill("+37120000077")
    test.get_by_role("button", name="Send test request").click()
    expect(test.get_by_test_id("test-caller-name")).to_have_text("Anna Berzina")
    expect(test.get_by_test_id("test-result")).to_contain_text("HTTP 200")
    assert web.wait_request().path == "/name/%2B37120000077"
    # A caller the server does not know: 404, no name, the flow goes on.
    test.get_by_label("Sample caller number").fill("+1000")
    test.get_by_role("button", name="Send test request").click()
    expect(test.get_by_test_id("test-result")).to_contain_text("HTTP 404 · ")
    expect(test.get_by_test_id("test-caller-name")).to_have_count(0)


def test_copy_sip_settings_registers_a_real_phone(
    logged_in: Page, ui_server: FlowpbxServer
) -> None:
    page = logged_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_server.http)
    token = api_token(page)
    page.get_by_role("link", name="Extensions").click()
    page.get_by_label("Number", exact=True).fill("150")
    page.get_by_label("Name", exact=True).fill("Carol")
    page.get_by_role("button", name="Create").click()
    try:
        banner = page.get_by_role("status").filter(has_text="Extension 150 created")
        banner.get_by_role("button", name="Copy SIP settings").click()
        shown = page.get_by_test_id("sip-settings")
        expect(shown).to_contain_text("SIP settings for extension 150 (Carol)")
        expect(page.get_by_text("Copied to the clipboard")).to_be_visible()
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == shown.inner_text()
        fields = dict(line.split(": ", 1) for line in copied.splitlines()[1:])
        assert fields["Server"] == "127.0.0.1"
        assert fields["Port"] == str(ui_server.sip_port)
        assert fields["Transport"] == "UDP / TCP"
        assert fields["User name"] == "150" and fields["Domain"] == "127.0.0.1"
        password = fields["Password"]
        assert len(password) >= 12 and " " not in password
        screenshot(page, "extensions-copy-sip")

        # What was copied is enough for a real phone to register.
        with Baresip(
            ui_server.root,
            name="carol",
            user=fields["User name"],
            registrar=(fields["Server"], int(fields["Port"])),
            password=password,
        ) as phone:
            phone.wait_registered()
            expect(page.get_by_test_id("state-150")).to_have_text("registered")

        # Later (after a reload) the password is never shown again.
        page.reload()
        page.get_by_role("button", name="Copy SIP settings of 150").click()
        expect(page.get_by_test_id("sip-settings")).to_contain_text("Password: (not shown again")
        later = page.evaluate("() => navigator.clipboard.readText()")
        assert "SIP settings for extension 150 (Carol)" in later
        assert password not in later
        assert "Password: (not shown again" in later
    finally:
        page.request.delete("/api/v1/extensions/150", headers=bearer(token))


def test_users_page_creates_a_viewer_who_sees_no_edit_controls(
    logged_in: Page, ui_server: FlowpbxServer, browser: Browser
) -> None:
    page = logged_in
    page.on("dialog", lambda d: d.accept())
    token = api_token(page)
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_test_id("row-user-admin")).to_contain_text("(you)")
    expect(
        page.get_by_test_id("row-user-admin").get_by_role("button", name="Delete")
    ).to_have_count(0)
    form = page.get_by_role("form", name="Add user")
    form.get_by_label("User name").fill("reader1")
    form.get_by_label("Password").fill("short")
    form.get_by_label("Role").select_option("viewer")
    try:
        # The browser's own check first (10 characters), then the API's answer.
        form.get_by_role("button", name="Add user").click()
        expect(page.get_by_test_id("row-user-reader1")).to_have_count(0)
        form.get_by_label("Password").fill("reader-pass-1")
        form.get_by_role("button", name="Add user").click()
        row = page.get_by_test_id("row-user-reader1")
        expect(row).to_contain_text("viewer")
        expect(page.get_by_role("status")).to_have_text("User reader1 added")
        # A taken name: the API's message where the form is.
        form.get_by_label("User name").fill("reader1")
        form.get_by_label("Password").fill("another-pass")
        form.get_by_role("button", name="Add user").click()
        expect(page.get_by_role("alert")).to_contain_text("already exists")

        row.get_by_role("button", name="Reset password: reader1").click()
        row.get_by_label("New password for reader1").fill("reader-pass-2")
        row.get_by_role("button", name="Set password").click()
        expect(page.get_by_role("status")).to_contain_text("Password of reader1 changed")
        screenshot(page, "users")

        # The viewer signs in with the new password and sees no edit controls anywhere.
        viewer = browser.new_context(
            base_url=ui_server.http, viewport={"width": 1920, "height": 1080}
        )
        try:
            vp = viewer.new_page()
            login(vp, "reader1", "reader-pass-2")
            expect(vp.get_by_role("navigation", name="Main")).to_contain_text("reader1 · viewer")
            expect(vp.get_by_label("New flow name")).to_have_count(0)
            vp.get_by_role("link", name="Extensions").click()
            expect(vp.get_by_test_id("row-101")).to_be_visible()
            expect(vp.get_by_role("button", name="Create")).to_have_count(0)
            vp.get_by_role("link", name="Audio library").click()
            expect(vp.get_by_test_id("row-greeting")).to_be_visible()
            expect(vp.get_by_role("button", name="Upload audio")).to_have_count(0)
            expect(vp.get_by_role("button", name="Delete")).to_have_count(0)
            vp.get_by_role("link", name="Office hours").click()
            expect(vp.get_by_role("form", name="Schedule office")).to_be_visible()
            expect(vp.get_by_role("button", name="Save")).to_have_count(0)
            vp.get_by_role("link", name="Users").click()
            expect(vp.get_by_role("heading", name="Users")).to_be_visible()
            expect(vp.get_by_role("form", name="Add user")).to_have_count(0)
            expect(vp.get_by_role("button", name="Reset password")).to_have_count(0)
            expect(vp.get_by_label("Token name")).to_have_count(0)
            expect(vp.get_by_text("an admin manages users")).to_be_visible()
            screenshot(vp, "users-viewer")
        finally:
            viewer.close()

        row.get_by_role("button", name="Delete reader1").click()
        expect(page.get_by_test_id("row-user-reader1")).to_have_count(0)
        r = page.request.post(
            "/api/v1/auth/login", data={"username": "reader1", "password": "reader-pass-2"}
        )
        assert r.status == 401
    finally:
        page.request.delete("/api/v1/users/reader1", headers=bearer(token))


def tone_then_silence(path: Path, freq: float = 440.0) -> Path:
    """1 s of a tone, then 1 s of silence (8 kHz, 16-bit mono)."""
    rate = 8000
    tone = [int(12000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(rate)]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{rate}h", *tone) + b"\x00\x00" * rate)
    return path


def test_audio_waveform_shows_the_sound_and_the_silence(logged_in: Page, tmp_path: Path) -> None:
    page = logged_in
    token = api_token(page)
    page.get_by_role("link", name="Audio library").click()
    page.get_by_label("Name", exact=True).fill("half-silent")
    page.get_by_label("File").set_input_files(str(tone_then_silence(tmp_path / "half.wav")))
    page.get_by_role("button", name="Upload audio").click()
    row = page.get_by_test_id("row-half-silent")
    try:
        expect(row).to_contain_text("2.0 s")
        row.get_by_role("button", name="Play half-silent").click()
        wave_ = row.get_by_role("img", name="Waveform of half-silent")
        expect(wave_).to_be_visible()
        heights = [
            float(h)
            for h in wave_.locator("rect").evaluate_all(
                "rects => rects.map(r => r.getAttribute('height'))"
            )
        ]
        assert len(heights) == 120
        first, second = heights[:60], heights[60:]
        # the tone half is loud all along (but for the bar at the edge), the silent half flat
        assert min(first[:-1]) > 30, first
        assert max(second[1:]) <= 1, second
        # the player plays it; the waveform shades what has been played
        player = page.get_by_test_id("player-half-silent")
        page.wait_for_function(
            "el => el.readyState >= 1 && Math.abs(el.duration - 2.0) < 0.05",
            arg=player.element_handle(),
        )
        wave_.click(position={"x": 5, "y": 20})  # seek near the start; it keeps playing
        page.wait_for_function(
            "el => el.querySelectorAll('rect.played').length > 0", arg=wave_.element_handle()
        )
        screenshot(page, "audio-waveform")
    finally:
        page.request.delete("/api/v1/audio/half-silent", headers=bearer(token))


def test_settings_page_labels_and_save(logged_in: Page) -> None:
    page = logged_in
    page.get_by_role("link", name="Settings").click()
    retention = page.get_by_label("Keep call history (days)")
    expect(retention).to_have_value("365")
    expect(page.get_by_label("Record calls")).not_to_be_checked()
    retention.fill("400")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved")
    try:
        assert page.request.get("/api/v1/settings").json()["history_retention_days"] == 400
        screenshot(page, "settings")
        # A value the API refuses: its message where the form is, nothing saved.
        retention.fill("0")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("alert")).to_have_text(
            "Not saved: correct the fields marked below."
        )
        expect(page.locator("#s-history_retention_days-problem")).to_have_text("Enter 1 or more")
        assert page.request.get("/api/v1/settings").json()["history_retention_days"] == 400
    finally:
        r = page.request.put(
            "/api/v1/settings",
            data={"history_retention_days": 365},
            headers=bearer(api_token(page)),
        )
        assert r.ok, r.text()
