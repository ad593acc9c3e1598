"""The bugs a new admin met in the browser (issue 25, "Bugs found"), each in real Chromium
against a running flowpbx: unsaved flow edits, what a live call does, supervisor actions,
stale banners, readable validation errors, the simulator's time zone and endings, and the
canvas from the keyboard (placement, focus outline) and at 1600 px."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from tests.e2e.baresip import Baresip
from tests.e2e.server import FlowpbxServer
from tests.web.conftest import api_token, login, screenshot


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_flow(page: Page, name: str, nodes: dict[str, Any], layout: dict[str, Any]) -> None:
    token = api_token(page)
    doc = {"name": name, "entry": next(iter(nodes)), "nodes": nodes, "layout": layout}
    r = page.request.post("/api/v1/flows", data=doc, headers=bearer(token))
    assert r.status == 201, r.text()


def drop_flow(page: Page, name: str) -> None:
    token = api_token(page)
    page.request.delete(f"/api/v1/flows/{urllib.parse.quote(name)}", headers=bearer(token))


def open_flow(page: Page, name: str) -> None:
    page.goto(f"/#/flows/{urllib.parse.quote(name)}")
    expect(page.get_by_role("heading", name=name)).to_be_visible()


RING = {
    "start": {"type": "numbers", "params": {"numbers": []}, "next": {"next": "ring"}},
    "ring": {"type": "call_sip", "params": {"extension": "101", "ring_timeout_s": 20}, "next": {}},
}
RING_LAYOUT = {"start": {"x": 0, "y": 0}, "ring": {"x": 300, "y": 0}}


def _wait_for_answers(page: Page, asked: list[str], count: int) -> None:
    """The page's dialogs reach this side a moment after the click that raised them (the
    page may already look as it will): wait, pumping Playwright's events, until `count`
    were answered or 10 s pass (the assertion after says what was seen)."""
    for _ in range(200):
        if len(asked) >= count:
            return
        page.wait_for_timeout(50)


def test_unsaved_flow_edits_ask_before_a_sidebar_link_or_closing(logged_in: Page) -> None:
    page = logged_in
    make_flow(page, "Unsaved edits", RING, RING_LAYOUT)
    try:
        open_flow(page, "Unsaved edits")
        page.get_by_test_id("node-ring").locator(".el-head").click()
        page.locator("#f-ring_timeout_s").fill("35")
        expect(page.get_by_text("unsaved changes")).to_be_visible()

        asked: list[str] = []

        def dismiss(d: Dialog) -> None:
            asked.append(d.message)
            d.dismiss()

        page.once("dialog", dismiss)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Extensions").click()
        expect(page.get_by_role("heading", name="Unsaved edits")).to_be_visible()
        _wait_for_answers(page, asked, len(["This flow has unsaved changes. Leave and lose them?"]))
        assert asked == ["This flow has unsaved changes. Leave and lose them?"]
        expect(page.locator("#f-ring_timeout_s")).to_have_value("35")  # the edit is still there

        # Closing the tab asks too (the browser's own "leave site?" question).
        with page.expect_event("dialog") as info:
            page.close(run_before_unload=True)
        dialog = info.value
        assert dialog.type == "beforeunload"
        dialog.dismiss()
        expect(page.locator("#f-ring_timeout_s")).to_have_value("35")
    finally:
        drop_flow(page, "Unsaved edits")


def test_saved_flow_leaves_without_asking_and_leaving_is_confirmed(logged_in: Page) -> None:
    page = logged_in
    make_flow(page, "Leave me", RING, RING_LAYOUT)
    try:
        open_flow(page, "Leave me")
        page.get_by_test_id("node-ring").locator(".el-head").click()
        page.locator("#f-ring_timeout_s").fill("40")
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("link", name="Extensions").click()
        expect(page.get_by_role("heading", name="Extensions")).to_be_visible()
        # Nothing changed: no question at all (a dialog would fail the click's wait).
        open_flow(page, "Leave me")
        asked: list[str] = []
        page.on("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        page.get_by_role("link", name="Extensions").click()
        expect(page.get_by_role("heading", name="Extensions")).to_be_visible()
        _wait_for_answers(page, asked, len([]))
        assert asked == []
    finally:
        drop_flow(page, "Leave me")


def test_browser_back_and_forward_ask_before_losing_unsaved_flow_edits(logged_in: Page) -> None:
    page = logged_in
    make_flow(page, "Back guard", RING, RING_LAYOUT)
    token = api_token(page)
    flow_url = "/api/v1/flows/" + urllib.parse.quote("Back guard")
    leave = "This flow has unsaved changes. Leave and lose them?"

    def ring_timeout() -> Any:
        r = page.request.get(flow_url, headers=bearer(token))
        assert r.ok, r.text()
        return r.json()["draft"]["nodes"]["ring"]["params"]["ring_timeout_s"]

    # Every question is recorded and answered with the next planned answer.
    asked: list[str] = []
    answers: list[bool] = []

    def answer(d: Dialog) -> None:
        asked.append(d.message)
        if answers.pop(0):
            d.accept()
        else:
            d.dismiss()

    page.on("dialog", answer)

    def edit_ring_timeout(value: str) -> None:
        page.get_by_test_id("node-ring").locator(".el-head").click()
        page.locator("#f-ring_timeout_s").fill(value)
        expect(page.get_by_text("unsaved changes")).to_be_visible()

    try:
        page.get_by_role("link", name="Extensions").click()
        expect(page.get_by_role("heading", name="Extensions")).to_be_visible()
        open_flow(page, "Back guard")
        edit_ring_timeout("35")

        # Back, then "stay": the editor, its address and the edit remain, nothing saved.
        answers.append(False)
        page.go_back()
        expect(page.locator("#f-ring_timeout_s")).to_have_value("35")
        _wait_for_answers(page, asked, len([leave]))
        assert asked == [leave]
        expect(page.get_by_role("heading", name="Back guard")).to_be_visible()
        assert "#/flows/Back%20guard" in page.url
        assert ring_timeout() == 20

        # Saved: Back leaves without a question, and the server has the edit.
        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_role("status")).to_have_text("Draft saved")
        assert ring_timeout() == 35
        page.go_back()
        expect(page.get_by_role("heading", name="Extensions")).to_be_visible()
        _wait_for_answers(page, asked, len([leave]))
        assert asked == [leave]

        # Forward into the flow (clean: no question), on to a page, back to the flow, edit.
        page.go_forward()
        expect(page.get_by_role("heading", name="Back guard")).to_be_visible()
        page.get_by_role("link", name="Extensions").click()
        expect(page.get_by_role("heading", name="Extensions")).to_be_visible()
        page.go_back()
        expect(page.locator("#f-ring_timeout_s")).to_have_count(0)
        edit_ring_timeout("60")
        _wait_for_answers(page, asked, len([leave]))
        assert asked == [leave]

        # Forward asks too: "stay" keeps the edit; "leave" drops it and shows the next page.
        answers.append(False)
        page.go_forward()
        expect(page.locator("#f-ring_timeout_s")).to_have_value("60")
        _wait_for_answers(page, asked, len([leave, leave]))
        assert asked == [leave, leave]
        expect(page.get_by_role("heading", name="Back guard")).to_be_visible()
        answers.append(True)
        page.go_forward()
        expect(page.get_by_role("heading", name="Extensions")).to_be_visible()
        _wait_for_answers(page, asked, len([leave, leave, leave]))
        assert asked == [leave, leave, leave]
        assert ring_timeout() == 35

        # The editor's own "back to flows" button goes through the same question.
        open_flow(page, "Back guard")
        edit_ring_timeout("70")
        answers.append(False)
        page.get_by_role("button", name="Back to flows").click()
        expect(page.locator("#f-ring_timeout_s")).to_have_value("70")
        _wait_for_answers(page, asked, len([leave] * 4))
        assert asked == [leave] * 4
        answers.append(True)
        page.get_by_role("button", name="Back to flows").click()
        expect(page.get_by_role("heading", name="Call flows")).to_be_visible()
        _wait_for_answers(page, asked, len([leave] * 5))
        assert asked == [leave] * 5
        assert ring_timeout() == 35
    finally:
        drop_flow(page, "Back guard")


def test_active_call_in_voicemail_says_so_and_supervisor_actions_say_why(
    logged_in: Page, ui_server: FlowpbxServer
) -> None:
    page = logged_in
    page.get_by_role("link", name="Active calls").click()
    expect(page.get_by_role("heading", name="Active calls")).to_be_visible()
    with Baresip(
        ui_server.root,
        name="alice-vm",
        user="101",
        registrar=ui_server.sip,
        password="s3cret-101-web",
    ) as alice:
        alice.wait_registered()
        alice.dial(f"sip:*97@127.0.0.1:{ui_server.sip_port}")  # her mailbox, asking the PIN
        row = page.locator("tbody tr").filter(has_text="*97")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("In voicemail (box 100)")
        expect(row).not_to_contain_text("ringing")
        listen = row.get_by_role("button", name="listen")
        expect(listen).to_be_disabled()
        hint = "Listen, whisper and barge need a supervisor extension"
        expect(page.locator("#supervisor-hint")).to_contain_text(hint)
        expect(listen).to_have_attribute("title", re.compile("^" + re.escape(hint)))
        page.get_by_label("Supervisor extension").fill("102")
        expect(listen).to_be_enabled()
        expect(page.locator("#supervisor-hint")).to_have_text(
            "Listen, whisper and barge ring extension 102 first."
        )
        screenshot(page, "active-calls-voicemail")
        row.get_by_role("button", name="Hang up").click()
        expect(page.locator("tbody tr").filter(has_text="*97")).to_have_count(0)


def test_schedule_errors_are_sentences_by_their_field_and_clear_after_saving(
    logged_in: Page,
) -> None:
    page = logged_in
    page.get_by_role("link", name="Office hours").click()
    office = page.get_by_role("form", name="Schedule office")
    monday = office.get_by_label("office hours on mon")
    monday.fill("9 to 5")
    office.get_by_role("button", name="Save").click()
    expect(office.get_by_test_id("problem-mon")).to_have_text("Enter a range like 09:00-17:00")
    expect(office.get_by_role("alert")).to_have_text("Not saved: correct the fields marked below.")
    expect(monday).to_have_attribute("aria-invalid", "true")
    monday.fill("9-5")
    office.get_by_role("button", name="Save").click()
    expect(office.get_by_test_id("problem-mon")).to_have_text("Enter a time like 09:00")
    for raw in ("body.", "pattern", "items", "HH:MM"):
        expect(office).not_to_contain_text(raw)
    monday.fill("09:00-17:00")
    office.get_by_role("button", name="Save").click()
    expect(office.get_by_role("status")).to_have_text("Saved")
    expect(office.get_by_role("alert")).to_have_count(0)  # the old error went with the success
    expect(office.get_by_test_id("problem-mon")).to_have_count(0)
    office.get_by_label("office hours on mon").fill("09:00-18:00")
    office.get_by_role("button", name="Save").click()
    expect(office.get_by_role("status")).to_have_text("Saved")


def test_server_and_schema_errors_read_as_sentences(logged_in: Page) -> None:
    page = logged_in
    # The flow name: the server's pattern, as a sentence.
    page.get_by_label("New flow name").fill("a/b")
    page.get_by_role("button", name="New flow").click()
    expect(page.get_by_role("alert")).to_have_text("Name: Do not use / or control characters")
    # An element's setting: the schema's pattern, as a sentence next to the field.
    dial_out = {
        "start": RING["start"],
        "ring": {"type": "call_phone", "params": {"number": "+37120000000"}, "next": {}},
    }
    make_flow(page, "Sentences", dial_out, RING_LAYOUT)
    try:
        open_flow(page, "Sentences")
        page.get_by_test_id("node-ring").locator(".el-head").click()
        page.locator("#f-number").fill("1")
        panel = page.get_by_role("complementary", name="Settings")
        expect(panel.locator("#f-number-problem")).to_have_text(
            "Enter a phone number like +37167000001"
        )
        expect(page.get_by_test_id("problems")).not_to_contain_text("pattern")
        # A failing save, then a successful one: the error banner goes.
        page.route(
            "**/api/v1/flows/Sentences",
            lambda route: (
                route.fulfill(
                    status=503,
                    json={
                        "error": {"id": "database-error", "message": "try again", "details": None}
                    },
                )
                if route.request.method == "PUT"
                else route.fallback()
            ),
        )
        page.locator("#f-number").fill("+37120000001")
        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_role("alert").filter(has_text="try again")).to_be_visible()
        page.unroute("**/api/v1/flows/Sentences")
        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_role("status").filter(has_text="Draft saved")).to_be_visible()
        expect(page.get_by_role("alert").filter(has_text="try again")).to_have_count(0)
    finally:
        drop_flow(page, "Sentences")


@pytest.fixture
def tokyo(logged_in: Page) -> Iterator[Page]:
    """The company's time zone set to Asia/Tokyo for the test (then back)."""
    token = api_token(logged_in)
    before = logged_in.request.get("/api/v1/settings", headers=bearer(token)).json()["timezone"]
    r = logged_in.request.put(
        "/api/v1/settings", data={"timezone": "Asia/Tokyo"}, headers=bearer(token)
    )
    assert r.ok, r.text()
    try:
        yield logged_in
    finally:
        logged_in.request.put("/api/v1/settings", data={"timezone": before}, headers=bearer(token))


