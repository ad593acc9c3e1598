"""Configuration made in the browser only (issue 25, "Everything configurable in the
browser"): mailboxes created, edited and deleted; extensions edited, their SIP password
reset (a real phone registers with the new one) and deleted; flows renamed, duplicated
and deleted. What the API refuses reads as a sentence next to the field, and deleting
something in use shows the API's answer: what uses it."""

from __future__ import annotations

import re
import urllib.parse

from playwright.sync_api import Page, expect

from tests.e2e.baresip import Baresip
from tests.e2e.server import FlowpbxServer
from tests.web.conftest import api_token, screenshot


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_mailboxes_are_created_edited_and_deleted_in_the_browser(logged_in: Page) -> None:
    page = logged_in
    page.get_by_role("link", name="Voicemail").click()
    boxes = page.get_by_role("region", name="Mailboxes")
    boxes.get_by_role("button", name="Add mailbox").click()
    form = page.get_by_role("form", name="Add mailbox")
    form.get_by_label("Mailbox number").fill("2")
    form.get_by_label("Name").fill("Support")
    form.get_by_label("PIN", exact=True).fill("12")
    form.get_by_role("button", name="Add mailbox").click()
    expect(form.locator("#mb-new-number-problem")).to_have_text("Use 2 to 10 digits")
    expect(form.get_by_role("alert")).to_have_text("Not saved: correct the fields marked below.")
    screenshot(page, "mailbox-form")
    form.get_by_label("Mailbox number").fill("205")
    form.get_by_role("button", name="Add mailbox").click()
    expect(form.locator("#mb-new-pin-problem")).to_have_text("Use 4 to 10 digits")
    expect(form.locator("#mb-new-number-problem")).to_have_count(0)
    form.get_by_label("PIN", exact=True).fill("4321")
    form.get_by_label("Email new messages to", exact=False).fill("help@example.com")
    form.get_by_role("button", name="Add mailbox").click()
    expect(boxes.get_by_role("status")).to_have_text("Mailbox 205 added")
    row = boxes.get_by_test_id("row-mailbox-205")
    expect(row).to_contain_text("Support")
    expect(row).to_contain_text("PIN set")
    expect(row).to_contain_text("help@example.com")

    # Edit: a new name, the PIN removed, no email.
    row.get_by_role("button", name="Edit mailbox 205").click()
    edit = page.get_by_role("form", name="Edit mailbox 205")
    edit.get_by_label("Name").fill("Support desk")
    edit.get_by_label("No PIN").check()
    edit.get_by_label("Email new messages to", exact=False).fill("")
    edit.get_by_role("button", name="Save").click()
    expect(boxes.get_by_role("status")).to_have_text("Mailbox 205 saved")
    expect(row).to_contain_text("Support desk")
    expect(row).to_contain_text("no PIN")
    token = api_token(page)
    got = page.request.get("/api/v1/mailboxes/205", headers=bearer(token)).json()
    assert got == {
        "number": "205",
        "name": "Support desk",
        "pin_set": False,
        "email": [],
        "messages": 0,
        "unheard": 0,
    }

    # A mailbox in use cannot go: the API's answer says who uses it.
    page.once("dialog", lambda d: d.accept())
    boxes.get_by_role("button", name="Delete mailbox 100").click()
    expect(boxes.get_by_role("alert")).to_have_text("mailbox '100' belongs to extensions 101")
    expect(boxes.get_by_test_id("row-mailbox-100")).to_be_visible()

    # One nobody uses is deleted after the question; the error banner goes with it.
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    boxes.get_by_role("button", name="Delete mailbox 205").click()
    expect(boxes.get_by_role("status")).to_have_text("Mailbox 205 deleted")
    expect(boxes.get_by_role("alert")).to_have_count(0)
    expect(boxes.get_by_test_id("row-mailbox-205")).to_have_count(0)
    assert asked == ["Delete mailbox 205?"]
    assert page.request.get("/api/v1/mailboxes/205", headers=bearer(token)).status == 404


