"""Login and the admin pages in real Chromium against a running flowpbx (issue 9)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import screenshot


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
