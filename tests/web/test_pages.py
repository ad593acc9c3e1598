"""Login and the admin pages in real Chromium against a running flowpbx (issue 9)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.baresip import Baresip
from tests.e2e.server import FlowpbxServer
from tests.web.conftest import ADMIN, api_token, login, screenshot, tone_wav


def test_login_rejects_a_wrong_password_then_signs_in(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to flowpbx")).to_be_visible()
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password")
    screenshot(page, "login")
    page.get_by_label("Password").fill("pw-admin-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Call flows")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("admin · admin")
    # A reload keeps the session; a deep link falls back to the app.
    page.goto("/some/deep/link#/extensions")
    expect(page.get_by_role("heading", name="Extensions")).to_be_visible()


def test_extensions_page_lists_the_company(logged_in: Page) -> None:
    page = logged_in
    page.get_by_role("link", name="Extensions").click()
    expect(page.get_by_test_id("row-101")).to_contain_text("Alice")
    expect(page.get_by_test_id("state-101")).to_have_text("not registered")
    screenshot(page, "extensions")


def test_audio_library_upload_with_progress_and_play(logged_in: Page, tmp_path: Path) -> None:
    page = logged_in
    page.get_by_role("link", name="Audio library").click()
    expect(page.get_by_test_id("row-greeting")).to_contain_text("built-in")
    page.get_by_label("Name", exact=True).fill("welcome-tone")
    page.get_by_label("File").set_input_files(str(tone_wav(tmp_path / "welcome.wav", 660.0)))
    page.get_by_role("button", name="Upload audio").click()
    row = page.get_by_test_id("row-welcome-tone")
    expect(row).to_contain_text("1.0 s")
    row.get_by_role("button", name="Play welcome-tone").click()
    player = page.get_by_test_id("player-welcome-tone")
    expect(player).to_be_visible()
    # The browser fetched and decoded the converted file: it knows its length.
    page.wait_for_function(
        "el => el.readyState >= 1 && Math.abs(el.duration - 1.0) < 0.05",
        arg=player.element_handle(),
    )
    screenshot(page, "audio-library")
    # Garbage is refused with the API's message shown beside the form.
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 100)
    page.get_by_label("Name", exact=True).fill("junk")
    page.get_by_label("File").set_input_files(str(junk))
    page.get_by_role("button", name="Upload audio").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_test_id("row-junk")).to_have_count(0)
    # An upload no flow uses can be deleted; built-in samples have no delete button.
    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("row-welcome-tone")).to_have_count(0)
    builtin = page.get_by_test_id("row-greeting")
    expect(builtin.get_by_role("button", name="Delete")).to_have_count(0)


def test_viewer_sees_no_edit_controls(page: Page) -> None:
    admin = page.request.post(
        "/api/v1/auth/login", data={"username": ADMIN[0], "password": ADMIN[1]}
    )
    token = admin.json()["token"]
    made = page.request.post(
        "/api/v1/flows",
        data={"name": "Viewer check", "entry": "start", "nodes": {}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert made.status == 201, made.text()
    page.context.clear_cookies()
    login(page, "watcher", "pw-viewer-1")
    expect(page.get_by_role("button", name="Viewer check")).to_be_visible()
    expect(page.get_by_label("New flow name")).to_have_count(0)
    page.get_by_role("button", name="Viewer check").click()
    expect(page.get_by_role("heading", name="Viewer check")).to_be_visible()
    expect(page.get_by_role("button", name="Validate")).to_be_visible()
    expect(page.get_by_role("navigation", name="Elements")).to_have_count(0)
    expect(page.get_by_role("button", name="Publish")).to_have_count(0)
    expect(page.get_by_role("button", name="Save draft")).to_have_count(0)
    page.get_by_role("link", name="Extensions").click()
    expect(page.get_by_test_id("row-101")).to_be_visible()
    expect(page.get_by_role("button", name="Create")).to_have_count(0)


def test_registration_and_active_call_show_live(logged_in: Page, ui_server: FlowpbxServer) -> None:
    page = logged_in
    page.get_by_role("link", name="Extensions").click()
    expect(page.get_by_test_id("state-101")).to_have_text("not registered")
    workdir = ui_server.root
    with (
        Baresip(
            workdir, name="alice", user="101", registrar=ui_server.sip, password="s3cret-101-web"
        ) as alice,
        Baresip(
            workdir, name="bob", user="102", registrar=ui_server.sip, password="s3cret-102-web"
        ) as bob,
    ):
        alice.wait_registered()
        bob.wait_registered()
        expect(page.get_by_test_id("state-101")).to_have_text("registered")
        expect(page.get_by_test_id("row-101")).to_contain_text("baresip")
        screenshot(page, "extensions-registered")

        page.get_by_role("link", name="Active calls").click()
        expect(page.get_by_role("heading", name="Active calls")).to_be_visible()
        alice.dial(f"sip:102@127.0.0.1:{ui_server.sip_port}")
        bob.wait_event("CALL_ESTABLISHED")
        row = page.locator("tbody tr").filter(has_text="102")
        expect(row).to_have_count(1)
        screenshot(page, "active-calls")
        row.get_by_role("button", name="Hang up").click()
        bob.wait_event("CALL_CLOSED")
        expect(page.locator("tbody tr").filter(has_text="102")).to_have_count(0)
        # The ended call is in the call history, with its trace.
        page.get_by_role("link", name="Call history").click()
        call = page.locator("tbody tr").filter(has_text="Alice 101").first
        expect(call).to_contain_text("102")
        expect(call).to_contain_text("Internal")  # the direction (pbx/call/parties.py)
        call.get_by_role("button", name="Trace").click()
        expect(page.get_by_role("region", name="Trace")).to_be_visible()
        screenshot(page, "call-history")


_ADD_MESSAGE = """
import asyncio, sys
from pathlib import Path
from flowpbx.store.db import Store

