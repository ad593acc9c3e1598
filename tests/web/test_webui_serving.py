"""Serving the built UI (flowpbx.api.webui): files, index.html fallback, API paths untouched."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from flowpbx.api.errors import install_error_handlers
from flowpbx.api.webui import mount_web_ui


def _app(dist: Path) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    mount_web_ui(app, dist)
    return app


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>flowpbx</title><div id=root>")
    (dist / "assets" / "index-abc.js").write_text("console.log('ui')")
    (tmp_path / "secret.txt").write_text("not for the web")
    return dist


async def test_files_index_fallback_and_api_paths(tmp_path: Path) -> None:
    app = _app(_dist(tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ui") as client:
        index = await client.get("/")
        assert index.status_code == 200
        assert "<title>flowpbx</title>" in index.text
        assert index.headers["cache-control"] == "no-cache"

        asset = await client.get("/assets/index-abc.js")
        assert asset.text == "console.log('ui')"
        assert "immutable" in asset.headers["cache-control"]

        deep = await client.get("/flows/Main%20line")
        assert deep.status_code == 200 and "<title>flowpbx</title>" in deep.text

        assert (await client.get("/api/v1/health")).json() == {"status": "ok"}
        missing = await client.get("/api/v1/nothing-here")
        assert missing.status_code == 404
        assert missing.json()["error"]["id"] == "not-found"

        escape = await client.get("/assets/..%2F..%2Fsecret.txt")
        assert "not for the web" not in escape.text


async def test_without_a_build_the_root_says_how_to_make_one(tmp_path: Path) -> None:
    app = _app(tmp_path / "no-dist")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ui") as client:
        r = await client.get("/")
    assert r.status_code == 200
    assert "make web" in r.text
