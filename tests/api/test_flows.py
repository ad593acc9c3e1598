"""Flows over HTTP: drafts, validation, publish, revisions, rollback, simulate, export/import."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import yaml
from fastapi import FastAPI

from flowpbx.store.db import Store
from flowpbx.store.records import NumberRec, ScheduleRec, TrunkRec
from flowpbx.store.repos.numbers import upsert_number
from flowpbx.store.repos.schedules import upsert_schedule
from flowpbx.store.repos.trunks import upsert_trunk
from tests.api.conftest import bearer, with_settings

DID = "+37167000001"
DID2 = "+37167000002"


def menu_flow(name: str = "Main line") -> dict[str, Any]:
    return {
        "name": name,
        "entry": "start",
        "nodes": {
            "start": {"type": "numbers", "params": {"numbers": [DID]}, "next": {"next": "menu"}},
            "menu": {
                "type": "menu",
                "params": {"prompt": "menu", "timeout_s": 5, "retries": 1},
                "next": {"1": "alice", "timeout": "bye", "invalid": "bye"},
            },
            "alice": {"type": "call_sip", "params": {"extension": "101"}, "next": {}},
            "bye": {"type": "play", "params": {"audio": "goodbye"}},
        },
        "layout": {"start": {"x": 0, "y": 0}},
    }


async def _company(store: Store) -> None:
    await store.upsert_extension(number="101", name="Alice", password="pw-101")
    async with store.transaction() as s:
        await upsert_trunk(s, TrunkRec(name="provider", host="127.0.0.1", port=5070))
        await upsert_number(s, NumberRec(number=DID, trunk="provider", position=1))
        await upsert_number(s, NumberRec(number=DID2, trunk="provider", position=2))


async def test_flow_lifecycle(store: Store, client: httpx.AsyncClient, token: str) -> None:
    await _company(store)
    h = bearer(token)
    r = await client.post("/api/v1/flows", json=menu_flow(), headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["published_revision"] is None and created["draft_changed"]
    assert created["draft"]["nodes"]["menu"]["next"]["1"] == "alice"
    assert (await client.post("/api/v1/flows", json=menu_flow(), headers=h)).status_code == 409

    listed = (await client.get("/api/v1/flows", headers=h)).json()
    assert [(f["name"], f["numbers"]) for f in listed] == [("Main line", [DID])]

    # publish -> revision 1; the number now leads into this flow
    r = await client.post("/api/v1/flows/Main line/publish", json={"message": "first"}, headers=h)
    assert r.status_code == 200 and r.json() == {"name": "Main line", "revision": 1}
    numbers = (await client.get("/api/v1/numbers", headers=h)).json()
    assert numbers[0]["flow"] == "Main line"

    # edit the draft: the published revision does not change until publish
    doc = menu_flow()
    doc["nodes"]["menu"]["params"]["retries"] = 3
    r = await client.put("/api/v1/flows/Main line", json=doc, headers=h)
    assert r.status_code == 200
    got = r.json()
    assert got["draft_changed"] and got["published"]["nodes"]["menu"]["params"]["retries"] == 1
    assert (await client.post("/api/v1/flows/Main line/publish", headers=h)).json()["revision"] == 2
    # publishing an unchanged draft makes no new revision
    assert (await client.post("/api/v1/flows/Main line/publish", headers=h)).json()["revision"] == 2

    revs = (await client.get("/api/v1/flows/Main line/revisions", headers=h)).json()
    assert [(r["number"], r["author"], r["published"]) for r in revs] == [
        (1, "admin", False),
        (2, "admin", True),
    ]
    assert revs[0]["message"] == "first"
    one = (await client.get("/api/v1/flows/Main line/revisions/1", headers=h)).json()
    assert one["document"]["nodes"]["menu"]["params"]["retries"] == 1

    # rollback publishes revision 1's document as revision 3 and makes it the draft
    r = await client.post("/api/v1/flows/Main line/rollback", json={"revision": 1}, headers=h)
    assert r.status_code == 200 and r.json()["revision"] == 3
    flow = (await client.get("/api/v1/flows/Main line", headers=h)).json()
    assert flow["draft"]["nodes"]["menu"]["params"]["retries"] == 1 and not flow["draft_changed"]
    r = await client.post("/api/v1/flows/Main line/rollback", json={"revision": 9}, headers=h)
    assert r.status_code == 404

    # a name in the body that differs from the path is refused
    r = await client.put("/api/v1/flows/Main line", json=menu_flow("Other"), headers=h)
    assert r.status_code == 422 and r.json()["error"]["id"] == "name-mismatch"

    assert (await client.delete("/api/v1/flows/Main line", headers=h)).status_code == 204
    assert (await client.get("/api/v1/flows/Main line", headers=h)).status_code == 404
    assert (await client.delete("/api/v1/flows/Main line", headers=h)).status_code == 404


async def test_validate_and_publish_refuse_a_broken_flow(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    await _company(store)
    h = bearer(token)
    doc = menu_flow()
    doc["nodes"]["bye"]["params"]["audio"] = "no-such-audio"
    doc["nodes"]["menu"]["next"]["1"] = "nowhere"
    doc["nodes"]["lost"] = {"type": "hangup"}
    assert (await client.post("/api/v1/flows", json=doc, headers=h)).status_code == 201
    r = await client.post("/api/v1/flows/Main line/validate", headers=h)
    assert r.status_code == 200
    report = r.json()
    assert not report["ok"]
    found = {(e["node"], e["field"]) for e in report["errors"]}
    assert ("bye", "params.audio") in found
    assert ("menu", "next.1") in found
    assert ("lost", None) in found  # unreachable
    r = await client.post("/api/v1/flows/Main line/publish", headers=h)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["id"] == "flow-invalid" and len(err["details"]) == len(report["errors"])
    assert (await client.get("/api/v1/flows/Main line/revisions", headers=h)).json() == []
    # validating a body document checks it without saving it
    r = await client.post("/api/v1/flows/Main line/validate", json=menu_flow(), headers=h)
    assert r.json()["ok"] is True
    # a number that is not one of My numbers
    other = menu_flow("Other")
    other["nodes"]["start"]["params"]["numbers"] = ["+19995550000"]
    await client.post("/api/v1/flows", json=other, headers=h)
    r = await client.post("/api/v1/flows/Other/validate", headers=h)
    assert [e["code"] for e in r.json()["errors"]] == ["unknown_number"]


async def test_a_number_claimed_by_two_flows_is_refused(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    await _company(store)
    h = bearer(token)
    await client.post("/api/v1/flows", json=menu_flow("A"), headers=h)
    assert (await client.post("/api/v1/flows/A/publish", headers=h)).status_code == 200
    await client.post("/api/v1/flows", json=menu_flow("B"), headers=h)
    r = await client.post("/api/v1/flows/B/publish", headers=h)
    assert r.status_code == 422
    assert any(DID in e["message"] for e in r.json()["error"]["details"])
    # the number cannot be deleted while the published flow claims it
    r = await client.delete(f"/api/v1/numbers/{DID}", headers=h)
    assert r.status_code == 409 and r.json()["error"]["details"] == {"flows": ["A"]}


async def test_simulate_returns_the_trace(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    await _company(store)
    h = bearer(token)
    await client.post("/api/v1/flows", json=menu_flow(), headers=h)
    body = {"caller": "+37120000000", "did": DID, "keys": "1", "answers": {"101": "answered"}}
    r = await client.post("/api/v1/flows/Main line/simulate", json=body, headers=h)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["path"] == ["start", "menu", "alice"]
    assert run["outcome"] == "answered" and run["answered_by"] == "101"
    menu = next(t for t in run["trace"] if t["node"] == "menu")
    assert menu["output"] == "1"
    # nothing pressed: the menu times out and the caller hears goodbye
    body = {"caller": "+37120000000", "keys": ""}
    run = (await client.post("/api/v1/flows/Main line/simulate", json=body, headers=h)).json()
    assert run["path"] == ["start", "menu", "bye"]
    # a simulation of an unsaved document
    doc = menu_flow()
    doc["nodes"]["menu"]["next"]["1"] = "bye"
    body = {"caller": "+3712", "keys": "1", "document": doc}
    run = (await client.post("/api/v1/flows/Main line/simulate", json=body, headers=h)).json()
    assert run["path"] == ["start", "menu", "bye"]
    # bad scripts are 422 with the path of the field
    r = await client.post(
        "/api/v1/flows/Main line/simulate", json={"caller": "x", "keys": "1z"}, headers=h
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.keys"
    r = await client.post(
        "/api/v1/flows/Main line/simulate",
        json={"caller": "x", "answers": {"101": "maybe"}},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"].startswith(
        "body.answers"
    )


async def test_simulate_reads_a_time_without_offset_in_the_company_zone(
    store: Store, app: FastAPI, client: httpx.AsyncClient, token: str
) -> None:
    await _company(store)
    h = bearer(token)
    async with store.transaction() as s:
        hours = {"wed": [["09:00", "18:00"]]}
        await upsert_schedule(
            s, ScheduleRec(name="riga", timezone="Europe/Riga", hours=hours, holidays=[])
        )
    doc = menu_flow("Zones")
    doc["nodes"]["start"]["next"]["next"] = "open"
    doc["nodes"]["start"]["params"]["numbers"] = []
    doc["nodes"]["open"] = {
        "type": "time_routing",
        "params": {"schedule": "riga"},
        "next": {"true": "alice", "false": "bye"},
    }
    assert (await client.post("/api/v1/flows", json=doc, headers=h)).status_code == 201

    async def path_at(at: str) -> tuple[list[str], str]:
        r = await client.post("/api/v1/flows/Zones/simulate", json={"at": at}, headers=h)
        assert r.status_code == 200, r.text
        return r.json()["path"], r.json()["timezone"]

    # The company's zone defaults to FLOWPBX_TIMEZONE, then follows Settings.
    with_settings(app, timezone="Asia/Tokyo")
    assert (await client.get("/api/v1/settings", headers=h)).json()["timezone"] == "Asia/Tokyo"
    # Wednesday 16:30 in Tokyo is 09:30 in Riga: open; 16:30 UTC would be 18:30 there.
    assert await path_at("2026-12-02T16:30:00") == (["start", "open", "alice"], "Asia/Tokyo")
    assert (await path_at("2026-12-02T16:30:00Z"))[0] == ["start", "open", "bye"]
    r = await client.put("/api/v1/settings", json={"timezone": "UTC"}, headers=h)
    assert r.status_code == 200
    assert await path_at("2026-12-02T16:30:00") == (["start", "open", "bye"], "UTC")


async def test_rename_keeps_revisions_and_the_numbers(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    await _company(store)
    h = bearer(token)
    assert (await client.post("/api/v1/flows", json=menu_flow(), headers=h)).status_code == 201
    assert (await client.post("/api/v1/flows/Main line/publish", headers=h)).status_code == 200
    other = menu_flow("Other")
    other["nodes"]["start"]["params"]["numbers"] = []
    assert (await client.post("/api/v1/flows", json=other, headers=h)).status_code == 201

    r = await client.post("/api/v1/flows/Main line/rename", json={"name": "Sales"}, headers=h)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["name"] == "Sales" and got["draft"]["name"] == "Sales"
    assert got["published_revision"] == 1 and not got["draft_changed"]
    assert (await client.get("/api/v1/flows/Main line", headers=h)).status_code == 404
    revisions = (await client.get("/api/v1/flows/Sales/revisions", headers=h)).json()
    assert [rev["number"] for rev in revisions] == [1]
    numbers = (await client.get("/api/v1/numbers", headers=h)).json()
    assert numbers[0]["flow"] == "Sales"
    # a taken name, a bad name, an unknown flow
    r = await client.post("/api/v1/flows/Sales/rename", json={"name": "Other"}, headers=h)
    assert r.status_code == 409
    r = await client.post("/api/v1/flows/Sales/rename", json={"name": "a/b"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.name"
    r = await client.post("/api/v1/flows/Nope/rename", json={"name": "X"}, headers=h)
    assert r.status_code == 404


async def test_export_import_round_trip(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    await _company(store)
    h = bearer(token)
    await client.post("/api/v1/flows", json=menu_flow(), headers=h)
    r = await client.get("/api/v1/flows/Main line/export", params={"format": "yaml"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
    doc = yaml.safe_load(r.text)
    assert doc == (await client.get("/api/v1/flows/Main line", headers=h)).json()["draft"]
    # import as a new flow (YAML) publishes it
    doc2 = copy.deepcopy(doc)
    doc2["name"] = "Copy"
    doc2["nodes"]["start"]["params"]["numbers"] = [DID2]
    r = await client.post(
        "/api/v1/flows/import",
        content=yaml.safe_dump(doc2),
        headers={**h, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "Copy", "revision": 1}
    assert (await client.get("/api/v1/flows/Copy", headers=h)).json()["published_revision"] == 1
    # invalid documents are refused with every problem, and nothing is saved
    bad = copy.deepcopy(doc2)
    bad["name"] = "Broken"
    bad["nodes"]["menu"]["next"]["1"] = "nowhere"
    r = await client.post("/api/v1/flows/import", json=bad, headers=h)
    assert r.status_code == 422 and r.json()["error"]["id"] == "flow-invalid"
    assert (await client.get("/api/v1/flows/Broken", headers=h)).status_code == 404
    r = await client.post(
        "/api/v1/flows/import",
        content=b"{not json",
        headers={**h, "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error"]["id"] == "invalid-document"


async def test_flow_schema_and_bad_documents(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    schema = (await client.get("/api/v1/flow-schema", headers=h)).json()
    assert "menu" in schema["x-outputs"] or "x-menu-keys" in schema
    r = await client.post("/api/v1/flows", json={"name": "x", "nodes": {"a": {}}}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["path"] == "body.nodes.a.type"
    r = await client.post("/api/v1/flows", json={"name": "x", "bogus": 1}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.bogus"
