"""/api/v1/health (no auth) and the Prometheus text exposition at /metrics (auth)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from flowpbx.api.deps import LiveDep, StoreDep, UserDep
from flowpbx.store.repos import history as history_repo
from flowpbx.store.repos import outbox as outbox_repo
from flowpbx.store.repos import queues as queues_repo
from flowpbx.store.repos import registrations as registrations_repo
from flowpbx.store.repos import voicemail as voicemail_repo

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
    database: str
    pbx: str


@router.get("/api/v1/health", response_model=HealthOut)
async def health(store: StoreDep, live: LiveDep) -> HealthOut:
    try:
        async with store.sessions() as s:
            await s.execute(select(1))
        db = "ok"
    except (SQLAlchemyError, OSError):
        db = "unavailable"
    return HealthOut(status="ok" if db == "ok" else "degraded", database=db,
                     pbx="running" if live is not None else "absent")  # fmt: skip


def _name(raw: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in raw)
    return out if out and not out[0].isdigit() else f"_{out}"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self, name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], float]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            num = repr(float(value)) if math.isfinite(value) else "NaN"
            self.lines.append(f"{name}{{{lab}}} {num}" if lab else f"{name} {num}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(request: Request, store: StoreDep, live: LiveDep, _user: UserDep) -> Response:
    """Prometheus text format: calls, registrations, queue waits, outbox, live counters."""
    out = _Exposition()
    async with store.sessions() as s:
        outcomes = await history_repo.outcome_counts(s)
        outbox = await outbox_repo.status_counts(s)
        waits = await queues_repo.wait_totals(s)
        unheard = await voicemail_repo.mailbox_counts(s)
        regs = await registrations_repo.load_registrations(s, dt.datetime.now(dt.UTC))
    out.metric(
        "flowpbx_calls_total",
        "counter",
        "Calls finished, by outcome (call history)",
        [({"outcome": k or "unknown"}, float(v)) for k, v in sorted(outcomes.items())],
    )
    out.metric("flowpbx_queue_calls_total", "counter", "Callers who left a queue", [({}, waits[0])])
    out.metric(
        "flowpbx_queue_wait_seconds_total",
        "counter",
        "Total seconds callers waited in queues",
        [({}, float(waits[1]))],
    )
    out.metric(
        "flowpbx_email_outbox",
        "gauge",
        "Emails in the outbox, by status",
        [({"status": k}, float(v)) for k, v in sorted(outbox.items())],
    )
    out.metric(
        "flowpbx_voicemail_unheard",
        "gauge",
        "Unheard voicemail messages",
        [({}, float(sum(u for _, u in unheard.values())))],
    )
    out.metric(
        "flowpbx_registrations", "gauge", "Registered phone bindings", [({}, float(len(regs)))]
    )
    out.metric(
        "flowpbx_event_subscribers",
        "gauge",
        "Websocket clients of /api/v1/events",
        [({}, float(request.app.state.events.subscribers))],
    )
    if live is not None:
        try:
            active = len(live.active_calls())
        except RuntimeError:
            active = 0
        out.metric("flowpbx_active_calls", "gauge", "Calls in progress", [({}, float(active))])
        extra: dict[str, Any] = {}
        try:
            extra.update(live.counters())
        except RuntimeError:  # the PBX is stopping
            pass
        extra.pop("active_calls", None)  # exported above as a gauge
        if extra:
            for key, value in sorted(extra.items()):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    name = "flowpbx_" + _name(str(key))
                    out.metric(name, "untyped", f"live PBX counter {key}", [({}, float(value))])
    return Response(out.text(), media_type="text/plain; version=0.0.4; charset=utf-8")
