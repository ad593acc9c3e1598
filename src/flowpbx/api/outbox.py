"""/api/v1/outbox: the email outbox, read-only — what waits, what was sent, what failed."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from flowpbx.api.deps import StoreDep, UserDep
from flowpbx.store.repos import outbox as outbox_repo

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])


class EmailOut(BaseModel):
    id: int
    to: list[str]
    subject: str
    attachments: list[str]  # file names only; server paths stay on the server
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime
    created_at: dt.datetime
    sent_at: dt.datetime | None


@router.get("", response_model=list[EmailOut])
async def list_outbox(
    store: StoreDep,
    _user: UserDep,
    status: Annotated[Literal["pending", "sent", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EmailOut]:
    """Newest first."""
    async with store.sessions() as s:
        rows = await outbox_repo.list_emails(s, status=status, limit=limit)
    return [
        EmailOut(
            id=e.id,
            to=list(e.to),
            subject=e.subject,
            attachments=[name for name, _ in e.attachments],
            status=e.status,
            attempts=e.attempts,
            last_error=e.last_error,
            next_attempt_at=e.next_attempt_at,
            created_at=e.created_at,
            sent_at=e.sent_at,
        )
        for e in rows
    ]
