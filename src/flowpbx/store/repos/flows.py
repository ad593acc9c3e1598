"""Call flows (tables ``flows`` and ``flow_revisions``): an editable draft per flow and its
immutable published revisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.errors import NotFoundError
from flowpbx.store.records import PublishedFlow
from flowpbx.store.repos.rows import update_row


async def list_flow_rows(s: AsyncSession) -> Sequence[m.Flow]:
    return (await s.scalars(select(m.Flow).order_by(m.Flow.name))).all()


async def get_flow_row(s: AsyncSession, name: str) -> m.Flow | None:
    return await s.scalar(select(m.Flow).where(m.Flow.name == name))


async def save_draft(s: AsyncSession, name: str, document: dict[str, Any]) -> bool:
    row = await get_flow_row(s, name)
    if row is None:
        s.add(m.Flow(name=name, draft=document))
        await s.flush()
        return True
    return update_row(row, {"draft": document})


async def published_revision(s: AsyncSession, flow: m.Flow) -> m.FlowRevision | None:
    if flow.published_revision_id is None:
        return None
    return await s.get(m.FlowRevision, flow.published_revision_id)


async def publish_flow(s: AsyncSession, name: str, *, author: str, message: str = "") -> int:
    """Publish the draft of flow `name` as a new immutable revision; returns its number.

    If the published revision already holds exactly the draft, nothing is written and its
    number is returned (an unchanged flow gets no new revision).
    """
    flow = await get_flow_row(s, name)
    if flow is None:
        raise NotFoundError(f"flow {name!r} does not exist")
    current = await published_revision(s, flow)
    if current is not None and current.document == flow.draft:
        return current.number
    last = await s.scalar(
        select(func.max(m.FlowRevision.number)).where(m.FlowRevision.flow_id == flow.id)
    )
    rev = m.FlowRevision(
        flow_id=flow.id,
        number=(last or 0) + 1,
        document=flow.draft,
        author=author,
        message=message,
    )
    s.add(rev)
    await s.flush()
    flow.published_revision_id = rev.id
    return rev.number


async def list_revisions(s: AsyncSession, name: str) -> Sequence[m.FlowRevision]:
    flow = await get_flow_row(s, name)
    if flow is None:
        raise NotFoundError(f"flow {name!r} does not exist")
    stmt = (
        select(m.FlowRevision)
        .where(m.FlowRevision.flow_id == flow.id)
        .order_by(m.FlowRevision.number)
    )
    return (await s.scalars(stmt)).all()


async def get_revision(s: AsyncSession, flow_id: int, number: int) -> m.FlowRevision | None:
    return await s.scalar(
        select(m.FlowRevision).where(
            m.FlowRevision.flow_id == flow_id, m.FlowRevision.number == number
        )
    )


def flow_dids(document: dict[str, Any]) -> list[str]:
    """The DIDs a flow document claims: `numbers` of its `numbers` element(s) (SPEC §3)."""
    dids: list[str] = []
    nodes = document.get("nodes")
    if not isinstance(nodes, dict):
        return dids
    for node in nodes.values():
        if isinstance(node, dict) and node.get("type") == "numbers":
            params = node.get("params") or {}
            for did in params.get("numbers") or ():
                if isinstance(did, str) and did not in dids:
                    dids.append(did)
    return dids


async def list_published(s: AsyncSession) -> list[PublishedFlow]:
    stmt = (
        select(m.Flow.name, m.FlowRevision.number, m.FlowRevision.document)
        .join(m.FlowRevision, m.Flow.published_revision_id == m.FlowRevision.id)
        .order_by(m.Flow.name)
    )
    return [
        PublishedFlow(flow_name=name, revision=number, document=doc)
        for name, number, doc in (await s.execute(stmt)).all()
    ]


async def delete_flow(s: AsyncSession, name: str) -> None:
    row = await s.scalar(select(m.Flow).where(m.Flow.name == name))
    if row is None:
        raise NotFoundError(f"flow {name!r} does not exist")
    row.published_revision_id = None  # the FK cycle: unlink before the revisions go
    await s.flush()
    await s.execute(delete(m.FlowRevision).where(m.FlowRevision.flow_id == row.id))
    await s.delete(row)
