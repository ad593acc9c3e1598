"""Serving stored audio files: WAV with HTTP Range support (the browser seeks with it).

Paths come from the database only, never from the request, and must resolve inside the
data directory (or the package's built-in samples).
"""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import FileResponse

from flowpbx.api.errors import ApiError


def wav_response(path: Path, *, allowed_roots: list[Path], filename: str) -> FileResponse:
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in allowed_roots):
        raise ApiError(404, "file-not-found", "the audio file is not available")
    if not resolved.is_file():
        raise ApiError(404, "file-not-found", "the audio file is missing on disk")
    return FileResponse(
        resolved,
        media_type="audio/wav",
        filename=filename,
        content_disposition_type="inline",
    )
