from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from flowpbx.api import create_api
from flowpbx.store.db import Store, upgrade
from tests.store.dbfixtures import db_url

__all__ = ["db_url"]


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    await upgrade(db_url)
    s = Store(db_url, tmp_path / "data")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_api(store, None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


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
