"""Call history filters, paging, CSV, traces, recordings; Prometheus /metrics."""

from __future__ import annotations

import csv
import datetime as dt
import io

import httpx
import numpy as np
import soundfile as sf

from flowpbx.store.db import Store
from flowpbx.store.records import CallRecord
from tests.api.conftest import bearer

T0 = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)
TRACE = [
    {"t": 0.0, "node": "start", "type": "numbers", "output": "next", "facts": {}},
    {"t": 1.0, "node": "menu", "type": "menu", "output": "1", "facts": {"digits": "1"}},
    {"t": 9.0, "node": "menu", "type": "end", "output": None, "facts": {}},
]


async def _calls(store: Store) -> list[int]:
    ids = []
    for i, (caller, did, by, outcome) in enumerate(
        [
            ("+3711", "+37167000001", "101", "answered"),
            ("+3712", "+37167000001", None, "caller_hangup"),
            ("+3713", "+37167000002", "102", "answered"),
            ("+3711", "+37167000002", None, "hangup"),
        ]
    ):
        start = T0 + dt.timedelta(hours=i)
        ids.append(
            await store.add_call_history(
                CallRecord(
                    call_id=f"call-{i}",
                    started_at=start,
                    answered_at=start + dt.timedelta(seconds=5) if by else None,
                    ended_at=start + dt.timedelta(seconds=65),
                    caller=caller,
                    did=did,
                    flow="Main line",
                    revision=1,
                    answered_by=by,
                    outcome=outcome,
                    trace=TRACE,
                )
            )
        )
    return ids


async def test_history_filters_paging_total(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    ids = await _calls(store)
    h = bearer(token)

    async def q(**params: str | int) -> tuple[list[str], int]:
        r = await client.get("/api/v1/history", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [c["call_id"] for c in r.json()], int(r.headers["x-total-count"])

    assert await q() == (["call-3", "call-2", "call-1", "call-0"], 4)
    assert await q(number="+3711") == (["call-3", "call-0"], 2)
    assert await q(number="+37167000002") == (["call-3", "call-2"], 2)
    assert await q(extension="102") == (["call-2"], 1)
    assert await q(outcome="answered") == (["call-2", "call-0"], 2)
    since = (T0 + dt.timedelta(hours=1)).isoformat()
    until = (T0 + dt.timedelta(hours=3)).isoformat()
    assert await q(since=since, until=until) == (["call-2", "call-1"], 2)
    assert await q(limit=1, offset=1) == (["call-2"], 4)
    trace = (await client.get(f"/api/v1/history/{ids[0]}/trace", headers=h)).json()
    assert trace == TRACE
    r = await client.get("/api/v1/history", params={"since": "yesterday"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "query.since"
    r = await client.get("/api/v1/history/99999999999", headers=h)
    assert r.status_code == 422  # beyond any database integer: refused, not a server error


async def test_history_csv(store: Store, client: httpx.AsyncClient, token: str) -> None:
    await _calls(store)
    r = await client.get(
        "/api/v1/history.csv", params={"outcome": "answered"}, headers=bearer(token)
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["call_id"] for row in rows] == ["call-2", "call-0"]
    assert rows[1]["answered_by"] == "101" and rows[1]["talk_s"] == "60.0"
    assert rows[1]["path"] == "start > menu"
    assert (await client.get("/api/v1/history.csv")).status_code == 401


async def test_history_and_csv_find_an_agents_outgoing_call(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    """An outgoing call's row (pbx/call/parties.py): the extension filter finds the extension
    that dialled, the number filter the number dialled; the CSV says the direction and the
    extension; a direction that is not one gets a 422 naming the field."""
    await _calls(store)
    await store.add_call_history(
        CallRecord(
            call_id="out-0", started_at=T0 + dt.timedelta(hours=5), caller="+37167000001",
            did="+3719", answered_by="103", outcome="answered", direction="outbound",
            extension="103",
        )
    )  # fmt: skip
    h = bearer(token)
    for params in ({"extension": "103"}, {"number": "+3719"}, {"direction": "outbound"}):
        r = await client.get("/api/v1/history", params=params, headers=h)
        assert [c["call_id"] for c in r.json()] == ["out-0"], params
        assert r.json()[0]["direction"] == "outbound" and r.json()[0]["extension"] == "103"
    r = await client.get("/api/v1/history.csv", params={"extension": "103"}, headers=h)
    (row,) = list(csv.DictReader(io.StringIO(r.text)))
    assert (row["direction"], row["extension"], row["did"], row["caller"]) == (
        "outbound", "103", "+3719", "+37167000001",
    )  # fmt: skip
    r = await client.get("/api/v1/history", params={"direction": "sideways"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "query.direction"


async def test_recording_streams_when_present(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    ids = await _calls(store)
    h = bearer(token)
    r = await client.get(f"/api/v1/history/{ids[0]}/recording", headers=h)
    assert r.status_code == 404 and r.json()["error"]["id"] == "recording-not-found"
    (store.data_dir / "rec").mkdir(parents=True)
    sf.write(store.data_dir / "rec" / "c0.wav", np.zeros(800, np.int16), 8000, subtype="PCM_16")
    await store.set_call_recording("call-0", "rec/c0.wav")
    r = await client.get(f"/api/v1/history/{ids[0]}/recording", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert len(r.content) == 44 + 1600


async def test_metrics_text_format(store: Store, client: httpx.AsyncClient, token: str) -> None:
    await _calls(store)
    await store.enqueue_email("a@example.com", "s", "b")
    assert (await client.get("/metrics")).status_code == 401
    r = await client.get("/metrics", headers=bearer(token))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert "# TYPE flowpbx_calls_total counter" in lines
    assert 'flowpbx_calls_total{outcome="answered"} 2.0' in lines
    assert 'flowpbx_email_outbox{status="pending"} 1.0' in lines
    assert "flowpbx_registrations 0.0" in lines
    for line in lines:  # every sample line is "name{labels} number"
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)
            assert name.startswith("flowpbx_")
