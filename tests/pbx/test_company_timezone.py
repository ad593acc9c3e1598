"""The company's time zone on live calls (issue 18): the saved `timezone` setting, with
FLOWPBX_TIMEZONE only until one is saved, is what flows' {date}/{time} are in."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flowpbx.flow.context import FlowServices
from flowpbx.pbx.runtime import Runtime
from flowpbx.pbx.service import PbxService
from flowpbx.settings import Settings
from flowpbx.store.db import Store
from tests.store.dbfixtures import (  # noqa: F401  (fixtures)
    cheap_password_hashing,
    db_url,
    migrated_db_url,
    migrated_templates,
)


@pytest.fixture
async def store(migrated_db_url: str, tmp_path: Path) -> AsyncIterator[Store]:  # noqa: F811
    s = Store(migrated_db_url, tmp_path / "data")
    try:
        yield s
    finally:
        await s.close()


def _local(services: FlowServices, instant: dt.datetime) -> str:
    return instant.astimezone(ZoneInfo(services.timezone)).strftime("%Y-%m-%d %H:%M")


async def test_saved_time_zone_wins_over_the_environment(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWPBX_TIMEZONE", "Europe/Riga")
    monkeypatch.setenv("FLOWPBX_SIP_LISTEN", "127.0.0.1:0")
    settings = Settings.from_env()
    service = PbxService(settings, store)
    rt = Runtime(settings, store, await store.load_runtime_config())
    service._rt = rt
    try:
        assert rt.flow_services.timezone == "Europe/Riga"  # nothing saved yet
        await store.set_setting("timezone", "Pacific/Kiritimati")
        await service._apply_settings()
        assert rt.timezone == "Pacific/Kiritimati"
        assert rt.flow_services.timezone == "Pacific/Kiritimati"
        noon = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
        assert _local(rt.flow_services, noon) == "2026-03-03 02:00"
        await store.set_setting("timezone", "Mars/Olympus")  # unknown: the zone stays
        await service._apply_settings()
        assert rt.flow_services.timezone == "Pacific/Kiritimati"
    finally:
        await rt.services.close()
