"""`time_routing` on live calls (issue #18: until now only unit-tested). A flow routes by the
named schedule "Office" to an open prompt or a closed prompt, each a tone of its own; the
caller (a SIPp provider call) must hear the right one:

- the schedule open all of today and tomorrow in its zone (so a call near midnight is still
  inside) -> the open prompt;
- the schedule changed over the API to open only on the other five days -> the closed prompt;
- the node's override set to ``open`` over the API (flow saved and published) while the
  hours say closed -> the override's branch, the open prompt again.

The company time zone (Settings) and the schedule's zone are Pacific/Kiritimati (UTC+14),
whose date differs from UTC's for 14 hours a day; the trace's local time shows that zone.
The open/closed state never depends on the wall clock's luck."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flowpbx.flow.model import DAY_NAMES
from tests.audio_analysis import describe, has_tone
from tests.e2e.apiclient import admin_token, api
from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, tone_audio
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000080"
ZONE = "Pacific/Kiritimati"
OPEN_HZ = 700.0
CLOSED_HZ = 1100.0
FLOW_NAME = "Office-hours"


def _hours(open_days: set[str]) -> dict[str, list[list[str]]]:
    return {day: [["00:00", "24:00"]] if day in open_days else [] for day in DAY_NAMES}


def _today_and_tomorrow() -> set[str]:
    today = dt.datetime.now(ZoneInfo(ZONE)).date()
    return {DAY_NAMES[today.weekday()], DAY_NAMES[(today + dt.timedelta(days=1)).weekday()]}


def _nodes(override: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"schedule": "Office"}
    if override is not None:
        params["override"] = override
    return {
        "main": {
            "type": "time_routing",
            "params": params,
            "next": {"true": "open", "false": "closed"},
        },
        "open": {"type": "play", "params": {"audio": "open-tone"}},
        "closed": {"type": "play", "params": {"audio": "closed-tone"}},
    }


def _call_and_listen(e2e: Harness, server: FlowpbxServer, port: int, name: str) -> Any:
    caller = e2e.provider(
        server.sip, port, did=DID, hangup_expected=True, dtmf_at_ms=300, name=name
    )
    heard = e2e.capture(name, [caller.media_port])
    caller.start()
    caller.check(timeout=60)
    heard.stop()
    return heard.audio()


def test_open_closed_and_override_are_heard_by_the_caller(e2e: Harness) -> None:
    port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    company(
        server,
        trunk_ports=[port],
        audio=[
            tone_audio(server, "open-tone", OPEN_HZ, 2.5),
            tone_audio(server, "closed-tone", CLOSED_HZ, 2.5),
        ],
        flows=[flow(FLOW_NAME, [DID], _nodes())],
        schedules=[{"name": "Office", "timezone": ZONE, "hours": _hours(_today_and_tomorrow())}],
    )
    e2e.adopt(server)
    server.start()
    token = admin_token(server, "clock", "clock-password-1")
    assert (
        api(server, "PUT", "/api/v1/settings", {"timezone": ZONE}, token=token)["timezone"] == ZONE
    )

    # Open all of today and tomorrow: the open prompt.
    audio = _call_and_listen(e2e, server, port, "open")
    assert has_tone(audio, OPEN_HZ, 1.5), describe(audio)
    assert not has_tone(audio, CLOSED_HZ, 0.3), describe(audio)

    # Closed today and tomorrow (open the other five days): the closed prompt.
    other_days = {str(d) for d in DAY_NAMES} - _today_and_tomorrow()
    body = {"timezone": ZONE, "hours": _hours(other_days)}
    api(server, "PUT", "/api/v1/schedules/Office", body, token=token)
    audio = _call_and_listen(e2e, server, port, "closed")
    assert has_tone(audio, CLOSED_HZ, 1.5), describe(audio)
    assert not has_tone(audio, OPEN_HZ, 0.3), describe(audio)

    # The override set on the node (flow saved and published over the API) wins over the
    # closed hours: the open branch.
    doc = flow(FLOW_NAME, [DID], _nodes(override="open"))
    api(server, "PUT", f"/api/v1/flows/{FLOW_NAME}", doc, token=token)
    api(server, "POST", f"/api/v1/flows/{FLOW_NAME}/publish", {"message": "force"}, token=token)
    audio = _call_and_listen(e2e, server, port, "override")
    assert has_tone(audio, OPEN_HZ, 1.5), describe(audio)
    assert not has_tone(audio, CLOSED_HZ, 0.3), describe(audio)

    rows = server.wait_rows(
        "SELECT * FROM call_history WHERE outcome != 'in_progress' ORDER BY id", count=3
    )
    assert len(rows) == 3
    history = {r["call_id"]: r for r in server.history()}
    traces = [
        next(e for e in history[r["call_id"]]["trace"] if e.get("node") == "main") for r in rows
    ]
    assert [t.get("output") for t in traces] == ["true", "false", "true"], traces
    for t in traces[:2]:  # the schedule's local time, in its zone (+14)
        assert "+14" in str(t), t
    assert "open" in str(traces[2]), traces[2]
