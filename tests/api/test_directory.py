"""Extensions, trunks, numbers, schedules, mailboxes and messages, queues, settings, config."""

from __future__ import annotations

import datetime as dt

import httpx
import numpy as np
import soundfile as sf
import yaml

from flowpbx.store.db import Store
from flowpbx.store.repos.extensions import compute_ha1
from tests.api.conftest import bearer

T0 = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


async def test_extensions_crud(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    body = {"number": "101", "name": "Alice", "password": "s3cret-101-long", "outbound": True}
    r = await client.post("/api/v1/extensions", json=body, headers=h)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["number"] == "101" and got["outbound"] and not got["registered"]
    assert "password" not in got and not any("ha1" in k for k in got)
    assert (await client.post("/api/v1/extensions", json=body, headers=h)).status_code == 409
    r = await client.put(
        "/api/v1/extensions/101",
        json={"name": "Alice B", "supervisor": True, "caller_id": "+37167000001"},
        headers=h,
    )
    assert r.status_code == 200
    assert r.json()["name"] == "Alice B" and r.json()["supervisor"]
    # bad fields answer 422 with their paths
    r = await client.post(
        "/api/v1/extensions", json={"number": "1", "name": "", "password": "pw"}, headers=h
    )
    assert r.status_code == 422
    paths = {d["path"] for d in r.json()["error"]["details"]}
    assert {"body.number", "body.name", "body.password"} <= paths
    r = await client.put("/api/v1/extensions/101", json={"name": "A", "mailbox": "777"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.mailbox"
    r = await client.put("/api/v1/extensions/999", json={"name": "A"}, headers=h)
    assert r.status_code == 404
    assert (await client.delete("/api/v1/extensions/101", headers=h)).status_code == 204
    assert (await client.delete("/api/v1/extensions/101", headers=h)).status_code == 404


async def test_sip_passwords_are_long_or_generated(
    client: httpx.AsyncClient, token: str, store: Store
) -> None:
    h = bearer(token)
    short = {"number": "106", "name": "Weak", "password": "eleven-char"}
    for method, url, body in (
        ("POST", "/api/v1/extensions", short),
        ("PUT", "/api/v1/extensions/106", {"name": "Weak", "password": "eleven-char"}),
    ):
        if method == "PUT":
            ok = {"number": "106", "name": "Weak", "password": "twelve-chars"}
            assert (await client.post("/api/v1/extensions", json=ok, headers=h)).status_code == 201
        r = await client.request(method, url, json=body, headers=h)
        assert r.status_code == 422, r.text
        detail = r.json()["error"]["details"][0]
        assert detail["path"] == "body.password"
        assert "at least 12 characters" in detail["message"], detail
    # no password: flowpbx generates one, shown once, and it is the extension's password
    r = await client.post("/api/v1/extensions", json={"number": "107", "name": "Gen"}, headers=h)
    assert r.status_code == 201, r.text
    generated = r.json()["generated_password"]
    assert isinstance(generated, str) and len(generated) >= 12
    ext = await store.get_extension("107")
    assert ext is not None and ext.ha1_md5 == compute_ha1("107", store.sip_realm, generated)[0]
    assert (
        "generated_password" not in (await client.get("/api/v1/extensions/107", headers=h)).json()
    )
    r = await client.post(
        "/api/v1/extensions", json={"number": "108", "name": "Own", "password": "x" * 12}, headers=h
    )
    assert r.status_code == 201 and r.json()["generated_password"] is None


async def test_extension_allow_list_and_call_waiting(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    body = {"number": "105", "name": "Eve", "password": "s3cret-105-long"}
    r = await client.post("/api/v1/extensions", json=body, headers=h)
    assert r.status_code == 201 and r.json()["allowed_cidrs"] == [] and r.json()["call_waiting"]
    r = await client.put(
        "/api/v1/extensions/105",
        json={
            "name": "Eve",
            "allowed_cidrs": ["10.1.2.3", "192.168.0.0/16"],
            "call_waiting": False,
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["allowed_cidrs"] == ["10.1.2.3/32", "192.168.0.0/16"]
    assert r.json()["call_waiting"] is False
    r = await client.put(
        "/api/v1/extensions/105", json={"name": "Eve", "allowed_cidrs": ["10.1.2.300"]}, headers=h
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["path"].startswith("body.allowed_cidrs")
    assert (await client.get("/api/v1/extensions/105", headers=h)).json()["call_waiting"] is False


async def test_trunk_number_format(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    trunk = {"name": "local", "host": "127.0.0.1", "country_code": "371", "national_prefix": "0"}
    r = await client.post("/api/v1/trunks", json=trunk, headers=h)
    assert r.status_code == 201, r.text
    assert (r.json()["country_code"], r.json()["national_prefix"]) == ("371", "0")
    r = await client.post(
        "/api/v1/trunks", json={**trunk, "name": "bad", "country_code": "+371"}, headers=h
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.country_code"


async def test_trunks_and_numbers(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    trunk = {"name": "provider", "host": "127.0.0.1", "port": 5070, "password": "pw"}
    r = await client.post("/api/v1/trunks", json=trunk, headers=h)
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["password_set"] and "password" not in t and t["registration"] is None
    assert t["register"] is False
    assert (await client.post("/api/v1/trunks", json=trunk, headers=h)).status_code == 409
    r = await client.put(
        "/api/v1/trunks/provider", json={"host": "10.0.0.1", "register": True}, headers=h
    )
    assert r.status_code == 200 and r.json()["register"] and r.json()["password_set"]
    r = await client.post("/api/v1/trunks", json={**trunk, "name": "x", "port": 0}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.port"

    for n in ("+37167000001", "+37167000002", "+37167000003"):
        r = await client.post("/api/v1/numbers", json={"number": n, "trunk": "provider"}, headers=h)
        assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/numbers", json={"number": "+37167000009", "trunk": "nope"}, headers=h
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.trunk"
    r = await client.post("/api/v1/numbers", json={"number": "abc", "trunk": "provider"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.number"
    # move the third number to the front of the caller-ID list (c1)
    r = await client.put(
        "/api/v1/numbers/+37167000003", json={"trunk": "provider", "position": 1}, headers=h
    )
    assert r.status_code == 200 and r.json()["position"] == 1
    order = [n["number"] for n in (await client.get("/api/v1/numbers", headers=h)).json()]
    assert order == ["+37167000003", "+37167000001", "+37167000002"]
    # the trunk cannot go while numbers use it
    r = await client.delete("/api/v1/trunks/provider", headers=h)
    assert r.status_code == 409 and r.json()["error"]["id"] == "trunk-in-use"
    for n in order:
        assert (await client.delete(f"/api/v1/numbers/{n}", headers=h)).status_code == 204
    assert (await client.delete("/api/v1/trunks/provider", headers=h)).status_code == 204
    assert (await client.get("/api/v1/trunks/provider", headers=h)).status_code == 404


async def test_schedules_crud(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    body = {
        "name": "office",
        "timezone": "Europe/Riga",
        "hours": {"mon": [["09:00", "18:00"]]},
        "holidays": ["2026-12-25"],
    }
    r = await client.post("/api/v1/schedules", json=body, headers=h)
    assert r.status_code == 201 and r.json() == body
    assert (await client.post("/api/v1/schedules", json=body, headers=h)).status_code == 409
    r = await client.put(
        "/api/v1/schedules/office",
        json={"timezone": "Mars/Olympus", "hours": {}, "holidays": []},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"].startswith("body")
    r = await client.put(
        "/api/v1/schedules/office", json={"timezone": "UTC", "hours": {"tue": []}}, headers=h
    )
    assert r.status_code == 200 and r.json()["timezone"] == "UTC"
    # a published flow that routes by the schedule holds it
    await client.post("/api/v1/trunks", json={"name": "p", "host": "127.0.0.1"}, headers=h)
    await client.post("/api/v1/numbers", json={"number": "+37167000001", "trunk": "p"}, headers=h)
    flow = {
        "name": "Hours",
        "entry": "start",
        "nodes": {
            "start": {
                "type": "numbers",
                "params": {"numbers": ["+37167000001"]},
                "next": {"next": "hours"},
            },
            "hours": {"type": "time_routing", "params": {"schedule": "office"}, "next": {}},
        },
    }
    await client.post("/api/v1/flows", json=flow, headers=h)
    assert (await client.post("/api/v1/flows/Hours/publish", headers=h)).status_code == 200
    r = await client.delete("/api/v1/schedules/office", headers=h)
    assert r.status_code == 409 and r.json()["error"]["details"] == {"flows": ["Hours"]}
    assert (await client.delete("/api/v1/flows/Hours", headers=h)).status_code == 204
    assert (await client.delete("/api/v1/schedules/office", headers=h)).status_code == 204
    assert (await client.get("/api/v1/schedules/office", headers=h)).status_code == 404


async def test_mailboxes_and_messages(store: Store, client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    r = await client.post(
        "/api/v1/mailboxes",
        json={"number": "100", "name": "Main", "pin": "1234", "email": ["boss@example.com"]},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "number": "100",
        "name": "Main",
        "pin_set": True,
        "email": ["boss@example.com"],
        "messages": 0,
        "unheard": 0,
    }
    r = await client.post(
        "/api/v1/mailboxes", json={"number": "101", "name": "x", "email": ["nope"]}, headers=h
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.email"
    # a message, as the voicemail element records it
    vm_dir = store.data_dir / "voicemail"
    vm_dir.mkdir(parents=True)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000) * 32767).astype(np.int16)
    sf.write(vm_dir / "m1.wav", tone, 8000, subtype="PCM_16")
    mid = await store.add_voicemail(
        mailbox="100", file="voicemail/m1.wav", caller="+3712", duration_s=1.0, received_at=T0
    )
    msgs = (await client.get("/api/v1/mailboxes/100/messages", headers=h)).json()
    assert [(m["id"], m["caller"], m["heard"]) for m in msgs] == [(mid, "+3712", False)]
    assert (await client.get("/api/v1/mailboxes/100", headers=h)).json()["unheard"] == 1
    # stream, with a range request as the browser's player seeks
    f = await client.get(f"/api/v1/mailboxes/100/messages/{mid}/file", headers=h)
    assert f.status_code == 200 and f.headers["content-type"] == "audio/wav"
    assert f.headers["accept-ranges"] == "bytes"
    whole = f.content
    part = await client.get(
        f"/api/v1/mailboxes/100/messages/{mid}/file", headers={**h, "Range": "bytes=44-143"}
    )
    assert part.status_code == 206 and part.content == whole[44:144]
    assert part.headers["content-range"] == f"bytes 44-143/{len(whole)}"
    r = await client.post(f"/api/v1/mailboxes/100/messages/{mid}/heard", headers=h)
    assert r.status_code == 200 and r.json()["heard"] is True
    r = await client.post(
        f"/api/v1/mailboxes/100/messages/{mid}/heard", json={"heard": False}, headers=h
    )
    assert r.json()["heard"] is False
    # a message is only reachable through its own mailbox
    await client.post("/api/v1/mailboxes", json={"number": "200", "name": "Other"}, headers=h)
    assert (await client.get(f"/api/v1/mailboxes/200/messages/{mid}", headers=h)).status_code == 404
    assert (
        await client.delete(f"/api/v1/mailboxes/100/messages/{mid}", headers=h)
    ).status_code == 204
    assert not (vm_dir / "m1.wav").exists()
    assert (await client.get("/api/v1/mailboxes/100/messages", headers=h)).json() == []
    # PUT without pin keeps it; with null clears it
    r = await client.put("/api/v1/mailboxes/100", json={"name": "Main 2"}, headers=h)
    assert r.json()["pin_set"] is True and r.json()["name"] == "Main 2"
    r = await client.put("/api/v1/mailboxes/100", json={"name": "Main 2", "pin": None}, headers=h)
    assert r.json()["pin_set"] is False
    # a mailbox an extension uses cannot be deleted
    await client.post(
        "/api/v1/extensions",
        json={"number": "101", "name": "A", "password": "pw-101-long-enough", "mailbox": "100"},
        headers=h,
    )
    r = await client.delete("/api/v1/mailboxes/100", headers=h)
    assert r.status_code == 409 and r.json()["error"]["id"] == "mailbox-in-use"
    assert (await client.delete("/api/v1/mailboxes/200", headers=h)).status_code == 204


async def test_queues_config_flow_queues_and_stats(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    h = bearer(token)
    r = await client.put(
        "/api/v1/queues/sales",
        json={"strategy": "fewest_calls", "members": [{"extension": "101"}]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    now = dt.datetime.now(dt.UTC)
    await store.record_queue_call(
        queue="sales", call_id="c1", caller="+3712", joined_at=now, wait_s=12.0,
        result="answered", member="101", talk_s=40.0,
    )  # fmt: skip
    await store.record_queue_call(
        queue="sales", call_id="c2", caller="+3713", joined_at=now, wait_s=30.0, result="timeout"
    )
    q = (await client.get("/api/v1/queues/sales", headers=h)).json()
    assert q["source"] == "stored" and q["strategy"] == "fewest_calls"
    assert q["stats"]["calls"] == 2 and q["stats"]["by_result"] == {"answered": 1, "timeout": 1}
    assert q["member_stats"]["101"]["answered"] == 1 and q["live"] is None
    r = await client.put("/api/v1/queues/sales", json={"strategy": "fastest"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.strategy"
    # the settings follow the queue element's rules, each bad one named
    r = await client.put(
        "/api/v1/queues/sales",
        json={"settings": {"max_wait_s": -1, "ring_forever": True, "exit_key": "x"}},
        headers=h,
    )
    assert r.status_code == 422, r.text
    paths = {d["path"] for d in r.json()["error"]["details"]}
    bad = ("max_wait_s", "ring_forever", "exit_key")
    assert paths == {f"body.settings.{k}" for k in bad}
    r = await client.put(
        "/api/v1/queues/sales",
        json={"settings": {"max_wait_s": 90, "join_empty": True, "exit_key": "#"}},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["settings"] == {"max_wait_s": 90, "join_empty": True, "exit_key": "#"}
    assert (await client.delete("/api/v1/queues/sales", headers=h)).status_code == 204
    assert (await client.get("/api/v1/queues/nope", headers=h)).status_code == 404


async def test_settings(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    s = (await client.get("/api/v1/settings", headers=h)).json()
    assert s["allow_private_webhooks"] is False and s["timezone"] == "UTC"
    r = await client.put(
        "/api/v1/settings", json={"allow_private_webhooks": True, "timezone": "Europe/Riga"},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200
    assert r.json()["allow_private_webhooks"] is True and r.json()["timezone"] == "Europe/Riga"
    assert (await client.get("/api/v1/settings", headers=h)).json() == r.json()
    r = await client.put("/api/v1/settings", json={"colour": "blue"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.colour"
    r = await client.put("/api/v1/settings", json={"timezone": "Nowhere/Else"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.timezone"


async def test_whole_config_export_and_import(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    doc = {
        "extensions": [{"number": "101", "name": "Alice", "password": "pw-101-long-enough"}],
        "trunks": [{"name": "provider", "host": "127.0.0.1", "port": 5070}],
        "numbers": [{"number": "+37167000001", "trunk": "provider"}],
        "mailboxes": [{"number": "100", "name": "Main"}],
    }
    r = await client.post(
        "/api/v1/config",
        content=yaml.safe_dump(doc),
        headers={**h, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["changed"]["extensions"] == 1
    again = await client.post("/api/v1/config", json=doc, headers=h)
    assert sum(again.json()["changed"].values()) == 0  # idempotent
    out = (await client.get("/api/v1/config", headers=h)).json()
    assert [e["number"] for e in out["extensions"]] == ["101"] and "audio" not in out
    # every problem at once, nothing written
    bad = {"numbers": [{"number": "+37100", "trunk": "ghost"}], "extensions": [{"number": "1"}]}
    r = await client.post("/api/v1/config", json=bad, headers=h)
    assert r.status_code == 422 and r.json()["error"]["id"] == "config-invalid"
    assert len(r.json()["error"]["details"]) >= 3
    # an oversized document is refused before it is read into memory
    r = await client.post(
        "/api/v1/config",
        content=b" " * (7 * 1024 * 1024),
        headers={**h, "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["id"] == "too-large"
    # no server path may come from a request
    r = await client.post(
        "/api/v1/config", json={"audio": [{"name": "x", "file": "/etc/passwd"}]}, headers=h
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.audio"


async def test_outbox_is_visible(store: Store, client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    sent = await store.enqueue_email("a@example.com", "sent one", "b")
    await store.mark_sent(sent)
    failing = await store.enqueue_email(
        ["b@example.com"], "retrying", "b", attachments=[("msg.wav", "/srv/data/vm/1.wav")]
    )
    await store.mark_failed(failing, "connection refused", dt.datetime.now(dt.UTC))
    items = (await client.get("/api/v1/outbox", headers=h)).json()
    assert [(e["subject"], e["status"]) for e in items] == [
        ("retrying", "pending"),
        ("sent one", "sent"),
    ]
    assert items[0]["attachments"] == ["msg.wav"]  # no server paths
    assert items[0]["attempts"] == 1 and items[0]["last_error"] == "connection refused"
    only = (await client.get("/api/v1/outbox", params={"status": "sent"}, headers=h)).json()
    assert [e["id"] for e in only] == [sent]
    r = await client.get("/api/v1/outbox", params={"status": "lost"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "query.status"
