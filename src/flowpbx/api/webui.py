"""Serving the built web UI (web/dist) at ``/`` with an index.html fallback (SPEC §6).

The UI is a single-page app: a path that is not a file of the build (``/``, ``/flows``)
answers index.html, so a reload anywhere works. Paths under ``/api/`` never fall back: an
unknown API path stays a JSON 404. The build directory is ``Settings.web_dir``
(FLOWPBX_WEB_DIR) or the repository's ``web/dist``; without a build, ``/`` says how to make one.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException

DEFAULT_WEB_DIR = Path(__file__).resolve().parents[3] / "web" / "dist"

_NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>flowpbx</title></head><body><h1>flowpbx</h1>
<p>The web UI is not built. Run <code>make web</code>; the API is at
<a href="/docs">/docs</a>.</p></body></html>"""


def mount_web_ui(app: FastAPI, root: Path | None = None) -> None:
    """Add the catch-all GET route that serves the UI; call it after every API router."""
    dist = (root or DEFAULT_WEB_DIR).resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def web_ui(path: str) -> Response:
        if path == "api" or path.startswith(("api/", "metrics")):
            raise HTTPException(404, f"no such path: /{path}")
        index = dist / "index.html"
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT)
        if path:
            candidate = (dist / path).resolve()
            if candidate.is_relative_to(dist) and candidate.is_file():
                cache = "public, max-age=31536000, immutable"
                if not path.startswith("assets/"):
                    cache = "no-cache"
                return FileResponse(candidate, headers={"Cache-Control": cache})
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
