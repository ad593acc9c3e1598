"""The built UI runs under flowpbx's Content-Security-Policy (api/headers.py) in real
Chromium: every page — login, the flow editor canvas, the admin pages, the live events
websocket — loads and works without a single CSP violation, and the policy is the one the
server sends (issue 10)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import api_token, login

ROUTES = (
    "/flows",
    "/extensions",
    "/numbers",
    "/audio",
    "/voicemail",
    "/calls",
    "/queues",
    "/history",
    "/users",
    "/dashboard",
    "/schedules",
    "/settings",
)

FLOW = {
    "name": "CSP check",
    "entry": "start",
    "nodes": {
        "start": {
            "type": "numbers",
            "params": {"numbers": ["+37167000001"]},
            "next": {"next": "bye"},
        },
        "bye": {"type": "hangup", "params": {}},
    },
}

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def test_the_ui_runs_under_the_policy_without_violations(page: Page) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto("/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    login(page)
    violations: list[str] = []
    for route in ROUTES:
        page.goto(f"/#{route}")
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        page.wait_for_load_state("networkidle")
        violations += page.evaluate("window.__csp")
    # the flow editor's canvas (React Flow sets inline styles, which the policy allows)
    token = api_token(page)
    auth = {"Authorization": f"Bearer {token}"}
    r = page.request.post("/api/v1/flows", data=FLOW, headers=auth)
    assert r.ok, r.text()
    try:
        page.goto("/#/flows/CSP%20check")
        expect(page.locator(".react-flow__node").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        violations += page.evaluate("window.__csp")
    finally:
        page.request.delete("/api/v1/flows/CSP%20check", headers=auth)
    assert violations == [], violations
    assert not [m for m in console if "Content Security Policy" in m], console
    # and the listener does see a violation: an injected inline script is refused
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = 1'; document.body.appendChild(s); }"
    )
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__ran") is None
