"""Numbers & trunks configured in the browser only (issue 25, "Everything configurable in the
browser"): trunks created, edited (the password write-only) and deleted; My numbers created,
moved to another trunk and caller-ID position, and deleted. What the API refuses reads as a
sentence next to the field; deleting something in use shows the API's answer."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import api_token, login, screenshot


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_trunks_are_created_edited_and_deleted_in_the_browser(logged_in: Page) -> None:
    page = logged_in
    page.get_by_role("link", name="Numbers & trunks").click()
    trunks = page.get_by_role("region", name="Trunks")
    expect(trunks.get_by_test_id("row-trunk-provider")).to_contain_text("not registering")
    trunks.get_by_role("button", name="Add trunk").click()
    form = page.get_by_role("form", name="Add trunk")
    form.get_by_label("Trunk name").fill("backup")
    form.get_by_label("Provider host").fill("127.0.0.1")
    form.get_by_label("Port", exact=True).fill("70000")
    form.get_by_label("Country code").fill("0371")
    form.get_by_label("Call attempts per second").fill("fast")
    form.get_by_role("button", name="Add trunk").click()
    expect(form.locator("#tr-new-port-problem")).to_have_text("Enter 65535 or less")
    expect(form.locator("#tr-new-country_code-problem")).to_have_text(
        "Use 1 to 4 digits, not starting with 0"
    )
    expect(form.locator("#tr-new-invite_rate-problem")).to_have_text(
        "Enter calls per second like 5 or 2.5, optionally with a burst like 5:10"
    )
    expect(form.get_by_role("alert")).to_have_text("Not saved: correct the fields marked below.")
    screenshot(page, "trunk-form")
    form.get_by_label("Port", exact=True).fill("5090")
    form.get_by_label("Country code").fill("371")
    form.get_by_label("National prefix").fill("0")
    form.get_by_label("Call attempts per second").fill("5:10")
    form.get_by_label("Transport").select_option("tcp")
    form.get_by_label("User name").fill("acme")
    form.get_by_label("Password", exact=True).fill("provider-secret")
    form.get_by_label("Most calls at once").fill("4")
    form.get_by_label("Trusted", exact=False).check()
    form.get_by_role("button", name="Add trunk").click()
    expect(trunks.get_by_role("status")).to_have_text("Trunk backup added")
    row = trunks.get_by_test_id("row-trunk-backup")
    expect(row).to_contain_text("127.0.0.1:5090 tcp")
    expect(row).to_contain_text("acme")
    expect(row).to_contain_text("set")
    token = api_token(page)
    got = page.request.get("/api/v1/trunks/backup", headers=bearer(token)).json()
    assert got == {
        "name": "backup",
        "host": "127.0.0.1",
        "port": 5090,
        "transport": "tcp",
        "username": "acme",
        "password_set": True,
        "register": False,
        "from_domain": None,
        "trusted": True,
        "country_code": "371",
        "national_prefix": "0",
        "max_calls": 4,
        "invite_rate": "5:10",
        "media_encryption": "none",
        "tls_verify": True,
        "tls_ca_file": None,
        "registration": None,
    }

    # Edit: the password is never shown; empty keeps it, "No password" removes it.
    row.get_by_role("button", name="Edit trunk backup").click()
    edit = page.get_by_role("form", name="Edit trunk backup")
    expect(edit.get_by_label("Password", exact=True)).to_have_value("")
    expect(edit).to_contain_text("set; leave empty to keep it")
    edit.get_by_label("From domain").fill("sip.example.net")
    edit.get_by_label("Most calls at once").fill("")
    edit.get_by_role("button", name="Save").click()
    expect(trunks.get_by_role("status")).to_have_text("Trunk backup saved")
    got = page.request.get("/api/v1/trunks/backup", headers=bearer(token)).json()
    assert (got["from_domain"], got["max_calls"], got["password_set"]) == (
        "sip.example.net",
        None,
        True,
    )
    row.get_by_role("button", name="Edit trunk backup").click()
    edit.get_by_label("No password").check()
    edit.get_by_role("button", name="Save").click()
    expect(trunks.get_by_role("status")).to_have_text("Trunk backup saved")
    expect(row).to_contain_text("not set")
    got = page.request.get("/api/v1/trunks/backup", headers=bearer(token)).json()
    assert got["password_set"] is False

    # A trunk that numbers use cannot go: the API's answer names them.
    page.once("dialog", lambda d: d.accept())
    trunks.get_by_role("button", name="Delete trunk provider").click()
    expect(trunks.get_by_role("alert")).to_have_text(
        "trunk 'provider' is used by numbers +37167000001"
    )
    expect(trunks.get_by_test_id("row-trunk-provider")).to_be_visible()

    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    trunks.get_by_role("button", name="Delete trunk backup").click()
    expect(trunks.get_by_role("status")).to_have_text("Trunk backup deleted")
    expect(trunks.get_by_role("alert")).to_have_count(0)
    expect(trunks.get_by_test_id("row-trunk-backup")).to_have_count(0)
    assert asked == ["Delete trunk backup?"]
    assert page.request.get("/api/v1/trunks/backup", headers=bearer(token)).status == 404


def test_numbers_are_created_moved_and_deleted_in_the_browser(logged_in: Page) -> None:
    page = logged_in
    token = api_token(page)
    spare = {"name": "spare", "host": "127.0.0.1", "port": 5071}
    assert page.request.post("/api/v1/trunks", data=spare, headers=bearer(token)).status == 201
    flow = {
        "name": "Number line",
        "entry": "start",
        "nodes": {
            "start": {
                "type": "numbers",
                "params": {"numbers": ["+37167000002"]},
                "next": {"next": "bye"},
            },
            "bye": {"type": "hangup", "params": {}, "next": {}},
        },
    }
    try:
        page.reload()
        page.get_by_role("link", name="Numbers & trunks").click()
        numbers = page.get_by_role("region", name="My numbers")
        numbers.get_by_role("button", name="Add number").click()
        form = page.get_by_role("form", name="Add number")
        form.get_by_label("Number", exact=True).fill("67-000")
        form.get_by_label("Caller-ID position").fill("0")
        form.get_by_role("button", name="Add number").click()
        expect(form.locator("#num-new-number-problem")).to_have_text(
            "Enter a phone number like +37167000001"
        )
        expect(form.locator("#num-new-position-problem")).to_have_text("Enter 1 or more")
        screenshot(page, "number-form")
        form.get_by_label("Number", exact=True).fill("+37167000002")
        form.get_by_label("Caller-ID position").fill("1")
        form.get_by_role("button", name="Add number").click()
        expect(numbers.get_by_role("status")).to_have_text("Number +37167000002 added")
        new = numbers.get_by_test_id("row-number-+37167000002")
        expect(new).to_contain_text("c1")
        expect(new).to_contain_text("provider")
        expect(new).to_contain_text("no published flow")
        expect(numbers.get_by_test_id("row-number-+37167000001")).to_contain_text("c2")

        # Edit: another trunk, the last caller-ID position.
        new.get_by_role("button", name="Edit number +37167000002").click()
        edit = page.get_by_role("form", name="Edit number +37167000002")
        edit.get_by_label("Trunk").select_option("spare")
        edit.get_by_label("Caller-ID position").fill("2")
        edit.get_by_role("button", name="Save").click()
        expect(numbers.get_by_role("status")).to_have_text("Number +37167000002 saved")
        expect(new).to_contain_text("c2")
        expect(new).to_contain_text("spare")
        got = page.request.get("/api/v1/numbers", headers=bearer(token)).json()
        assert [(n["number"], n["trunk"], n["position"]) for n in got] == [
            ("+37167000001", "provider", 1),
            ("+37167000002", "spare", 2),
        ]

        # A published flow that the number leads into: shown, and the number cannot go.
        r = page.request.post("/api/v1/flows/import", data=flow, headers=bearer(token))
        assert r.ok, r.text()
        page.reload()
        expect(new).to_contain_text("Number line")
        page.once("dialog", lambda d: d.accept())
        numbers.get_by_role("button", name="Delete number +37167000002").click()
        expect(numbers.get_by_role("alert")).to_have_text(
            "number +37167000002 leads into the published flow 'Number line'"
        )
        expect(new).to_be_visible()

        assert page.request.delete("/api/v1/flows/Number%20line", headers=bearer(token)).ok
        page.reload()
        expect(new).to_contain_text("no published flow")
        asked: list[str] = []
        page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
        numbers.get_by_role("button", name="Delete number +37167000002").click()
        expect(numbers.get_by_role("status")).to_have_text("Number +37167000002 deleted")
        expect(new).to_have_count(0)
        assert asked == ["Delete number +37167000002?"]
        got = page.request.get("/api/v1/numbers", headers=bearer(token)).json()
        assert [n["number"] for n in got] == ["+37167000001"]
    finally:
        page.request.delete("/api/v1/flows/Number%20line", headers=bearer(token))
        page.request.delete("/api/v1/numbers/%2B37167000002", headers=bearer(token))
        page.request.delete("/api/v1/trunks/spare", headers=bearer(token))


def test_viewers_see_numbers_and_trunks_without_edit_controls(page: Page) -> None:
    login(page, "watcher", "pw-viewer-1")
    page.get_by_role("link", name="Numbers & trunks").click()
    expect(page.get_by_test_id("row-trunk-provider")).to_contain_text("not registering")
    expect(page.get_by_test_id("row-number-+37167000001")).to_contain_text("provider")
    expect(page.get_by_role("button", name="Add trunk")).to_have_count(0)
    expect(page.get_by_role("button", name="Add number")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete trunk provider")).to_have_count(0)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_label("Time zone")).to_be_disabled()
    expect(page.get_by_role("form", name="Email (SMTP)")).to_have_count(0)
