from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flowpbx.api import create_api
from flowpbx.api.events import EventBus
from flowpbx.settings import Settings
from flowpbx.store.db import Store
from tests.api.server import serve_in_loop
from tests.store.dbfixtures import (
    cheap_password_hashing,
    db_url,
    migrated_db_url,
    migrated_templates,
)

__all__ = ["cheap_password_hashing", "db_url", "migrated_db_url", "migrated_templates"]


@pytest.fixture
async def store(migrated_db_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(migrated_db_url, tmp_path / "data")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def app(store: Store) -> FastAPI:
    """The API without a PBX, with the default process settings (whatever FLOWPBX_* the test
    run has); `with_settings` changes them."""
    return create_api(store, None, settings=Settings(), event_bus=EventBus())


def with_settings(app: FastAPI, **changes: Any) -> None:
    """Change the process settings the API reads (what FLOWPBX_* sets at start)."""
    app.state.settings = dataclasses.replace(app.state.settings, **changes)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the API served by a real uvicorn on a free loopback port."""
    async with serve_in_loop(app) as url, httpx.AsyncClient(base_url=url) as c:
        yield c


@pytest.fixture
async def viewer_token(store: Store, client: httpx.AsyncClient) -> str:
    await store.create_user("viewer", "viewer-pass", "viewer")
    r = await client.post(
        "/api/v1/auth/login", json={"username": "viewer", "password": "viewer-pass"}
    )
    assert r.status_code == 200, r.text
    client.cookies.clear()
    tok: str = r.json()["token"]
    return tok


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def token(store: Store, client: httpx.AsyncClient) -> str:
    await store.create_user("admin", "admin-pass", "admin")
    r = await client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": "admin-pass"}
    )
    assert r.status_code == 200, r.text
    client.cookies.clear()  # tests choose bearer or cookie explicitly
    tok: str = r.json()["token"]
    return tok
