"""/api/v1/flows: drafts, validation, publishing, revisions, rollback, simulation (SPEC §3, §6).

A flow has one editable draft and immutable published revisions. Drafts may be invalid
(the editor saves work in progress); publishing validates against the live directory
(extensions, audio, mailboxes, schedules, My numbers, DIDs claimed by other flows) and
refuses with 422 `flow-invalid` listing every problem.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.api.deps import IntId, LiveDep, SettingsDep, StoreDep, UserDep
from flowpbx.api.errors import ApiError, not_found
from flowpbx.api.live_actions import reload_live
from flowpbx.api.settings import load_settings
from flowpbx.flow.model import FlowError, ScheduleSpec, flow_json_schema
from flowpbx.flow.schedule import Schedule
from flowpbx.flow.simulator import simulate
from flowpbx.flow.validate import validate_flow
from flowpbx.store import models as m
from flowpbx.store.config_io import DirectoryView, import_document
from flowpbx.store.db import Store, builtin_audio
from flowpbx.store.errors import ConfigError
from flowpbx.store.repos import audio as audio_repo
from flowpbx.store.repos import extensions as extensions_repo
from flowpbx.store.repos import flows as flows_repo
from flowpbx.store.repos import numbers as numbers_repo
from flowpbx.store.repos import schedules as schedules_repo
from flowpbx.store.repos import voicemail as voicemail_repo

router = APIRouter(prefix="/api/v1/flows", tags=["flows"])
schema_router = APIRouter(prefix="/api/v1", tags=["flows"])

EXAMPLE_FLOW: dict[str, Any] = {
    "name": "Main line",
    "entry": "start",
    "nodes": {
        "start": {
            "type": "numbers",
            "params": {"numbers": ["+37167000001"]},
            "next": {"next": "hello"},
        },
        "hello": {"type": "play", "params": {"audio": "greeting"}, "next": {"next": "bye"}},
        "bye": {"type": "hangup"},
    },
    "layout": {"start": {"x": 0, "y": 0}},
}


class NodeIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=50)
    params: dict[str, Any] = Field(default_factory=dict)
    next: dict[str, str | None] = Field(default_factory=dict)


class FlowDocIn(BaseModel):
    """A flow document (SPEC §3). Drafts may be incomplete; publish validates them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_FLOW]})
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^/\x00-\x1f]+$")
    entry: str = Field(default="", max_length=100)
    nodes: dict[Annotated[str, Field(min_length=1, max_length=100)], NodeIn] = Field(
        default_factory=dict
    )
    layout: dict[str, Any] = Field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        doc = self.model_dump(mode="json", exclude_none=False)
        for node in doc["nodes"].values():
            if not node.get("params"):
                node.pop("params", None)
            if not node.get("next"):
                node.pop("next", None)
        if not doc["layout"]:
            doc.pop("layout")
        return doc


class FlowSummary(BaseModel):
    name: str
    published_revision: int | None
    draft_changed: bool
    numbers: list[str]
    updated_at: dt.datetime


class FlowOut(FlowSummary):
    draft: dict[str, Any]
    published: dict[str, Any] | None


class ProblemOut(BaseModel):
    node: str | None
    field: str | None
    code: str
    message: str


class ValidationOut(BaseModel):
    ok: bool
    errors: list[ProblemOut]
    warnings: list[ProblemOut]


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(default="", max_length=2000)


class PublishOut(BaseModel):
    name: str
    revision: int


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revision: int = Field(ge=1)


class RevisionOut(BaseModel):
    number: int
    author: str
    message: str
    created_at: dt.datetime
    published: bool


class RevisionDetail(RevisionOut):
    document: dict[str, Any]


class SimulateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"caller": "+37120000000", "did": "+37167000001", "keys": "1"}]
        },
    )
    caller: str = Field(default="+10000000000", min_length=1, max_length=64)
    did: str | None = Field(default=None, max_length=64)
    at: dt.datetime | None = Field(
        default=None,
        description="when the call comes in; without an offset, in the company's time zone",
    )
    keys: str = Field(default="", max_length=200, pattern=r"^[0-9*#_h]*$")
    http_replies: dict[str, str | int | None] = Field(default_factory=dict)
    answers: dict[str, Literal["answered", "no_answer", "busy", "offline", "failed"]] = Field(
        default_factory=dict
    )
    caller_name: str | None = Field(default=None, max_length=200)
    document: FlowDocIn | None = None


