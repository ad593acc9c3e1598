from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowpbx.store.db import Store
from tests.store.dbfixtures import (
    cheap_password_hashing,
    db_url,
    migrated_db_url,
    migrated_templates,
)

__all__ = ["cheap_password_hashing", "db_url", "migrated_db_url", "migrated_templates"]


@pytest.fixture
async def store(migrated_db_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(migrated_db_url, tmp_path / "data", sip_realm="flowpbx")
    try:
        yield s
    finally:
        await s.close()