def test_simulator_reads_times_in_the_company_zone_and_answered_is_no_problem(
    tokyo: Page, browser: Browser, ui_server: FlowpbxServer
) -> None:
    nodes = {
        "start": {"type": "numbers", "params": {"numbers": []}, "next": {"next": "hours"}},
        "hours": {
            "type": "time_routing",
            "params": {"schedule": "office"},
            "next": {"true": "ring", "false": "bye"},
        },
        "ring": {"type": "call_sip", "params": {"extension": "101"}, "next": {}},
        "bye": {"type": "hangup", "params": {}, "next": {}},
    }
    layout = {n: {"x": i * 260, "y": 0} for i, n in enumerate(nodes)}
    make_flow(tokyo, "Zones", nodes, layout)
    # A browser in New York: the typed time must still mean Tokyo time.
    context = browser.new_context(
        base_url=ui_server.http,
        viewport={"width": 1920, "height": 1080},
        timezone_id="America/New_York",
    )
    page = context.new_page()
    try:
        login(page)
        open_flow(page, "Zones")
        page.get_by_role("button", name="Simulate").click()
        panel = page.get_by_role("complementary", name="Simulate a call")
        at = panel.get_by_label("Date and time (Asia/Tokyo, the company's time zone)")
        # Wednesday 16:30 in Tokyo is 09:30 in Riga: the office (Europe/Riga 09-18) is open.
        at.fill("2026-12-02T16:30")
        panel.get_by_label("Who answers", exact=False).fill("101=answered")
        panel.get_by_role("button", name="Run simulation").click()
        expect(page.get_by_test_id("sim-trace")).to_contain_text("hours → true")
        summary = page.get_by_test_id("sim-summary")
        expect(summary).to_contain_text("answered by 101; the call ends when either side hangs up")
        expect(summary).not_to_contain_text("not connected")
        expect(summary).to_have_attribute("role", "status")  # not an alert: nothing is wrong
        expect(panel).to_contain_text("Times are in Asia/Tokyo")
        # 08:30 Tokyo is 01:30 in Riga: closed, and the hang-up is an ordinary ending.
        at.fill("2026-12-02T08:30")
        panel.get_by_role("button", name="Run simulation").click()
        expect(page.get_by_test_id("sim-trace")).to_contain_text("hours → false")
        expect(page.get_by_test_id("sim-summary")).to_have_attribute("role", "status")
    finally:
        context.close()
        drop_flow(tokyo, "Zones")


