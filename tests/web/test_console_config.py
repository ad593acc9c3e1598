"""The configuration as a file in the browser (issue 25): an admin downloads the whole
configuration (YAML and JSON) from Settings, imports a file (a good one changes the company,
a bad one is refused with its problems and changes nothing), and exports and imports one
flow on the Flows page; real Chromium against a running flowpbx, checked over the API."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import Page, expect

from tests.web.conftest import api_token


def _get(page: Page, token: str, path: str) -> tuple[int, Any]:
    r = page.request.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"})
    return r.status, (r.json() if r.ok else None)


def _download(page: Page, button: str, into: Path) -> Path:
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    target = into / info.value.suggested_filename
    info.value.save_as(target)
    return target


def test_whole_configuration_exported_and_imported_from_settings(
    logged_in: Page, tmp_path: Path
) -> None:
    page = logged_in
    token = api_token(page)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Configuration file")).to_be_visible()

    saved = _download(page, "Download YAML", tmp_path)
    assert saved.name == "flowpbx-config.yaml"
    doc = yaml.safe_load(saved.read_text())
    assert {"101", "102"} <= {e["number"] for e in doc["extensions"]}
    assert "+37167000001" in {n["number"] for n in doc["numbers"]}
    as_json = json.loads(_download(page, "Download JSON", tmp_path).read_text())
    assert [e["number"] for e in as_json["extensions"]] == [e["number"] for e in doc["extensions"]]

    # A file that adds an extension, made from the exported entry of 101.
    entry = dict(next(e for e in doc["extensions"] if e["number"] == "101"))
    entry.update(number="150", name="Imported Ivo", password="s3cret-150-import")
    entry.pop("mailbox", None)
    good = tmp_path / "new-extension.yaml"
    good.write_text(yaml.safe_dump({"extensions": [entry]}))
    assert _get(page, token, "/extensions/150")[0] == 404
    page.get_by_label("Configuration file to import").set_input_files(str(good))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Imported")).to_contain_text("1 extensions")
    status, ext = _get(page, token, "/extensions/150")
    assert status == 200 and ext["name"] == "Imported Ivo"

    # A bad file: refused as a whole, its problems listed, nothing changed.
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "extensions": [{"number": "151", "name": "Half", "password": "s3cret-151-import"}],
                "numbers": [{"number": "+37167000099", "trunk": "no-such-trunk"}],
            }
        )
    )
    page.get_by_label("Configuration file to import").set_input_files(str(bad))
    page.get_by_role("button", name="Import", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Nothing was imported")
    expect(alert).to_contain_text("no-such-trunk")
    assert _get(page, token, "/extensions/151")[0] == 404
    assert _get(page, token, "/extensions/150")[1]["name"] == "Imported Ivo"
    page.request.delete("/api/v1/extensions/150", headers={"Authorization": f"Bearer {token}"})


def test_one_flow_exported_and_imported_on_the_flows_page(logged_in: Page, tmp_path: Path) -> None:
    page = logged_in
    token = api_token(page)
    auth = {"Authorization": f"Bearer {token}"}
    doc = {
        "name": "Export me",
        "entry": "start",
        "nodes": {
            "start": {"type": "numbers", "params": {"numbers": []}, "next": {"next": "ring"}},
            "ring": {"type": "call_sip", "params": {"extension": "102"}, "next": {}},
        },
        "layout": {},
    }
    assert page.request.post("/api/v1/flows", data=doc, headers=auth).status == 201
    try:
        page.reload()  # the list was loaded at sign-in, before the flow was made
        expect(page.get_by_test_id("row-Export me")).to_be_visible()
        with page.expect_download() as info:
            page.get_by_title("Export Export me").click()
        assert info.value.suggested_filename == "Export me.yaml"
        exported = yaml.safe_load(Path(info.value.path()).read_text())
        assert exported["nodes"]["ring"]["params"]["extension"] == "102"

        exported["name"] = "Imported copy"
        exported["nodes"]["ring"]["params"]["extension"] = "101"
        file = tmp_path / "imported.yaml"
        file.write_text(yaml.safe_dump(exported, sort_keys=False))
        page.get_by_label("Flow file to import").set_input_files(str(file))
        page.get_by_role("button", name="Import flow").click()
        expect(page.get_by_role("status")).to_have_text(
            "Flow Imported copy imported and published as revision 1"
        )
        expect(page.get_by_test_id("row-Imported copy")).to_be_visible()
        status, flow = _get(page, token, "/flows/" + urllib.parse.quote("Imported copy"))
        assert status == 200 and flow["published_revision"] == 1
        assert flow["draft"]["nodes"]["ring"]["params"]["extension"] == "101"
    finally:
        for name in ("Export me", "Imported copy"):
            page.request.delete(f"/api/v1/flows/{urllib.parse.quote(name)}", headers=auth)
