"""/api/v1/config: the whole configuration document (SPEC §2.1), the same code path as
`flowpbx export` / `flowpbx import`. Over HTTP the `audio` section is refused: a request
must never name a path on the server (upload audio with POST /api/v1/audio instead).

Both directions are for admins only: the document is a backup and carries the secrets a
restore needs (trunk passwords, voicemail PINs), which a viewer must not read."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from flowpbx.api.deps import AdminDep, LiveDep, StoreDep
from flowpbx.api.errors import ApiError
from flowpbx.api.live_actions import reload_live
from flowpbx.store.config_io import dump_config, export_config, import_document
from flowpbx.store.errors import ConfigError

router = APIRouter(prefix="/api/v1/config", tags=["config"])

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


class ImportOut(BaseModel):
    changed: dict[str, int]
    published: dict[str, int]
    new_revisions: list[str]


@router.get("", responses={200: {"content": {"application/yaml": {}}}, 403: {}})
async def export(
    store: StoreDep,
    _admin: AdminDep,
    format: Annotated[Literal["json", "yaml"], Query()] = "json",
) -> Response:
    doc = await export_config(store)
    doc.pop("audio", None)  # server paths are not for HTTP clients
    media = "application/json" if format == "json" else "application/yaml"
    return Response(dump_config(doc, format), media_type=media)


@router.post("", response_model=ImportOut, responses={413: {}, 422: {}})
async def import_(request: Request, store: StoreDep, live: LiveDep, _admin: AdminDep) -> ImportOut:
    """Validate the whole document, then upsert it in one transaction (JSON or YAML body)."""
    raw = await request.body()
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ApiError(413, "too-large", "a configuration document may be at most 5 MB")
    try:
        data: Any = (
            yaml.safe_load(raw)
            if "yaml" in request.headers.get("content-type", "")
            else json.loads(raw)
        )
    except (yaml.YAMLError, ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid-document", f"not a valid document: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ApiError(422, "invalid-document", "the document must be a mapping of sections")
    if data.get("audio"):
        raise ApiError(
            422,
            "invalid-request",
            "audio: files cannot be imported over HTTP; upload them with POST /api/v1/audio",
            [{"path": "body.audio", "message": "not accepted over HTTP"}],
        )
    data.pop("audio", None)
    try:
        result = await import_document(store, data, base=store.data_dir)
    except ConfigError as exc:
        raise ApiError(
            422,
            "config-invalid",
            str(exc),
            [
                {"path": p.split(":", 1)[0], "message": p.split(":", 1)[-1].strip()}
                for p in exc.problems
            ],
        ) from exc
    await reload_live(live)
    return ImportOut(
        changed=result.changed, published=result.published, new_revisions=result.new_revisions
    )
