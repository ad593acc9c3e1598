"""A trunk's own limits (issue 16: max_calls, invite_rate) in the configuration file: stored,
loaded into the runtime configuration, exported, and bad values refused with the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowpbx.store.config_io import export_config, import_config
from flowpbx.store.db import Store
from flowpbx.store.errors import ConfigError


def _doc(**trunk: object) -> dict[str, object]:
    return {"trunks": [{"name": "provider", "host": "127.0.0.1", **trunk}]}


async def test_trunk_limits_round_trip(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_doc(max_calls=5, invite_rate="2.5:10")))
    await import_config(store, path)
    (trunk,) = (await store.load_runtime_config()).trunks
    assert (trunk.max_calls, trunk.invite_rate) == (5, "2.5:10")
    exported = await export_config(store)
    assert exported["trunks"][0]["max_calls"] == 5
    assert exported["trunks"][0]["invite_rate"] == "2.5:10"
    path.write_text(yaml.safe_dump(_doc()))
    await import_config(store, path)
    (trunk,) = (await store.load_runtime_config()).trunks
    assert (trunk.max_calls, trunk.invite_rate) == (None, None)  # the defaults
    assert "max_calls" not in (await export_config(store))["trunks"][0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_calls", -1), ("invite_rate", "fast"), ("invite_rate", "10:0"), ("invite_rate", "-1")],
)
async def test_bad_trunk_limits_are_refused(
    store: Store, tmp_path: Path, field: str, value: object
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_doc(**{field: value})))
    with pytest.raises(ConfigError, match=field):
        await import_config(store, path)
