"""/api/v1/audio: the audio library — built-in samples and uploads (SPEC §2).

An upload (multipart: `name`, `file`) is streamed to a temporary file (at most 20 MB,
else 413), decoded *by content* and converted to the media format in a worker thread
(at most 10 minutes, else 413; not audio → 415; empty → 422), and only then recorded.
Before anything is decoded the file's header is read: one that would decode to more than
`MAX_DECODED_SAMPLES` samples (frames times channels: 10 minutes of 48 kHz stereo) is refused
413 `too-many-samples` — a 2 MB FLAC of silence can announce gigabytes of samples.
Any failure leaves nothing behind: no row, no file. A file used by a published flow
cannot be deleted (409 `audio-in-use` naming the flows).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel

from flowpbx.api.deps import LiveDep, StoreDep, UserDep
from flowpbx.api.errors import ApiError, not_found
from flowpbx.api.files import wav_response
from flowpbx.api.live_actions import reload_live
from flowpbx.services.audio import (
    AudioFileError,
    AudioTooLongError,
    AudioTooManySamplesError,
    builtin_duration,
    convert_upload,
)
from flowpbx.store import models as m
from flowpbx.store.db import Store, builtin_audio
from flowpbx.store.repos import audio as audio_repo
from flowpbx.store.repos import flows as flows_repo

router = APIRouter(prefix="/api/v1/audio", tags=["audio"])

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_DURATION_S = 600.0
MAX_DECODED_SAMPLES = 600 * 48_000 * 2  # ≈ 230 MB of float32 while converting
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
AUDIO_PARAMS = ("audio", "prompt", "invalid_prompt", "greeting", "hold_audio")
CHUNK = 256 * 1024


class AudioOut(BaseModel):
    name: str
    builtin: bool
    duration_s: float
    created_at: dt.datetime | None
    used_by: list[str]


def audio_users(published: list[Any]) -> dict[str, list[str]]:
    """audio name -> published flows whose elements play it."""
    users: dict[str, list[str]] = {}
    for pub in published:
        nodes = pub.document.get("nodes") or {}
        for node in nodes.values() if isinstance(nodes, dict) else ():
            params = node.get("params") if isinstance(node, dict) else None
            if not isinstance(params, dict):
                continue
            for key in AUDIO_PARAMS:
                name = params.get(key)
                if isinstance(name, str):
                    flows = users.setdefault(name, [])
                    if pub.flow_name not in flows:
                        flows.append(pub.flow_name)
    return users


async def _all(store: Store) -> list[AudioOut]:
    async with store.sessions() as s:
        rows = {r.name: r for r in await audio_repo.list_audio_rows(s)}
        users = audio_users(await flows_repo.list_published(s))
    out: dict[str, AudioOut] = {}
    for name in builtin_audio():
        out[name] = AudioOut(
            name=name,
            builtin=True,
            duration_s=builtin_duration(name),
            created_at=None,
            used_by=users.get(name, []),
        )
    for name, row in rows.items():
        if row.builtin and name in out:
            continue
        out[name] = AudioOut(
            name=name,
            builtin=row.builtin,
            duration_s=row.duration_s,
            created_at=row.created_at,
            used_by=users.get(name, []),
        )
    return [out[k] for k in sorted(out)]


async def _one(store: Store, name: str) -> AudioOut:
    for a in await _all(store):
        if a.name == name:
            return a
    raise not_found("audio", name)


@router.get("", response_model=list[AudioOut])
async def list_audio(store: StoreDep, _user: UserDep) -> list[AudioOut]:
    return await _all(store)


@router.post(
    "",
    response_model=AudioOut,
    status_code=201,
    responses={409: {}, 413: {}, 415: {}, 422: {}},
)
async def upload_audio(
    name: Annotated[str, Form(pattern=NAME_PATTERN, description="library name")],
    file: Annotated[UploadFile, File(description="WAV, MP3, OGG or FLAC")],
    store: StoreDep,
    live: LiveDep,
    _user: UserDep,
) -> AudioOut:
    if name in builtin_audio():
        raise ApiError(409, "audio-builtin", f"{name!r} is a built-in sample")
    async with store.sessions() as s:
        if any(r.name == name for r in await audio_repo.list_audio_rows(s)):
            raise ApiError(409, "audio-exists", f"audio {name!r} already exists")
    audio_dir = store.data_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    fd, src_name = tempfile.mkstemp(prefix=".upload-", dir=audio_dir)
    src = Path(src_name)
    fd2, dst_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".wav", dir=audio_dir)
    os.close(fd2)
    dst = Path(dst_name)
    final = audio_dir / f"{name}.wav"
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := await file.read(CHUNK):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise ApiError(
                        413,
                        "too-large",
                        "an audio file may be at most 20 MB",
                        {"max_bytes": MAX_UPLOAD_BYTES},
                    )
                out.write(chunk)
        if size == 0:
            raise ApiError(
                422,
                "empty-file",
                "the uploaded file is empty",
                [{"path": "body.file", "message": "empty file"}],
            )
        try:
            duration = await convert_upload(
                src, dst, max_duration_s=MAX_DURATION_S, max_samples=MAX_DECODED_SAMPLES
            )
        except AudioTooManySamplesError as exc:
            raise ApiError(
                413,
                "too-many-samples",
                f"{exc} (10 minutes of 48 kHz stereo)",
                {"samples": exc.samples, "max_samples": exc.max_samples},
            ) from exc
        except AudioTooLongError as exc:
            raise ApiError(413, "too-long", f"{exc} (at most 10 minutes)") from exc
        except AudioFileError as exc:
            raise ApiError(
                415,
                "unsupported-media",
                "the file is not audio flowpbx can read (WAV, MP3, OGG, FLAC)",
                {"reason": str(exc)},
            ) from exc
        if duration <= 0:
            raise ApiError(
                422,
                "empty-file",
                "the uploaded file holds no audio",
                [{"path": "body.file", "message": "no samples"}],
            )
        async with store.transaction() as s:
            await audio_repo.upsert_audio(
                s,
                name=name,
                file=final.relative_to(store.data_dir).as_posix(),
                duration_s=round(duration, 3),
            )
            await s.flush()
            os.replace(dst, final)
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)
    await reload_live(live)
    return await _one(store, name)


@router.get("/{name}", response_model=AudioOut, responses={404: {}})
async def get_audio(name: str, store: StoreDep, _user: UserDep) -> AudioOut:
    return await _one(store, name)


@router.get(
    "/{name}/file",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}}, 206: {}, 404: {}},
)
async def audio_file(name: str, store: StoreDep, _user: UserDep) -> FileResponse:
    builtins = builtin_audio()
    async with store.sessions() as s:
        row = next((r for r in await audio_repo.list_audio_rows(s) if r.name == name), None)
    if row is not None and not (row.builtin and name in builtins):
        path = audio_repo.audio_path(row, store.data_dir)
    elif name in builtins:
        path = builtins[name]
    else:
        raise not_found("audio", name)
    roots = [store.data_dir, *{p.parent for p in builtins.values()}]
    return wav_response(path, allowed_roots=roots, filename=f"{name}.wav")


@router.delete("/{name}", status_code=204, responses={404: {}, 409: {}})
async def delete_audio(name: str, store: StoreDep, live: LiveDep, _user: UserDep) -> Response:
    current = await _one(store, name)
    if current.builtin:
        raise ApiError(409, "audio-builtin", f"{name!r} is a built-in sample")
    if current.used_by:
        raise ApiError(
            409,
            "audio-in-use",
            f"audio {name!r} is used by the published flow(s) {', '.join(current.used_by)}",
            details={"flows": current.used_by},
        )
    async with store.transaction() as s:
        row: m.Audio | None = next(
            (r for r in await audio_repo.list_audio_rows(s) if r.name == name), None
        )
        path = audio_repo.audio_path(row, store.data_dir) if row is not None else None
        await audio_repo.delete_audio_row(s, name)
    if path is not None and path.is_relative_to(store.data_dir):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    await reload_live(live)
    return Response(status_code=204)