def test_keyboard_added_elements_spread_out_and_focused_nodes_show_it(logged_in: Page) -> None:
    page = logged_in
    page.get_by_label("New flow name").fill("Keyboard spread")
    page.get_by_role("button", name="New flow").click()
    expect(page.get_by_role("heading", name="Keyboard spread")).to_be_visible()
    try:
        for el in ("play", "hangup", "call_sip", "voicemail"):
            page.get_by_test_id(f"palette-{el}").focus()
            page.keyboard.press("Enter")
        nodes = page.locator(".react-flow__node")
        expect(nodes).to_have_count(4)
        boxes = [nodes.nth(i).bounding_box() for i in range(4)]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a and b
                apart = (
                    a["x"] + a["width"] <= b["x"]
                    or b["x"] + b["width"] <= a["x"]
                    or a["y"] + a["height"] <= b["y"]
                    or b["y"] + b["height"] <= a["y"]
                )
                assert apart, f"elements overlap: {a} {b}"
        # Focus from the keyboard: the focused element has a visible outline.
        page.get_by_test_id("palette-voicemail").focus()
        page.keyboard.press("Tab")
        focused = page.locator(".react-flow__node:focus-visible")
        for _ in range(30):
            if focused.count():
                break
            page.keyboard.press("Tab")
        expect(focused).to_have_count(1)
        style = focused.evaluate(
            "el => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth]; }"
        )
        assert style[0] != "none" and style[1] != "0px", style
        screenshot(page, "editor-keyboard-focus")
    finally:
        page.request.delete(
            "/api/v1/flows/" + urllib.parse.quote("Keyboard spread"),
            headers=bearer(api_token(page)),
        )


def test_the_editor_toolbar_fits_one_row_at_1600_px(
    browser: Browser, ui_server: FlowpbxServer
) -> None:
    context = browser.new_context(base_url=ui_server.http, viewport={"width": 1600, "height": 900})
    page = context.new_page()
    try:
        login(page)
        make_flow(page, "Office line with a long name", RING, RING_LAYOUT)
        open_flow(page, "Office line with a long name")
        page.get_by_test_id("node-ring").locator(".el-head").click()
        page.locator("#f-ring_timeout_s").fill("25")  # "unsaved changes" shown too
        toolbar = page.get_by_role("toolbar", name="Flow editor")
        expect(toolbar.get_by_role("button", name="Publish")).to_be_visible()
        tops = toolbar.evaluate(
            "t => [...t.querySelectorAll('button, input')]"
            ".map(e => Math.round(e.getBoundingClientRect().top))"
        )
        assert max(tops) - min(tops) <= 6, tops  # one row
        fits = toolbar.evaluate("t => t.scrollWidth <= t.clientWidth")
        assert fits, "the toolbar scrolls: something is cut off at 1600 px"
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("link", name="Call flows").click()
    finally:
        drop_flow(page, "Office line with a long name")
        context.close()