class TraceEntryOut(BaseModel):
    t: float
    node: str
    type: str
    output: str | None
    facts: dict[str, Any]


class SimulateOut(BaseModel):
    outcome: str
    reason: str
    answered_by: str | None
    timezone: str | None = Field(default=None, description="the zone a time without offset is in")
    path: list[str]
    trace: list[TraceEntryOut]
    variables: dict[str, Any]


# --------------------------------------------------------------------------- helpers


async def directory_view(s: AsyncSession, store: Store, flow_name: str | None) -> DirectoryView:
    """The company as validation sees it; DIDs claimed by *other* published flows."""
    claimed: dict[str, str] = {}
    for pub in await flows_repo.list_published(s):
        if pub.flow_name != flow_name:
            for did in flows_repo.flow_dids(pub.document):
                claimed.setdefault(did, pub.flow_name)
    boxes = await voicemail_repo.list_mailboxes(s)
    return DirectoryView(
        extensions=frozenset(e.number for e in await extensions_repo.list_extensions(s)),
        audio=frozenset(
            set(builtin_audio()) | {a.name for a in await audio_repo.list_audio_rows(s)}
        ),
        mailboxes=frozenset(mb.number for mb in boxes),
        mailbox_pins=frozenset(mb.number for mb in boxes if mb.pin),
        schedules=frozenset(sc.name for sc in await schedules_repo.list_schedules(s)),
        numbers=frozenset(n.number for n in await numbers_repo.list_numbers(s)),
        flow_dids=claimed,
    )


def check(document: dict[str, Any], view: DirectoryView) -> ValidationOut:
    report = validate_flow(document, view).to_dict()
    errors = [ProblemOut(**p) for p in report["errors"]]
    if not errors:
        for did in flows_repo.flow_dids(document):
            if did not in view.numbers:
                errors.append(
                    ProblemOut(
                        node=None,
                        field="params.numbers",
                        code="unknown_number",
                        message=f"numbers: {did} is not one of My numbers",
                    )
                )
    warnings = [ProblemOut(**p) for p in report["warnings"]]
    return ValidationOut(ok=not errors, errors=errors, warnings=warnings)


def _unnamed(doc: dict[str, Any]) -> dict[str, Any]:
    """A document without its name (a renamed flow's revisions keep their old one)."""
    return {k: v for k, v in doc.items() if k != "name"}


async def _flow_out(s: AsyncSession, row: m.Flow) -> FlowOut:
    rev = await flows_repo.published_revision(s, row)
    return FlowOut(
        name=row.name,
        published_revision=rev.number if rev else None,
        draft_changed=rev is None or _unnamed(rev.document) != _unnamed(row.draft),
        numbers=flows_repo.flow_dids(row.draft),
        updated_at=row.updated_at,
        draft=row.draft,
        published=rev.document if rev else None,
    )


async def _row(s: AsyncSession, name: str) -> m.Flow:
    row = await flows_repo.get_flow_row(s, name)
    if row is None:
        raise not_found("flow", name)
    return row


# --------------------------------------------------------------------------- endpoints


@router.get("", response_model=list[FlowSummary])
async def list_flows(store: StoreDep, _user: UserDep) -> list[FlowSummary]:
    async with store.sessions() as s:
        out = [await _flow_out(s, row) for row in await flows_repo.list_flow_rows(s)]
    return [FlowSummary(**o.model_dump(exclude={"draft", "published"})) for o in out]


@schema_router.get("/flow-schema")
async def flow_schema(_user: UserDep) -> dict[str, Any]:
    """JSON Schema of a flow document, with each element type's outputs (`x-outputs`)."""
    return flow_json_schema()


@router.post("", response_model=FlowOut, status_code=201, responses={409: {}})
async def create_flow(doc: FlowDocIn, store: StoreDep, _user: UserDep) -> FlowOut:
    async with store.transaction() as s:
        if await flows_repo.get_flow_row(s, doc.name) is not None:
            raise ApiError(409, "flow-exists", f"flow {doc.name!r} already exists")
        await flows_repo.save_draft(s, doc.name, doc.document())
        return await _flow_out(s, await _row(s, doc.name))


