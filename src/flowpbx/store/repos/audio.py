"""Audio prompts (table ``audio``): uploaded WAVs under the data directory and the built-ins
that ship with the package."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.media.audiofile import builtin_sample_path
from flowpbx.store import models as m
from flowpbx.store.repos.rows import delete_by, update_row


async def list_audio_rows(s: AsyncSession) -> Sequence[m.Audio]:
    return (await s.scalars(select(m.Audio).order_by(m.Audio.name))).all()


async def upsert_audio(
    s: AsyncSession, *, name: str, file: str, duration_s: float, builtin: bool = False
) -> bool:
    row = await s.scalar(select(m.Audio).where(m.Audio.name == name))
    values = {"file": file, "duration_s": duration_s, "builtin": builtin}
    if row is None:
        s.add(m.Audio(name=name, **values))
        return True
    return update_row(row, values)


def audio_path(row: m.Audio, data_dir: Path) -> Path:
    """Absolute path of an audio row's WAV; built-ins live in the package."""
    if row.builtin or not row.file:
        return Path(builtin_sample_path(row.name)).resolve()
    return (data_dir / row.file).resolve()


async def delete_audio_row(s: AsyncSession, name: str) -> None:
    await delete_by(s, m.Audio, m.Audio.name, name, "audio")