def test_extension_edit_password_reset_and_delete(
    logged_in: Page, ui_server: FlowpbxServer
) -> None:
    page = logged_in
    page.get_by_role("link", name="Extensions").click()
    page.get_by_label("Number").fill("150")
    page.get_by_label("Name").fill("Carol")
    page.get_by_role("button", name="Create").click()
    row = page.get_by_test_id("row-150")
    expect(row).to_contain_text("Carol")

    row.get_by_role("button", name="Edit extension 150").click()
    editor = page.get_by_role("region", name="Edit extension 150")
    editor.get_by_label("Name").fill("Carol Smith")
    editor.get_by_label("Caller ID", exact=False).fill("call me")
    editor.get_by_label("Mailbox").select_option("100")
    editor.get_by_label("Supervisor", exact=False).check()
    editor.get_by_role("button", name="Save").click()
    expect(editor.locator("#ext-caller_id-problem")).to_have_text(
        "Enter a phone number like +37167000001"
    )
    screenshot(page, "extension-edit")
    editor.get_by_label("Caller ID", exact=False).fill("+37167000001")
    editor.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Extension 150 saved")
    expect(row).to_contain_text("Carol Smith")
    token = api_token(page)
    got = page.request.get("/api/v1/extensions/150", headers=bearer(token)).json()
    assert (got["name"], got["mailbox"], got["supervisor"], got["caller_id"]) == (
        "Carol Smith",
        "100",
        True,
        "+37167000001",
    )

    # Password reset: what the API refuses is shown by the field, in words.
    row.get_by_role("button", name="Edit extension 150").click()
    reset = page.get_by_role("form", name="Reset password")
    reset.get_by_label("New SIP password").fill("abc")
    reset.get_by_role("button", name="Set password").click()
    expect(page.locator("#ext-password-problem")).to_have_text(
        re.compile(r"^Enter at least \d+ characters$")
    )
    reset.get_by_role("button", name="Generate").click()
    password = reset.get_by_label("New SIP password").input_value()
    assert len(password) >= 16
    reset.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status").filter(has_text="Password of 150 changed")).to_be_visible()
    page.get_by_role("button", name="Copy SIP settings").first.click()
    expect(page.get_by_test_id("sip-settings")).to_contain_text(f"Password: {password}")
    # A phone registers with the new password.
    with Baresip(
        ui_server.root, name="carol", user="150", registrar=ui_server.sip, password=password
    ) as carol:
        carol.wait_registered()
        expect(page.get_by_test_id("state-150")).to_have_text("registered")

    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    row.get_by_role("button", name="Delete extension 150").click()
    expect(page.get_by_role("status").filter(has_text="Extension 150 deleted")).to_be_visible()
    expect(page.get_by_test_id("row-150")).to_have_count(0)
    assert asked == ["Delete extension 150? Its phones can no longer register."]
    assert page.request.get("/api/v1/extensions/150", headers=bearer(token)).status == 404


def test_flows_renamed_duplicated_and_deleted(logged_in: Page) -> None:
    page = logged_in
    token = api_token(page)
    doc = {
        "name": "Rename me",
        "entry": "start",
        "nodes": {
            "start": {"type": "numbers", "params": {"numbers": []}, "next": {"next": "bye"}},
            "bye": {"type": "hangup", "params": {}, "next": {}},
        },
        "layout": {"start": {"x": 0, "y": 0}, "bye": {"x": 300, "y": 0}},
    }
    assert page.request.post("/api/v1/flows", data=doc, headers=bearer(token)).status == 201
    r = page.request.post("/api/v1/flows/Rename%20me/publish", data={}, headers=bearer(token))
    assert r.ok, r.text()
    try:
        page.reload()
        page.get_by_test_id("row-Rename me").get_by_role(
            "button", name="Rename", exact=True
        ).click()
        form = page.get_by_role("form", name="Rename Rename me")
        form.get_by_label("New name for Rename me").fill("a/b")
        form.get_by_role("button", name="Rename", exact=True).click()
        expect(form.locator("#flow-action-problem")).to_have_text(
            "Do not use / or control characters"
        )
        form.get_by_label("New name for Rename me").fill("Front desk")
        form.get_by_role("button", name="Rename", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Flow Rename me is now called Front desk")
        row = page.get_by_test_id("row-Front desk")
        expect(row).to_contain_text("published #1")
        expect(page.get_by_test_id("row-Rename me")).to_have_count(0)

        row.get_by_role("button", name="Duplicate", exact=True).click()
        copy = page.get_by_role("form", name="Duplicate Front desk")
        expect(copy.get_by_label("Name of the copy")).to_have_value("Front desk copy")
        copy.get_by_role("button", name="Duplicate", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text(
            "Flow Front desk copied to Front desk copy"
        )
        expect(page.get_by_test_id("row-Front desk copy")).to_contain_text("draft")
        got = page.request.get(
            "/api/v1/flows/" + urllib.parse.quote("Front desk copy"), headers=bearer(token)
        ).json()
        assert set(got["draft"]["nodes"]) == {"start", "bye"}

        # Renaming onto a taken name: the API's answer.
        page.get_by_test_id("row-Front desk copy").get_by_role(
            "button", name="Rename", exact=True
        ).click()
        again = page.get_by_role("form", name="Rename Front desk copy")
        again.get_by_label("New name for Front desk copy").fill("Front desk")
        again.get_by_role("button", name="Rename", exact=True).click()
        expect(again.locator("#flow-action-problem")).to_have_text(
            "flow 'Front desk' already exists"
        )
        again.get_by_role("button", name="Cancel").click()

        asked: list[str] = []
        page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
        page.get_by_test_id("row-Front desk copy").get_by_role(
            "button", name="Delete", exact=True
        ).click()
        expect(page.get_by_role("status")).to_have_text("Flow Front desk copy deleted")
        expect(page.get_by_test_id("row-Front desk copy")).to_have_count(0)
        assert asked == ["Delete the flow Front desk copy and its revisions?"]
        page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
        row.get_by_role("button", name="Delete", exact=True).click()
        expect(page.get_by_test_id("row-Front desk")).to_have_count(0)
        assert asked[1].startswith("The flow Front desk is published")
    finally:
        for name in ("Rename me", "Front desk", "Front desk copy"):
            page.request.delete("/api/v1/flows/" + urllib.parse.quote(name), headers=bearer(token))