@router.post("/import", response_model=PublishOut, responses={422: {}})
async def import_flow(
    request: Request, store: StoreDep, live: LiveDep, _user: UserDep
) -> PublishOut:
    """Save and publish one flow document (JSON, or YAML with Content-Type application/yaml)."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    try:
        data = yaml.safe_load(raw) if "yaml" in ctype else json.loads(raw)
    except (yaml.YAMLError, ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid-document", f"not a valid document: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "invalid-document", "the body must be one flow document (a mapping)")
    doc = FlowDocIn.model_validate(data)
    try:
        result = await import_document(store, {"flows": [doc.document()]}, base=store.data_dir)
    except ConfigError as exc:
        raise ApiError(422, "flow-invalid", str(exc), details=exc.problems) from exc
    await reload_live(live)
    return PublishOut(name=doc.name, revision=result.published[doc.name])


@router.get("/{name}", response_model=FlowOut)
async def get_flow(name: str, store: StoreDep, _user: UserDep) -> FlowOut:
    async with store.sessions() as s:
        return await _flow_out(s, await _row(s, name))


@router.put("/{name}", response_model=FlowOut, responses={404: {}, 422: {}})
async def save_flow(name: str, doc: FlowDocIn, store: StoreDep, _user: UserDep) -> FlowOut:
    """Save the draft (publishing is separate); the document's name must match the path."""
    if doc.name != name:
        raise ApiError(
            422,
            "name-mismatch",
            f"the document is named {doc.name!r} but the path names {name!r}",
            details=[{"path": "body.name", "message": "must equal the flow name in the path"}],
        )
    async with store.transaction() as s:
        await _row(s, name)
        await flows_repo.save_draft(s, name, doc.document())
        return await _flow_out(s, await _row(s, name))


@router.delete("/{name}", status_code=204, responses={404: {}})
async def delete_flow(name: str, store: StoreDep, live: LiveDep, _user: UserDep) -> Response:
    async with store.transaction() as s:
        row = await _row(s, name)
        was_published = row.published_revision_id is not None
        await flows_repo.delete_flow(s, name)
    if was_published:
        await reload_live(live)
    return Response(status_code=204)


class RenameIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Sales"}]})
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^/\x00-\x1f]+$")


@router.post("/{name}/rename", response_model=FlowOut, responses={404: {}, 409: {}, 422: {}})
async def rename_flow(
    name: str, body: RenameIn, store: StoreDep, live: LiveDep, _user: UserDep
) -> FlowOut:
    """Give the flow a new name; its revisions and published state stay with it."""
    async with store.transaction() as s:
        row = await _row(s, name)
        if body.name != name and await flows_repo.get_flow_row(s, body.name) is not None:
            raise ApiError(409, "flow-exists", f"flow {body.name!r} already exists")
        row.name = body.name
        row.draft = {**row.draft, "name": body.name}
        published = row.published_revision_id is not None
        await s.flush()
        out = await _flow_out(s, row)
    if published:
        await reload_live(live)
    return out


@router.post("/{name}/validate", response_model=ValidationOut, responses={404: {}})
async def validate(
    name: str,
    store: StoreDep,
    _user: UserDep,
    doc: Annotated[FlowDocIn | None, Body()] = None,
) -> ValidationOut:
    """Validate the stored draft, or the document in the body (without saving it)."""
    async with store.sessions() as s:
        row = await _row(s, name)
        view = await directory_view(s, store, name)
        document = doc.document() if doc is not None else row.draft
    return check(document, view)


@router.post("/{name}/publish", response_model=PublishOut, responses={404: {}, 422: {}})
async def publish(
    name: str,
    store: StoreDep,
    live: LiveDep,
    user: UserDep,
    body: Annotated[PublishIn | None, Body()] = None,
) -> PublishOut:
    async with store.transaction() as s:
        row = await _row(s, name)
        result = check(row.draft, await directory_view(s, store, name))
        if not result.ok:
            raise ApiError(
                422,
                "flow-invalid",
                f"flow {name!r} has {len(result.errors)} problem(s); nothing was published",
                details=[e.model_dump() for e in result.errors],
            )
        number = await flows_repo.publish_flow(
            s, name, author=user.username, message=body.message if body else ""
        )
    await reload_live(live)
    return PublishOut(name=name, revision=number)


@router.get("/{name}/revisions", response_model=list[RevisionOut], responses={404: {}})
async def revisions(name: str, store: StoreDep, _user: UserDep) -> list[RevisionOut]:
    async with store.sessions() as s:
        row = await _row(s, name)
        revs = await flows_repo.list_revisions(s, name)
    return [
        RevisionOut(
            number=r.number,
            author=r.author,
            message=r.message,
            created_at=r.created_at,
            published=r.id == row.published_revision_id,
        )
        for r in revs
    ]


