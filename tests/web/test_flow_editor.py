"""The flow editor in real Chromium against a running flowpbx (issue 9 acceptance).

Builds the SPEC §3 example flow from an empty canvas by dragging elements from the
palette and connecting their labelled outputs, sets every element's settings through its
panel, sees a validation error (a prompt that is not in the audio library) and fixes it by
uploading that prompt from the panel, publishes with a message, and simulates a call that
lights its path on the canvas.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.web.conftest import screenshot, tone_wav

# The example flow of SPEC §3 (what the canvas must produce).
SPEC_NODES: dict[str, dict[str, Any]] = {
    "start": {
        "type": "numbers",
        "params": {"numbers": ["+37167000001"]},
        "next": {"next": "hours"},
    },
    "hours": {
        "type": "time_routing",
        "params": {"schedule": "office"},
        "next": {"true": "menu", "false": "vm"},
    },
    "menu": {
        "type": "menu",
        "params": {"prompt": "menu-press-1-2", "timeout_s": 5, "retries": 3},
        "next": {"1": "sales", "2": "hook", "timeout": "vm", "invalid": "vm"},
    },
    "sales": {
        "type": "queue",
        "params": {"members": ["101", "102"], "strategy": "ring_all", "max_wait_s": 120},
        "next": {"timeout": "vm"},
    },
    "hook": {
        "type": "http_notify",
        "params": {"url": "https://crm.example/hook"},
        "next": {"1": "sales", "default": "vm"},
    },
    "vm": {"type": "voicemail", "params": {"mode": "leave", "mailbox": "100"}, "next": {}},
}

# Where each element is dropped (canvas pixels; the empty canvas starts at zoom 1).
PLACES = {
    "start": ("numbers", 30, 40),
    "hours": ("time_routing", 290, 40),
    "menu": ("menu", 550, 40),
    "vm": ("voicemail", 840, 40),
    "sales": ("queue", 290, 400),
    "hook": ("http_notify", 840, 330),
}


def node(page: Page, node_id: str) -> Locator:
    return page.get_by_test_id(f"node-{node_id}")


def select(page: Page, node_id: str) -> None:
    node(page, node_id).locator(".el-head").click()
    expect(page.locator("#node-id")).to_have_value(node_id)


def drop(page: Page, node_id: str) -> None:
    type_, x, y = PLACES[node_id]
    page.get_by_test_id(f"palette-{type_}").drag_to(
        page.get_by_test_id("canvas"), target_position={"x": x, "y": y}
    )
    name = page.locator("#node-id")
    expect(name).to_be_visible()
    if name.input_value() != node_id:
        name.fill(node_id)
        name.press("Enter")
    expect(node(page, node_id)).to_be_visible()


def connect(page: Page, source: str, output: str, target: str) -> None:
    handle = page.get_by_test_id(f"handle-{source}-{output}")
    into = node(page, target).locator(".handle-in")
    a, b = handle.bounding_box(), into.bounding_box()
    assert a and b
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=12)
    page.mouse.up()
    expect(page.get_by_test_id(f"rf__edge-{source}:{output}")).to_have_count(1)


def problems(page: Page) -> Locator:
    return page.get_by_test_id("problems")


def test_build_validate_publish_simulate_spec_flow(logged_in: Page, tmp_path: Path) -> None:
    page = logged_in
    page.get_by_label("New flow name").fill("Main line")
    page.get_by_role("button", name="New flow").click()
    expect(page.get_by_role("heading", name="Main line")).to_be_visible()
    expect(page.get_by_test_id("palette-numbers")).to_be_visible()
    expect(page.locator(".palette-item")).to_have_count(14)

    # Drag every element onto the empty canvas and set its settings through its panel.
    drop(page, "start")
    expect(node(page, "start")).to_contain_text("My numbers")
    page.locator("#f-numbers").fill("+37167000001")

    drop(page, "hours")
    page.locator("#f-schedule").select_option("office")  # a picker, not a name typed

    drop(page, "menu")
    expect(node(page, "menu")).to_contain_text("this setting is required")  # no prompt yet
    page.locator("#f-timeout_s").fill("5")
    page.locator("#f-retries").fill("3")
    for key in ("1", "2"):  # menu keys appear as outputs as the author adds them
        page.locator("#new-key").select_option(key)
        page.get_by_role("button", name="Add key").click()
        expect(page.get_by_test_id(f"handle-menu-{key}")).to_be_visible()

    drop(page, "vm")
    page.locator("#f-mode").select_option("leave")
    page.locator("#f-mailbox").select_option("100")
    expect(node(page, "vm")).not_to_contain_class("invalid")

    drop(page, "sales")
    page.get_by_role("button", name="Add member").click()
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_label("Member 2 extension")).to_have_value("102")
    page.locator("#f-strategy").select_option("ring_all")
    page.locator("#f-max_wait_s").fill("120")

    drop(page, "hook")
    page.locator("#f-url").fill("https://crm.example/hook")

    # Connect the labelled outputs by dragging.
    for source, spec in SPEC_NODES.items():
        for output, target in spec["next"].items():
            connect(page, source, output, target)

    # Undo/redo an edge.
    page.locator(".react-flow__pane").click(position={"x": 1000, "y": 700})
    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("rf__edge-hook:default")).to_have_count(0)
    page.keyboard.press("Control+Shift+z")
    expect(page.get_by_test_id("rf__edge-hook:default")).to_have_count(1)

    # The menu has no prompt yet (none in the library fits): on the node and in the list.
    page.get_by_role("button", name="Validate").click()
    expect(problems(page)).to_contain_text("menu: prompt")
    expect(node(page, "menu")).to_contain_class("invalid")
    screenshot(page, "editor-validation")

    # Fix it from the menu's panel: upload that prompt right there.
    select(page, "menu")
    page.get_by_label("Upload audio for Prompt").set_input_files(
        str(tone_wav(tmp_path / "menu-press-1-2.wav"))
    )
    expect(page.get_by_text("Uploading…")).to_have_count(0)
    expect(page.locator("#f-prompt")).to_have_value("menu-press-1-2")
    page.get_by_role("button", name="Validate").click()
    expect(problems(page)).not_to_contain_text("menu: prompt")
    expect(node(page, "menu")).not_to_contain_class("invalid")

    # Publish with a message; the stored draft is the SPEC §3 example.
    page.get_by_label("What changed?").fill("first version")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status")).to_contain_text("Published: revision 1")
    resp = page.request.get("/api/v1/flows/" + urllib.parse.quote("Main line"))
    assert resp.ok, resp.text()
    saved = json.loads(resp.text())
    assert saved["published_revision"] == 1
    draft = saved["draft"]
    assert draft["entry"] == "start"
    for spec_node in draft["nodes"].values():
        spec_node["params"].pop("keys", None)  # the menu's declared keys (its handles)
        spec_node.setdefault("next", {})
    assert draft["nodes"] == SPEC_NODES
    # Revision history: the draft compared with revision 1 after one more change.
    select(page, "sales")
    page.locator("#f-max_wait_s").fill("60")
    page.get_by_role("button", name="Revisions").click()
    revisions = page.get_by_role("complementary", name="Revisions")
    expect(revisions).to_contain_text("first version")
    revisions.get_by_role("button", name="Compare with draft").click()
    expect(revisions.get_by_role("region", name="Changes since revision 1")).to_contain_text(
        "max_wait_s: 120 → 60"
    )

    # Simulate a call on a Wednesday morning pressing 1, nobody in the queue answering:
    # start -> hours -> menu -> sales -> vm.
    page.get_by_role("button", name="Simulate").click()
    panel = page.get_by_role("complementary", name="Simulate a call")
    panel.get_by_label("Date and time").fill("2026-12-02T10:00")
    panel.get_by_label("Keys to press").fill("1")
    panel.get_by_label("Who answers", exact=False).fill("101=no_answer\n102=no_answer")
    panel.get_by_role("button", name="Run simulation").click()
    trace = page.get_by_test_id("sim-trace")
    expect(node(page, "vm").locator(".badge.step")).to_have_text("5")  # lit step by step
    expect(trace).to_contain_text("menu → 1")
    expect(trace).to_contain_text("sales → timeout")
    for step, node_id in enumerate(("start", "hours", "menu", "sales", "vm"), start=1):
        expect(node(page, node_id)).to_contain_class("lit")
        expect(node(page, node_id).locator(".badge.step")).to_have_text(str(step))
    expect(node(page, "hook")).not_to_contain_class("lit")
    for edge in ("start:next", "hours:true", "menu:1", "sales:timeout"):
        expect(page.get_by_test_id(f"rf__edge-{edge}")).to_contain_class("lit")
    expect(page.get_by_test_id("rf__edge-menu:2")).not_to_contain_class("lit")
    screenshot(page, "editor-simulate")

    # Out of office hours the call goes straight to voicemail.
    panel.get_by_label("Date and time").fill("2026-12-06T10:00")
    panel.get_by_role("button", name="Run simulation").click()
    expect(node(page, "vm").locator(".badge.step")).to_have_text("3")
    expect(trace).to_contain_text("hours → false")
    expect(node(page, "menu")).not_to_contain_class("lit")
    expect(node(page, "vm")).to_contain_class("lit")


def test_keyboard_adds_deletes_and_restores_an_element(logged_in: Page) -> None:
    page = logged_in
    page.get_by_label("New flow name").fill("Keyboard only")
    page.get_by_role("button", name="New flow").click()
    expect(page.get_by_role("heading", name="Keyboard only")).to_be_visible()
    page.get_by_test_id("palette-hangup").focus()
    page.keyboard.press("Enter")
    expect(node(page, "hangup")).to_be_visible()
    expect(page.get_by_text("This element has no settings.")).to_be_visible()
    node(page, "hangup").click()
    page.keyboard.press("Delete")
    expect(node(page, "hangup")).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(node(page, "hangup")).to_be_visible()
    page.keyboard.press("Control+s")
    expect(page.get_by_role("status")).to_have_text("Draft saved")
    saved = page.request.get("/api/v1/flows/" + urllib.parse.quote("Keyboard only")).json()
    assert saved["draft"]["nodes"] == {"hangup": {"type": "hangup"}}