async def main(data: str) -> None:
    url = f"sqlite+aiosqlite:///{Path(data, 'flowpbx.db')}"
    async with Store(url, Path(data)) as store:
        await store.add_voicemail(mailbox="100", file="voicemail/100/ui-test.wav",
                                  caller="+37129999999", caller_name="Carol", duration_s=1.0)

asyncio.run(main(sys.argv[1]))
"""


def test_voicemail_inbox_plays_a_message_in_the_browser(
    logged_in: Page, ui_server: FlowpbxServer
) -> None:
    # A message as the voicemail element leaves it: a WAV under the data dir plus its row
    # (written through the store, the same call the element makes).
    wav = ui_server.data_dir / "voicemail" / "100" / "ui-test.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    tone_wav(wav, 500.0)
    subprocess.run(
        [sys.executable, "-c", _ADD_MESSAGE, str(ui_server.data_dir)], check=True, timeout=60
    )
    page = logged_in
    page.get_by_role("link", name="Voicemail").click()
    expect(page.get_by_label("Mailbox", exact=True)).to_have_value("100")
    row = page.locator("tbody tr").filter(has_text="Carol")
    expect(row).to_contain_text("+37129999999")
    expect(row).to_contain_text("no")
    row.get_by_role("button", name="Play message").click()
    player = row.locator("audio")
    page.wait_for_function(
        "el => el.readyState >= 1 && Math.abs(el.duration - 1.0) < 0.05",
        arg=player.element_handle(),
    )
    expect(row).to_contain_text("yes")  # playing marks it heard
    expect(row.get_by_role("link", name="Download")).to_have_attribute(
        "download", re.compile(r"voicemail-\d+\.wav")
    )
    screenshot(page, "voicemail")
    row.get_by_role("button", name="Delete").click()
    expect(page.locator("tbody tr").filter(has_text="Carol")).to_have_count(0)


def test_office_hours_week_and_holidays_are_saved(logged_in: Page) -> None:
    page = logged_in
    page.get_by_role("link", name="Office hours").click()
    form = page.get_by_role("form", name="Schedule office")
    expect(form.get_by_label("office hours on mon")).to_have_value("09:00-18:00")
    form.get_by_label("office hours on sat").fill("10:00-14:00")
    form.get_by_label("Holidays").fill("2026-12-25\n2026-12-31 09:00-13:00")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_role("status")).to_have_text("Saved")
    saved = page.request.get("/api/v1/schedules/office").json()
    assert saved["hours"]["sat"] == [["10:00", "14:00"]]
    assert saved["hours"]["mon"] == [["09:00", "18:00"]]
    assert saved["holidays"] == [
        "2026-12-25",
        {"date": "2026-12-31", "hours": [["09:00", "13:00"]]},
    ]
    screenshot(page, "office-hours")
    # A time that is not a time is refused with the API's message beside the form.
    form.get_by_label("office hours on sun").fill("25:00-26:00")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_role("alert")).to_be_visible()

    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_test_id("tile-registered")).to_contain_text("/ 2")
    expect(page.get_by_test_id("tile-calls")).to_contain_text("active calls")
    screenshot(page, "dashboard")


def test_queues_page_shows_a_published_flows_queue(logged_in: Page) -> None:
    page = logged_in
    token = api_token(page)
    doc = {
        "name": "Support line",
        "entry": "start",
        "nodes": {
            "start": {"type": "numbers", "params": {"numbers": []}, "next": {"next": "help"}},
            "help": {
                "type": "queue",
                "params": {"name": "support", "members": ["101", "102"], "strategy": "linear"},
            },
        },
    }
    r = page.request.post(
        "/api/v1/flows/import", data=doc, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.ok, r.text()
    page.get_by_role("link", name="Queues").click()
    row = page.get_by_test_id("row-support")
    expect(row).to_contain_text("linear")
    expect(row).to_contain_text("101")
    expect(row).to_contain_text("102")