@router.get("/{name}/revisions/{number}", response_model=RevisionDetail, responses={404: {}})
async def revision(name: str, number: IntId, store: StoreDep, _user: UserDep) -> RevisionDetail:
    async with store.sessions() as s:
        row = await _row(s, name)
        rev = await flows_repo.get_revision(s, row.id, number)
        if rev is None:
            raise not_found("revision", f"{name} #{number}")
        return RevisionDetail(
            number=rev.number,
            author=rev.author,
            message=rev.message,
            created_at=rev.created_at,
            published=rev.id == row.published_revision_id,
            document=rev.document,
        )


@router.post("/{name}/rollback", response_model=PublishOut, responses={404: {}, 422: {}})
async def rollback(
    name: str, body: RollbackIn, store: StoreDep, live: LiveDep, user: UserDep
) -> PublishOut:
    """Publish an older revision's document again (as a new revision); the draft becomes it."""
    async with store.transaction() as s:
        row = await _row(s, name)
        rev = await flows_repo.get_revision(s, row.id, body.revision)
        if rev is None:
            raise not_found("revision", f"{name} #{body.revision}")
        result = check(rev.document, await directory_view(s, store, name))
        if not result.ok:
            raise ApiError(
                422,
                "flow-invalid",
                f"revision {body.revision} no longer validates against the directory",
                details=[e.model_dump() for e in result.errors],
            )
        await flows_repo.save_draft(s, name, rev.document)
        number = await flows_repo.publish_flow(
            s, name, author=user.username, message=f"rollback to revision {body.revision}"
        )
    await reload_live(live)
    return PublishOut(name=name, revision=number)


@router.post("/{name}/simulate", response_model=SimulateOut, responses={404: {}, 422: {}})
async def simulate_call(
    name: str, body: SimulateIn, store: StoreDep, config: SettingsDep, _user: UserDep
) -> SimulateOut:
    """Dry-run the draft (or `document`) for one scripted call; returns the trace."""
    async with store.sessions() as s:
        row = await _row(s, name)
        document = body.document.document() if body.document is not None else row.draft
        schedules: dict[str, Schedule] = {}
        for sc in await schedules_repo.list_schedules(s):
            try:
                spec = ScheduleSpec.model_validate(
                    {"timezone": sc.timezone, "hours": sc.hours, "holidays": sc.holidays}
                )
                schedules[sc.name] = Schedule.from_spec(spec)
            except ValueError:
                continue
        extensions = [e.number for e in await extensions_repo.list_extensions(s)]
        durations = {a.name: a.duration_s for a in await audio_repo.list_audio_rows(s)}
    dids = flows_repo.flow_dids(document)
    did = body.did or (dids[0] if dids else "")
    zone = (await load_settings(store, config)).timezone
    at = body.at or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:  # the wall time the admin typed, in the company's zone
        try:
            at = at.replace(tzinfo=ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            at = at.replace(tzinfo=dt.UTC)
    try:
        run = await simulate(
            document,
            caller=body.caller,
            did=did,
            at=at,
            keys=body.keys,
            http_replies=body.http_replies,
            answers=body.answers,
            caller_name=body.caller_name,
            schedules=schedules,
            extensions=extensions,
            audio_duration=lambda n: durations.get(n) or None,
        )
    except FlowError as exc:
        raise ApiError(
            422,
            "flow-invalid",
            f"flow {name!r} cannot run: {exc}",
            details=[p.to_dict() for p in exc.problems],
        ) from exc
    except ValueError as exc:
        raise ApiError(422, "invalid-simulation", str(exc)) from exc
    data = run.to_dict()
    return SimulateOut(
        outcome=data["outcome"],
        reason=data["reason"],
        answered_by=data["answered_by"],
        timezone=zone,
        path=run.path,
        trace=[TraceEntryOut(**t) for t in data["trace"]],
        variables=_jsonable(data["variables"]),
    )


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(value, default=str)))


@router.get("/{name}/export", responses={404: {}, 200: {"content": {"application/yaml": {}}}})
async def export_flow(
    name: str,
    store: StoreDep,
    _user: UserDep,
    format: Annotated[Literal["json", "yaml"], Query()] = "json",
) -> Response:
    """The draft document, as JSON or YAML (a file `POST /flows/import` reads back)."""
    async with store.sessions() as s:
        row = await _row(s, name)
        doc = row.draft
    if format == "yaml":
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
        return Response(text, media_type="application/yaml")
    return Response(json.dumps(doc, indent=2, ensure_ascii=False), media_type="application/json")
