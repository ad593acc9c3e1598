from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowpbx.store.db import Store, upgrade
from tests.store.dbfixtures import db_url

__all__ = ["db_url"]


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    await upgrade(db_url)
    s = Store(db_url, tmp_path / "data", sip_realm="flowpbx")
    try:
        yield s
    finally:
        await s.close()
