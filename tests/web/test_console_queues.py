"""Queues in the browser (issue 25): an admin adds a queue with members, a strategy and
settings, edits it and deletes it on the Queues page, in real Chromium against a running
flowpbx; the API shows each step."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.web.conftest import api_token, screenshot


def _queue(page: Page, token: str, name: str) -> tuple[int, Any]:
    r = page.request.get(f"/api/v1/queues/{name}", headers={"Authorization": f"Bearer {token}"})
    return r.status, (r.json() if r.ok else None)


def test_queue_created_edited_and_deleted_in_the_browser(logged_in: Page) -> None:
    page = logged_in
    token = api_token(page)
    page.get_by_role("link", name="Queues").click()
    expect(page.get_by_role("heading", name="Queues", level=1)).to_be_visible()

    page.get_by_role("button", name="Add queue").click()
    form = page.get_by_role("form", name="Add queue")
    form.get_by_label("Queue name").fill("helpdesk")
    form.get_by_label("Strategy").select_option(label="round robin — in turn, remembered per queue")
    form.get_by_role("button", name="Add member").click()
    form.get_by_label("Member 1 extension").select_option("101")
    form.get_by_role("button", name="Add member").click()
    form.get_by_label("Member 2 extension").select_option("102")
    form.get_by_label("Member 2 penalty").fill("2")
    form.get_by_label("Longest wait (s)").fill("90")
    form.get_by_label("Callers may wait when no member is free").check()
    form.get_by_label("Key that leaves the queue").select_option("#")
    screenshot(page, "queue-edit")
    form.get_by_role("button", name="Add queue").click()

    expect(page.get_by_role("status")).to_have_text("Queue helpdesk saved")
    row = page.get_by_test_id("row-helpdesk")
    expect(row).to_contain_text("round_robin")
    expect(row).to_contain_text("101, 102")
    expect(row).to_contain_text("stored")
    status, q = _queue(page, token, "helpdesk")
    assert status == 200
    assert q["strategy"] == "round_robin"
    assert q["members"] == [{"extension": "101", "penalty": 0}, {"extension": "102", "penalty": 2}]
    assert q["settings"] == {"max_wait_s": 90, "join_empty": True, "exit_key": "#"}

    # Edit: another strategy, the first member removed, a bad value answered by its field.
    page.get_by_role("button", name="Edit queue helpdesk").click()
    form = page.get_by_role("form", name="Edit queue helpdesk")
    expect(form.get_by_label("Member 2 penalty")).to_have_value("2")
    expect(form.get_by_label("Longest wait (s)")).to_have_value("90")
    form.get_by_label("Strategy").select_option(label="linear — in list order for each caller")
    form.get_by_role("button", name="Remove member 1").click()
    expect(form.get_by_label("Member 1 extension")).to_have_value("102")
    form.get_by_label("Longest wait (s)").fill("-5")
    form.get_by_role("button", name="Save").click()
    expect(form.locator("#q-max_wait_s-problem")).to_be_visible()
    assert _queue(page, token, "helpdesk")[1]["strategy"] == "round_robin"  # nothing stored
    form.get_by_label("Longest wait (s)").fill("120")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Queue helpdesk saved")
    expect(row).to_contain_text("linear")
    q = _queue(page, token, "helpdesk")[1]
    assert q["strategy"] == "linear"
    assert q["members"] == [{"extension": "102", "penalty": 2}]
    assert q["settings"]["max_wait_s"] == 120

    # Delete (asks first).
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete queue helpdesk").click()
    expect(page.get_by_role("status")).to_have_text("Queue helpdesk deleted")
    expect(page.get_by_test_id("row-helpdesk")).to_have_count(0)
    assert _queue(page, token, "helpdesk")[0] == 404
