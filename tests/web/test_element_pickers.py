"""Element settings read as a form (issue 25): human labels and help lines from the flow
schema, required settings first, and pickers filled from the company's lists (extensions,
mailboxes, queues, audio, schedules) instead of typed names; real Chromium against a running
flowpbx, the saved draft checked over the API."""

from __future__ import annotations

import urllib.parse

from playwright.sync_api import Page, expect

from tests.web.conftest import api_token, screenshot


def test_elements_are_set_up_with_pickers_and_read_as_labels(logged_in: Page) -> None:
    page = logged_in
    auth = {"Authorization": f"Bearer {api_token(page)}"}
    r = page.request.put(
        "/api/v1/queues/pick-me", data={"members": [{"extension": "101"}]}, headers=auth
    )
    assert r.ok, r.text()
    audio = [a["name"] for a in page.request.get("/api/v1/audio", headers=auth).json()]
    assert audio, "the audio library has its built-in samples"
    flow = "Picked only"
    try:
        page.get_by_label("New flow name").fill(flow)
        page.get_by_role("button", name="New flow").click()
        expect(page.get_by_role("heading", name=flow)).to_be_visible()
        panel = page.get_by_role("complementary", name="Settings")

        def add(element: str) -> None:
            page.get_by_test_id(f"palette-{element}").focus()
            page.keyboard.press("Enter")

        # Call to SIP: the extension from a list naming the people; labels and help lines.
        add("call_sip")
        ext = panel.get_by_label("Extension")
        expect(ext.locator("option")).to_contain_text(["101 Alice", "102 Bob"])
        ext.select_option(label="102 Bob")
        expect(panel.get_by_label("Ring for (s)")).to_be_visible()
        expect(panel.get_by_text("Its registered phones ring")).to_be_visible()

        # Voice Mail: the mailbox from a list; required settings come first.
        add("voicemail")
        labels = panel.locator(".schema-form > .field > label")
        expect(labels.first).to_have_text("Mailbox *")
        panel.get_by_label("Mailbox").select_option(label="100 Main")
        screenshot(page, "editor-pickers")
        greeting = panel.get_by_label("Greeting", exact=True)
        expect(greeting.locator("option")).to_contain_text(audio[:1])

        # Queue: a stored queue picked by name.
        add("queue")
        panel.get_by_label("Queue", exact=True).select_option("pick-me")

        # Play audio: a file of the library.
        add("play")
        panel.locator("#f-audio").select_option(audio[0])  # label "Audio *"

        # Time routing: a schedule of Office hours.
        add("time_routing")
        panel.get_by_label("Office hours").select_option("office")

        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_role("status")).to_have_text("Draft saved")
        saved = page.request.get(f"/api/v1/flows/{urllib.parse.quote(flow)}", headers=auth)
        nodes = saved.json()["draft"]["nodes"]
        assert nodes["call_sip"]["params"]["extension"] == "102"
        assert nodes["voicemail"]["params"]["mailbox"] == "100"
        assert nodes["queue"]["params"]["name"] == "pick-me"
        assert nodes["play"]["params"]["audio"] == audio[0]
        assert nodes["time_routing"]["params"]["schedule"] == "office"
    finally:
        page.request.delete(f"/api/v1/flows/{urllib.parse.quote(flow)}", headers=auth)
        page.request.delete("/api/v1/queues/pick-me", headers=auth)
