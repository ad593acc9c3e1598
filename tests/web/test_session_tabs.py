"""One session mechanism in every tab (issues 16 and 25): the page is signed in by the
HttpOnly session cookie alone — no token in the page's storage — so a second tab of the
same browser saves like the first (its writes send X-CSRF-Token from the flowpbx_csrf
cookie), and logging out in one tab ends the session on the server and closes the live
events websocket of every tab."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.server import FlowpbxServer

RETENTION = "Keep call history (days)"


def test_a_second_tab_saves_and_logout_closes_every_tabs_websocket(
    logged_in: Page, ui_server: FlowpbxServer
) -> None:
    first = logged_in
    storage = "() => [Object.keys(sessionStorage), Object.keys(localStorage)]"
    assert first.evaluate(storage) == [[], []]  # nothing a script could steal

    second = first.context.new_page()
    second.goto("/#/settings")  # a new tab: signed in by the cookie
    expect(second.get_by_role("navigation", name="Main")).to_be_visible()
    retention = second.get_by_label(RETENTION)
    expect(retention).to_have_value("365")
    retention.fill("401")
    second.get_by_role("button", name="Save").click()
    expect(second.get_by_role("status")).to_have_text("Saved")
    try:
        assert first.request.get("/api/v1/settings").json()["history_retention_days"] == 401
        # the first tab saves too (the same session, the same CSRF cookie)
        first.get_by_role("link", name="Settings").click()
        expect(first.get_by_label(RETENTION)).to_have_value("401")
        first.get_by_label(RETENTION).fill("365")
        first.get_by_role("button", name="Save").click()
        expect(first.get_by_role("status")).to_have_text("Saved")
    finally:
        csrf = next(c for c in first.context.cookies() if c["name"] == "flowpbx_csrf")
        first.request.put(
            "/api/v1/settings",
            data={"history_retention_days": 365},
            headers={"X-CSRF-Token": csrf["value"]},
        )
    assert first.request.get("/api/v1/settings").json()["history_retention_days"] == 365

    # the second tab follows live events over its websocket
    frames: list[str | bytes] = []
    second.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
    with second.expect_websocket(lambda ws: ws.url.endswith("/api/v1/events")) as opened:
        second.get_by_role("link", name="Extensions").click()
    live = opened.value  # no token in its URL: the cookie signs it in
    expect(second.get_by_test_id("row-101")).to_be_visible()
    if not frames:
        live.wait_for_event("framereceived")
    assert '"hello"' in str(frames[0])
    session = next(c for c in first.context.cookies() if c["name"] == "flowpbx_session")

    with live.expect_event("close"):  # logging out in the first tab closes it
        first.get_by_role("button", name="Log out").click()
    expect(first.get_by_label("User name")).to_be_visible()
    expect(second.get_by_label("User name")).to_be_visible()  # both tabs are signed out

    # the session is over on the server, not only forgotten by the browser
    request = urllib.request.Request(
        ui_server.http + "/api/v1/auth/me",
        headers={"Cookie": f"flowpbx_session={session['value']}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 401
